"""Reshipping: many unrelated accounts paying with stolen cards, all shipping to one drop."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from training.sources.simulator import actors, baskets, geo, orders, timeline, world
from training.sources.simulator.population import Population
from training.sources.simulator.world import World

Array = npt.NDArray[Any]

# Mules pass for real shoppers: named accounts, opened an hour to ten days ahead.
MULES = actors.AccountHabits(named_share=1.0, lead_minutes=(60.0, 10 * 24 * 60.0), phone_share=0.6)


def reshipping(
    rng: np.random.Generator, entities: World, pop: Population, period: timeline.Period, n: int
) -> orders.Orders:
    """Return n reshipping orders, from rings of fifteen to seventy orders each."""
    sizes = actors.campaign_sizes(rng, n, 15, 70)
    # Rings start in successive slices of the period, so every stretch of it has drops.
    slices = len(sizes)
    return orders.concat(
        [
            _ring(rng, entities, pop, period, size, i / slices, (i + 1) / slices)
            for i, size in enumerate(rng.permutation(sizes))
        ]
    )


def _ring(
    rng: np.random.Generator,
    entities: World,
    pop: Population,
    period: timeline.Period,
    n: int,
    slice_start: float,
    slice_end: float,
) -> orders.Orders:
    code = actors.storefront(rng)
    drop = actors.addresses_near(rng, entities, code, 1, spread_km=2.0)[0]
    days = min(rng.uniform(3.0, 20.0), period.days)
    latest = period.end_ms - int(days * timeline.DAY)
    span = latest - period.start_ms
    start = int(
        timeline.uniform(
            rng,
            period.start_ms + int(span * slice_start),
            period.start_ms + int(span * slice_end),
            1,
        )[0]
    )
    created = np.sort(start + (rng.random(n) * days * timeline.DAY).astype(np.int64))

    count = max(1, round(n * rng.uniform(0.7, 1.0)))
    account, named = actors.ring_accounts(rng, entities, created, code, count, MULES)
    # Some mules log into accounts bought from earlier breaches instead of opening new ones.
    established = pop.rows[pop.established]
    bought = rng.random(count) < 0.2
    customers = np.where(bought, established[rng.integers(len(established), size=count)], named)
    devices = world.add_devices(rng, entities, world.device_kinds(rng, count), emulator=0.03)
    device = devices[account]
    ring_device = world.add_devices(rng, entities, world.device_kinds(rng, 1))[0]
    device[rng.random(n) < 0.1] = ring_device

    issuer = np.full(n, code, dtype=object)
    foreign = rng.random(n) < 0.6
    issuer[foreign] = np.array(geo.CODES, dtype=object)[
        rng.integers(len(geo.CODES), size=foreign.sum())
    ]
    payment = actors.stolen_cards(rng, entities, issuer)
    bill = actors.addresses_in(rng, entities, issuer)
    # Mules look like the cardholder: a proxy in the card's country, else one near the drop.
    network = rng.random(n)
    exits = np.where(network < 0.55, issuer, code)
    ip = actors.residential_proxies(rng, entities, exits)
    hosted = np.flatnonzero(network >= 0.8)
    cluster = actors.hosting_cluster(rng, entities, 3, code)
    ip[hosted] = cluster[rng.integers(len(cluster), size=len(hosted))]
    items = baskets.basket(rng, 1 + (rng.random(n) < 0.4), price_eur=260.0, sigma=0.6)
    return orders.make(
        created_ms=created,
        customer=customers[account],
        device=device,
        ip=ip,
        payment=payment,
        ship=np.full(n, drop, dtype=np.int64),
        bill=bill,
        declined=rng.random(n) < 0.08,
        scenario=orders.scenario_codes(n, orders.RESHIPPING),
        **items,
    )
