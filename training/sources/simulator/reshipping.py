"""Reshipping: many unrelated accounts paying with stolen cards, all shipping to one drop."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from training.sources.simulator import actors, baskets, difficulty, geo, orders, timeline, world
from training.sources.simulator.population import Population
from training.sources.simulator.world import World

Array = npt.NDArray[Any]

# Mules pass for real shoppers: named accounts, opened an hour to ten days ahead.
MULES = actors.AccountHabits(named_share=1.0, lead_minutes=(60.0, 10 * 24 * 60.0), phone_share=0.6)
# At hard, what mules buy: resellable, dearer than most baskets, in an ordinary mix.
DISGUISED_PRICE_EUR = 2.0 * baskets.EVERYDAY_PRICE_EUR
# Share of a ring's orders declined.
DECLINED = 0.08


def reshipping(
    rng: np.random.Generator,
    entities: World,
    pop: Population,
    period: timeline.Period,
    n: int,
    *,
    hard: bool = False,
) -> orders.Orders:
    """Return n reshipping orders, from rings of fifteen to seventy orders each."""
    sizes = actors.campaign_sizes(rng, n, 15, 70)
    # Rings start in successive slices of the period, so every stretch of it has drops.
    slices = len(sizes)
    ring = _disguised if hard else _blunt
    return orders.concat(
        [
            orders.campaign(
                rng,
                ring(rng, entities, pop, period, size, (i / slices, (i + 1) / slices)),
                orders.RESHIPPING,
                DECLINED,
            )
            for i, size in enumerate(rng.permutation(sizes))
        ]
    )


def _times(
    rng: np.random.Generator,
    period: timeline.Period,
    n: int,
    days: tuple[float, float],
    within: tuple[float, float],
) -> Array:
    """Return n sorted order times over `days` days, starting within a slice of the period."""
    length = min(rng.uniform(*days), period.days)
    latest = period.end_ms - int(length * timeline.DAY)
    span = latest - period.start_ms
    start = int(
        timeline.uniform(
            rng,
            period.start_ms + int(span * within[0]),
            period.start_ms + int(span * within[1]),
            1,
        )[0]
    )
    return np.sort(start + (rng.random(n) * length * timeline.DAY).astype(np.int64))


def _blunt(
    rng: np.random.Generator,
    entities: World,
    pop: Population,
    period: timeline.Period,
    n: int,
    within: tuple[float, float],
) -> dict[str, Array]:
    """Ship every mule's order to one door within days, on cards from anywhere."""
    code = actors.storefront(rng)
    drop = actors.addresses_near(rng, entities, code, 1, spread_km=2.0)[0]
    created = _times(rng, period, n, (3.0, 20.0), within)

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
    return dict(
        created_ms=created,
        customer=customers[account],
        device=device,
        ip=ip,
        payment=payment,
        ship=np.full(n, drop, dtype=np.int64),
        bill=bill,
        **items,
    )


def _disguised(
    rng: np.random.Generator,
    entities: World,
    pop: Population,
    period: timeline.Period,
    n: int,
    within: tuple[float, float],
) -> dict[str, Array]:
    """Pace the parcels over weeks to flats used in turn, from mostly breached accounts."""
    code = actors.storefront(rng)
    created = _paced_times(rng, period, n, within)
    # Recruited mules take about two parcels each, one mule after another, and a flat is
    # dropped before the chargebacks of its parcels come back.
    count = max(1, round(n * rng.uniform(0.4, 0.6)))
    account, named = actors.ring_accounts(
        rng, entities, created, code, count, difficulty.AGED, in_turn=True
    )
    established = pop.rows[pop.established]
    bought = rng.random(count) < 0.6
    customers = np.where(bought, established[rng.integers(len(established), size=count)], named)
    device = difficulty.shopper_devices(rng, entities, count)[account]
    flats = max(1, round(count / rng.uniform(1.0, 2.0)))
    drops = actors.addresses_near(rng, entities, code, flats, spread_km=3.0)
    flat = drops[np.arange(count) * flats // count]
    # Half the mules spend one card on all their parcels, the others a new card on each.
    one_card = (rng.random(count) < 0.5)[account]
    _, first_use, card = np.unique(
        np.where(one_card, n + account, np.arange(n)), return_index=True, return_inverse=True
    )
    issuer = np.full(len(first_use), code, dtype=object)
    foreign = rng.random(len(issuer)) < 0.2
    issuer[foreign] = geo.other_country(rng, issuer[foreign])
    payment = actors.stolen_cards(rng, entities, issuer)
    # Few issuers outside the US check the billing address: half the cards give the flat's.
    holder = actors.addresses_in(rng, entities, issuer)
    bill = np.where(rng.random(len(issuer)) < 0.5, flat[account[first_use]], holder)
    # A sticky home-line proxy per mule, in the shop's country, like a customer's own line.
    ip = actors.residential_proxies(rng, entities, np.full(count, code, dtype=object))[account]
    items = difficulty.everyday_baskets(rng, n, price_eur=DISGUISED_PRICE_EUR)
    return dict(
        created_ms=created,
        customer=customers[account],
        device=device,
        ip=ip,
        payment=payment[card],
        ship=flat[account],
        bill=bill[card],
        **items,
    )


def _paced_times(
    rng: np.random.Generator, period: timeline.Period, n: int, within: tuple[float, float]
) -> Array:
    """Return n order times over two to six weeks, spaced evenly give or take a half."""
    length = min(rng.uniform(15.0, 45.0), period.days) * timeline.DAY
    gap_hours = length / n / timeline.HOUR
    delay = difficulty.paced(rng, np.zeros(n, dtype=np.int64), 0.5 * gap_hours, 1.5 * gap_hours)
    span = max(period.end_ms - period.start_ms - int(delay[-1]), 1)
    usual = period.start_ms + int(span * rng.uniform(*within))
    window = (np.array([period.start_ms]), np.array([usual]))
    return difficulty.fit(rng, delay, np.zeros(n, dtype=np.int64), window, period.end_ms)
