"""Simulate a labelled stream of e-commerce orders: honest customers and five fraud scenarios."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from training.sources.simulator import assemble, honest, orders, population, timeline
from training.sources.simulator.card_testing import card_testing
from training.sources.simulator.difficulty import Difficulty, check
from training.sources.simulator.friendly import friendly_fraud
from training.sources.simulator.hoarding import stock_hoarding
from training.sources.simulator.reshipping import reshipping
from training.sources.simulator.takeover import account_takeover
from training.sources.simulator.world import World

# Share of all orders per scenario: about 1.6 % fraud in total.
FRAUD_RATES: dict[int, float] = {
    orders.HOARDING: 0.005,
    orders.CARD_TESTING: 0.0035,
    orders.TAKEOVER: 0.002,
    orders.RESHIPPING: 0.0025,
    orders.FRIENDLY: 0.003,
}
CUSTOMERS_PER_ORDER = 0.3
# Honest orders are made in chunks to bound the memory of intermediate arrays.
CHUNK = 250_000


def simulate_orders(
    n_orders: int,
    *,
    seed: int = 7,
    start: str = "2026-01-01",
    days: int = 120,
    progress: Callable[[int], None] | None = None,
    difficulty: Difficulty = "normal",
) -> pd.DataFrame:
    """Return n_orders labelled canonical orders over `days` days from `start`, fixed by seed.

    `progress`, if given, is called with the number of orders made so far. `difficulty` is how
    closely fraud imitates honest customers (see its module); "normal" is the default world.
    """
    if n_orders < 1:
        raise ValueError("n_orders must be at least 1")
    if days < 1:
        raise ValueError("days must be at least 1")
    hard = check(difficulty) == "hard"
    report = progress or (lambda _: None)
    rngs = [np.random.default_rng([seed, stream]) for stream in range(9)]
    period = timeline.Period.of(start, days)
    entities = World()
    pop = population.build(
        rngs[0], entities, period, max(20, round(n_orders * CUSTOMERS_PER_ORDER)), n_orders
    )
    launch_ms = timeline.launches(rngs[1], period)
    target = {code: round(rate * n_orders) for code, rate in FRAUD_RATES.items()}

    fraud: list[orders.Orders] = [
        stock_hoarding(rngs[2], entities, period, launch_ms, target[orders.HOARDING], hard=hard),
        card_testing(rngs[3], entities, period, target[orders.CARD_TESTING], hard=hard),
    ]
    made = sum(orders.size(b) for b in fraud)
    report(made)
    n_honest = n_orders - made - target[orders.TAKEOVER] - target[orders.RESHIPPING]
    chunks = []
    for begin in range(0, n_honest, CHUNK):
        chunks.append(
            honest.honest_orders(
                rngs[4], entities, pop, period, launch_ms, min(CHUNK, n_honest - begin)
            )
        )
        made += orders.size(chunks[-1])
        report(made)
    legit = orders.concat(chunks)
    first = population.first_orders(pop, legit["customer"], legit["created_ms"])
    fraud.append(
        account_takeover(rngs[5], entities, pop, period, first, target[orders.TAKEOVER], hard=hard)
    )
    fraud.append(reshipping(rngs[6], entities, pop, period, target[orders.RESHIPPING], hard=hard))
    # Tiny simulations may lack takeover victims: honest orders make up the difference.
    shortfall = n_orders - orders.size(legit) - sum(orders.size(b) for b in fraud)
    if shortfall > 0:
        extra = honest.honest_orders(rngs[4], entities, pop, period, launch_ms, shortfall)
        legit = orders.concat([legit, extra])
        first = population.first_orders(pop, legit["customer"], legit["created_ms"])
    honest.settle_signups(rngs[7], entities, pop, first)
    friendly_fraud(rngs[7], pop, legit, target[orders.FRIENDLY])
    frame = assemble.to_frame(rngs[8], entities, orders.concat([legit, *fraud]))
    report(n_orders)
    return frame
