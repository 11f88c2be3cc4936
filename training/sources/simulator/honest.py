"""Legitimate orders, including the ones that look suspicious without being fraud."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from training.sources.simulator import baskets, geo, ips, orders, timeline, world
from training.sources.simulator.population import NEVER, Population
from training.sources.simulator.world import World

Array = npt.NDArray[Any]

LAUNCH_SHARE = 0.025
TRAVEL_SHARE = 0.015
GIFT_SHARE = 0.045
DECLINE_RATE = 0.02
# Probability of using a customer's first, second or third device, by how many they own.
DEVICE_SLOTS = np.cumsum([[1.0, 0.0, 0.0], [0.7, 0.3, 0.0], [0.55, 0.3, 0.15]], axis=1)
# 1970-01-01, the epoch, was a Thursday (Monday is 0).
EPOCH_WEEKDAY = 3


def honest_orders(
    rng: np.random.Generator,
    entities: World,
    pop: Population,
    period: timeline.Period,
    launch_ms: Array,
    n: int,
) -> orders.Orders:
    """Return n legitimate orders by the population."""
    who = np.searchsorted(pop.cumulative_activity, rng.random(n) * pop.cumulative_activity[-1])
    who = np.minimum(who, len(pop.rows) - 1)
    country = pop.country[who]
    launch = rng.random(n) < LAUNCH_SHARE
    created = timeline.seasonal(rng, period, pop.utc_offset[who])
    created[launch] = launch_ms[rng.integers(len(launch_ms), size=int(launch.sum()))] + (
        timeline.launch_rush(rng, int(launch.sum()))
    )
    slot = (rng.random(n)[:, None] > DEVICE_SLOTS[pop.device_count[who] - 1]).sum(axis=1)
    device = pop.devices[who, np.minimum(slot, 2)]
    ip = _ips(rng, entities, pop, who, country, created, device)
    second_card = (pop.card_count[who] == 2) & (rng.random(n) < 0.3)
    payment = pop.cards[who, second_card.astype(np.int64)]
    moved = (created[:, None] >= pop.moves_ms[who]).sum(axis=1)
    bill = pop.homes[who, moved]
    ship = _shipping(rng, entities, pop, who, country, bill)
    limited_skus = np.where(launch, 1 + (rng.random(n) < 0.15), rng.random(n) < 0.008).astype(int)
    # Launch buyers mostly take one or two; a few buy for friends and hit the limit.
    each = np.where(launch, rng.choice([1, 2, 3, 4, 5], size=n, p=baskets.LAUNCH_EACH), 1)
    skus = np.where(
        launch & (rng.random(n) < 0.6), 0, 1 + rng.poisson(baskets.EVERYDAY_EXTRA_SKUS, size=n)
    )
    items = baskets.basket(
        rng,
        skus,
        price_eur=baskets.EVERYDAY_PRICE_EUR,
        sigma=baskets.EVERYDAY_SIGMA,
        limited_skus=limited_skus,
        limited_each=each,
    )
    return orders.make(
        created_ms=created,
        customer=pop.rows[who],
        device=device,
        ip=ip,
        payment=payment,
        ship=ship,
        bill=bill,
        declined=rng.random(n) < DECLINE_RATE,
        scenario=orders.scenario_codes(n, orders.HONEST),
        **items,
    )


def _ips(
    rng: np.random.Generator,
    entities: World,
    pop: Population,
    who: Array,
    country: Array,
    created: Array,
    device: Array,
) -> Array:
    n = len(who)
    ip = pop.home_ips[who, (created >= pop.ip_change_ms[who]).astype(np.int64)]
    cellular = entities.devices.column("mobile")[device] & (rng.random(n) < 0.45)
    for code, pool in pop.carrier_ips.items():
        rows = np.flatnonzero(cellular & (country == code))
        ip[rows] = pool[rng.integers(len(pool), size=len(rows))]
    local = created + (pop.utc_offset[who] * timeline.HOUR).astype(np.int64)
    hour = (local // timeline.HOUR) % 24
    weekday = (local // timeline.DAY + EPOCH_WEEKDAY) % 7
    at_work = (pop.office_ip[who] >= 0) & (weekday < 5) & (hour >= 9) & (hour < 18)
    at_work &= rng.random(n) < 0.6
    ip[at_work] = pop.office_ip[who[at_work]]
    vpn = (pop.vpn_ip[who] >= 0) & (rng.random(n) < 0.5)
    ip[vpn] = pop.vpn_ip[who[vpn]]
    # Travellers order home from a hotel line or a roaming phone abroad.
    travel = np.flatnonzero(rng.random(n) < TRAVEL_SHARE)
    abroad = geo.other_country(rng, country[travel])
    roaming = rng.random(len(travel)) < 0.4
    found = np.empty(len(travel), dtype=object)
    for code in np.unique(abroad).tolist():
        options: tuple[tuple[ips.Kind, Array], ...] = (
            ("mobile", roaming),
            ("residential", ~roaming),
        )
        for kind, use in options:
            rows = np.flatnonzero((abroad == code) & use)
            found[rows] = ips.draw(rng, ips.blocks(kind, code, ipv6=False), len(rows))
    ip[travel] = world.add_ips(entities, found)
    return ip


def _shipping(
    rng: np.random.Generator,
    entities: World,
    pop: Population,
    who: Array,
    country: Array,
    home: Array,
) -> Array:
    n = len(who)
    ship = home.copy()
    to_work = (pop.office_address[who] >= 0) & (rng.random(n) < 0.25)
    ship[to_work] = pop.office_address[who[to_work]]
    gift = rng.random(n) < GIFT_SHARE
    to_friend = rng.random(n) < 0.35
    # Some presents go to another customer's home: an address several accounts ship to.
    to_customer = np.flatnonzero(gift & to_friend)
    for code in np.unique(country[to_customer]).tolist():
        rows = to_customer[country[to_customer] == code]
        same = np.flatnonzero(pop.country == code)
        ship[rows] = pop.homes[same[rng.integers(len(same), size=len(rows))], 0]
    to_new = np.flatnonzero(gift & ~to_friend)
    recipient = country[to_new].copy()
    abroad = rng.random(len(to_new)) < 0.15
    recipient[abroad] = geo.other_country(rng, recipient[abroad])
    ship[to_new] = world.add_addresses(rng, entities, geo.pick_cities(rng, recipient))
    return ship


def settle_signups(
    rng: np.random.Generator, entities: World, pop: Population, first: Array
) -> None:
    """Date each new sign-up before its first order: often minutes before, at checkout."""
    created = entities.customers.column("created_ms")
    new = ~pop.established
    minutes = rng.uniform(2.0, 30.0, size=len(first)) * timeline.MINUTE
    days = (0.02 + rng.exponential(4.0, size=len(first))) * timeline.DAY
    delay = np.where(rng.random(len(first)) < 0.4, minutes, days).astype(np.int64)
    ordered = new & (first != NEVER)
    created[pop.rows[ordered]] = first[ordered] - delay[ordered]
