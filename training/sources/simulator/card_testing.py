"""Card testing: one device running a list of stolen cards through small orders."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from training.sources.simulator import actors, baskets, geo, orders, timeline
from training.sources.simulator.world import World

Array = npt.NDArray[Any]

# Throwaway accounts opened up to five days before the testing starts.
TESTERS = actors.AccountHabits(named_share=0.4, lead_minutes=(1.0, 5 * 24 * 60.0), phone_share=0.3)


def card_testing(
    rng: np.random.Generator, entities: World, period: timeline.Period, n: int
) -> orders.Orders:
    """Return n card-testing orders, in sessions of eight to fifty."""
    sizes = actors.campaign_sizes(rng, n, 8, 50)
    return orders.concat([_session(rng, entities, period, size) for size in sizes])


def _session(
    rng: np.random.Generator, entities: World, period: timeline.Period, n: int
) -> orders.Orders:
    code = actors.storefront(rng)
    # Testers work around the clock, so their sessions ignore the shop's daily rhythm.
    start = int(timeline.uniform(rng, period.start_ms, period.end_ms - 2 * timeline.HOUR, 1)[0])
    duration = rng.uniform(3.0, 90.0) * timeline.MINUTE
    created = np.sort(start + (rng.random(n) * duration).astype(np.int64))

    count = int(rng.integers(1, 4))
    account, customers = actors.ring_accounts(rng, entities, created, code, count, TESTERS)
    farm = actors.bot_devices(
        rng,
        entities,
        1 if rng.random() < 0.75 else int(rng.integers(2, 4)),
        emulator=0.3 if rng.random() < 0.3 else 0.0,
    )
    device = farm[rng.integers(len(farm), size=n)]
    network = rng.random()
    if network < 0.45:
        cluster = actors.hosting_cluster(rng, entities, int(rng.integers(1, 5)), code)
        ip = cluster[rng.integers(len(cluster), size=n)]
    elif network < 0.8:
        ip = actors.residential_proxies(rng, entities, np.full(n, code, dtype=object))
    else:
        phones = actors.carrier_ips(rng, entities, code, int(rng.integers(1, 3)))
        ip = phones[rng.integers(len(phones), size=n)]
    # Mostly a new card for every attempt; a declined card is sometimes retried at once.
    fresh = rng.random(n) < 0.8
    fresh[0] = True
    card_of_order = np.cumsum(fresh) - 1
    issuer = np.array(geo.CODES, dtype=object)[rng.integers(len(geo.CODES), size=int(fresh.sum()))]
    cards = actors.stolen_cards(rng, entities, issuer)
    billing = actors.addresses_in(rng, entities, issuer)
    shipping = actors.addresses_in(rng, entities, np.full(count, code, dtype=object))
    items = baskets.basket(rng, np.ones(n, dtype=np.int64), price_eur=6.0, sigma=0.6)
    return orders.make(
        created_ms=created,
        customer=customers[account],
        device=device,
        ip=ip,
        payment=cards[card_of_order],
        ship=shipping[account],
        bill=billing[card_of_order],
        declined=rng.random(n) < rng.uniform(0.55, 0.9),
        scenario=orders.scenario_codes(n, orders.CARD_TESTING),
        **items,
    )
