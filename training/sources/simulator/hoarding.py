"""Stock hoarding: bot bursts of fresh accounts buying limited stock at the purchase limit."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from training.sources.simulator import actors, baskets, difficulty, geo, orders, timeline, world
from training.sources.simulator.world import World

Array = npt.NDArray[Any]

DROP_DAY = actors.AccountHabits(named_share=0.3, lead_minutes=(1.0, 25.0), phone_share=0.4)
SLEEPERS = actors.AccountHabits(
    named_share=0.3, lead_minutes=(2 * 24 * 60.0, 45 * 24 * 60.0), phone_share=0.4
)
# At hard, units of a limited SKU per order, one to five: more than honest buyers take
# (baskets.LAUNCH_EACH), but rarely the limit, so a burst no longer sits at it.
DISGUISED_EACH = (0.3, 0.4, 0.15, 0.1, 0.05)
# Share of a burst's orders declined (drawn per burst).
DECLINED = (0.15, 0.5)


def stock_hoarding(
    rng: np.random.Generator,
    entities: World,
    period: timeline.Period,
    launch_ms: Array,
    n: int,
    *,
    hard: bool = False,
) -> orders.Orders:
    """Return n hoarding orders, in bursts of a dozen to eighty."""
    sizes = actors.campaign_sizes(rng, n, 12, 80)
    burst = _disguised if hard else _blunt
    return orders.concat(
        [
            orders.campaign(
                rng, burst(rng, entities, period, launch_ms, size), orders.HOARDING, DECLINED
            )
            for size in sizes
        ]
    )


def _blunt(
    rng: np.random.Generator, entities: World, period: timeline.Period, launch_ms: Array, n: int
) -> dict[str, Array]:
    """Buy at the limit within minutes: fresh accounts, bot devices, datacenter networks."""
    code = actors.storefront(rng)
    # Most bots are waiting for the drop like everybody else; some hit unannounced restocks.
    if rng.random() < 0.65:
        start = int(launch_ms[rng.integers(len(launch_ms))]) + int(
            rng.uniform(-3, 15) * timeline.MINUTE
        )
    else:
        start = int(timeline.uniform(rng, period.start_ms, period.end_ms - timeline.HOUR, 1)[0])
    duration = rng.uniform(4.0, 60.0) * timeline.MINUTE
    created = np.sort(start + (rng.random(n) * duration).astype(np.int64))
    created = np.clip(created, period.start_ms, period.end_ms - 1)

    count = max(1, round(n * rng.uniform(0.35, 1.0)))
    # Most accounts are opened minutes before the drop; some farms keep aged sleeper accounts.
    habits = SLEEPERS if rng.random() < 0.15 else DROP_DAY
    account, customers = actors.ring_accounts(rng, entities, created, code, count, habits)
    if rng.random() < 0.45:
        farm = actors.bot_devices(rng, entities, int(rng.integers(1, 5)), emulator=0.1)
        device = farm[rng.integers(len(farm), size=n)]
    else:
        # Fingerprint rotation: a new device id for every order, often from emulators.
        device = actors.bot_devices(rng, entities, n, emulator=0.7 if rng.random() < 0.5 else 0.0)
    if rng.random() < 0.7:
        cluster = actors.hosting_cluster(rng, entities, int(rng.integers(2, 13)), code)
        ip = cluster[rng.integers(len(cluster), size=n)]
    else:
        ip = actors.residential_proxies(rng, entities, np.full(n, code, dtype=object))
    if rng.random() < 0.5:
        # Address jigging: one door, written a little differently for every account.
        ship = actors.addresses_near(rng, entities, code, count, spread_km=0.05)[account]
    else:
        drops = actors.addresses_near(rng, entities, code, int(rng.integers(1, 4)), spread_km=3.0)
        ship = drops[rng.integers(len(drops), size=n)]
    # Virtual or prepaid cards from one or two issuers, one card per account.
    pool = np.array(geo.bin_pool(code), dtype=object)
    bins = pool[rng.choice(len(pool), size=2, replace=False)]
    cards = world.add_cards(
        rng, entities, np.full(count, code, dtype=object), bins=bins[rng.integers(2, size=count)]
    )
    items = baskets.basket(
        rng,
        (rng.random(n) < 0.2).astype(np.int64),
        price_eur=30.0,
        limited_skus=rng.choice([1, 2, 3], size=n, p=[0.5, 0.35, 0.15]),
        limited_each=rng.choice([5, 4, 3], size=n, p=[0.75, 0.15, 0.1]),
    )
    return dict(
        created_ms=created,
        customer=customers[account],
        device=device,
        ip=ip,
        payment=cards[account],
        ship=ship,
        bill=ship,
        **items,
    )


def _disguised(
    rng: np.random.Generator, entities: World, period: timeline.Period, launch_ms: Array, n: int
) -> dict[str, Array]:
    """Buy with the crowd: aged accounts, own devices and home proxies, a few units each."""
    code = actors.storefront(rng)
    if rng.random() < 0.65:
        # Launch orders arrive over the same two hours as the honest rush, not in a spike.
        launch = int(launch_ms[rng.integers(len(launch_ms))])
        created = np.sort(launch + timeline.launch_rush(rng, n))
    else:
        start = int(timeline.uniform(rng, period.start_ms, period.end_ms - 4 * timeline.HOUR, 1)[0])
        created = np.sort(start + (rng.random(n) * rng.uniform(1.0, 3.0) * timeline.HOUR))
    created = np.clip(created.astype(np.int64), period.start_ms, period.end_ms - 1)

    count = max(1, round(n * rng.uniform(0.6, 1.0)))
    account, customers = actors.ring_accounts(rng, entities, created, code, count, difficulty.AGED)
    device = difficulty.shopper_devices(rng, entities, count)[account]
    ip = actors.residential_proxies(rng, entities, np.full(n, code, dtype=object))
    # Reshippers' flats across the country, each taking two or three accounts' parcels.
    drops = actors.addresses_in(rng, entities, np.full(max(1, count // 2), code, dtype=object))
    ship = drops[rng.integers(len(drops), size=count)][account]
    cards = world.add_cards(rng, entities, np.full(count, code, dtype=object))
    items = baskets.basket(
        rng,
        np.where(rng.random(n) < 0.6, 0, 1 + rng.poisson(baskets.EVERYDAY_EXTRA_SKUS, size=n)),
        price_eur=baskets.EVERYDAY_PRICE_EUR,
        sigma=baskets.EVERYDAY_SIGMA,
        limited_skus=1 + (rng.random(n) < 0.15),
        limited_each=rng.choice([1, 2, 3, 4, 5], size=n, p=DISGUISED_EACH),
    )
    return dict(
        created_ms=created,
        customer=customers[account],
        device=device,
        ip=ip,
        payment=cards[account],
        ship=ship,
        bill=ship,
        **items,
    )
