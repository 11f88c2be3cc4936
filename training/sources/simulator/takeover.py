"""Account takeover: an established account suddenly ordering expensive goods elsewhere."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from training.sources.simulator import (
    actors,
    baskets,
    difficulty,
    geo,
    ips,
    orders,
    timeline,
    world,
)
from training.sources.simulator.population import Population
from training.sources.simulator.world import World

Array = npt.NDArray[Any]
# At hard, what a disguised attacker buys: dearer than the owner's usual, not outlandish.
DISGUISED_PRICE_EUR = 3.0 * baskets.EVERYDAY_PRICE_EUR
# Share of taken-over orders declined (the card is the owner's own).
DECLINED = 0.06


def account_takeover(
    rng: np.random.Generator,
    entities: World,
    pop: Population,
    period: timeline.Period,
    first_order_ms: Array,
    n: int,
    *,
    hard: bool = False,
) -> orders.Orders:
    """Return up to n takeover orders on accounts with honest orders before the takeover."""
    # Victims are long-standing accounts that already ordered in the period.
    created = entities.customers.column("created_ms")[pop.rows]
    old = pop.established & (created < period.start_ms - 90 * timeline.DAY)
    eligible = np.flatnonzero(old & (first_order_ms < period.end_ms - 2 * timeline.DAY))
    if n == 0 or len(eligible) == 0:
        return orders.concat([])
    per_victim = rng.choice([1, 2, 3], size=len(eligible), p=[0.5, 0.3, 0.2])
    victims_needed = int(np.searchsorted(np.cumsum(per_victim), n)) + 1
    victim = rng.choice(eligible, size=min(victims_needed, len(eligible)), replace=False)
    owner = np.repeat(np.arange(len(victim)), per_victim[: len(victim)])[:n]
    # The attacker logs in a day or more after the customer's first order in the period.
    earliest = first_order_ms[victim] + timeline.DAY
    begin = timeline.uniform(rng, earliest, period.end_ms - 6 * timeline.HOUR, len(victim))
    if hard:
        parts = _disguised(rng, entities, pop, period, victim, owner, (earliest, begin))
    else:
        parts = _blunt(rng, entities, pop, victim, owner, begin)
    who = victim[owner]
    moved = (parts["created_ms"][:, None] >= pop.moves_ms[who]).sum(axis=1)
    parts = {**parts, "customer": pop.rows[who], "bill": pop.homes[who, moved]}
    return orders.campaign(rng, parts, orders.TAKEOVER, DECLINED)


def _blunt(
    rng: np.random.Generator,
    entities: World,
    pop: Population,
    victim: Array,
    owner: Array,
    begin: Array,
) -> dict[str, Array]:
    """Spend the account within hours, from a new device, abroad, on expensive goods."""
    k = len(victim)
    created = begin[owner] + actors.minutes(rng, 0.0, 6 * 60.0, len(owner))
    device = world.add_devices(
        rng, entities, world.device_kinds(rng, k, (0.1, 0.25, 0.5, 0.15, 0.0)), emulator=0.05
    )
    ip = _networks(rng, entities, pop.country[victim])
    destination = pop.country[victim].copy()
    abroad = rng.random(k) < 0.35
    destination[abroad] = geo.other_country(rng, destination[abroad])
    ship = actors.addresses_in(rng, entities, destination)
    stolen = actors.stolen_cards(
        rng, entities, np.array(geo.CODES, dtype=object)[rng.integers(len(geo.CODES), size=k)]
    )
    payment = np.where(rng.random(k) < 0.75, pop.cards[victim, 0], stolen)
    items = baskets.basket(rng, 1 + (rng.random(len(owner)) < 0.3), price_eur=420.0, sigma=0.5)
    return {
        "created_ms": created,
        "device": device[owner],
        "ip": ip[owner],
        "payment": payment[owner],
        "ship": ship[owner],
        **items,
    }


def _disguised(
    rng: np.random.Generator,
    entities: World,
    pop: Population,
    period: timeline.Period,
    victim: Array,
    owner: Array,
    window: tuple[Array, Array],
) -> dict[str, Array]:
    """Spend the account like its owner: over days, from home, on the card on file.

    `window` holds each victim's earliest and usual start of the spree.
    """
    k = len(victim)
    home = pop.country[victim]
    delay = difficulty.paced(rng, owner, 12.0, 96.0)
    created = difficulty.fit(rng, delay, owner, window, period.end_ms)
    # Stolen session cookies come with the owner's device; others spoof a fresh one.
    device = np.where(
        rng.random(k) < 0.4, pop.devices[victim, 0], difficulty.shopper_devices(rng, entities, k)
    )
    # A residential or mobile proxy in the owner's own country, never a datacenter.
    ip = actors.residential_proxies(rng, entities, home)
    mobile = np.flatnonzero(rng.random(k) < 0.3)
    for code in np.unique(home[mobile]).tolist():
        rows = mobile[home[mobile] == code]
        pool = pop.carrier_ips[code]
        ip[rows] = pool[rng.integers(len(pool), size=len(rows))]
    # A new delivery address in the owner's country, or the owner's own door, where the
    # parcel is redirected with the carrier or taken from the doorstep.
    ship = actors.addresses_in(rng, entities, home)[owner]
    who = victim[owner]
    moved = (created[:, None] >= pop.moves_ms[who]).sum(axis=1)
    doorstep = (rng.random(k) < 0.35)[owner]
    ship[doorstep] = pop.homes[who, moved][doorstep]
    second = (pop.card_count[victim] == 2) & (rng.random(k) < 0.3)
    payment = pop.cards[victim, second.astype(np.int64)]
    items = difficulty.everyday_baskets(rng, len(owner), price_eur=DISGUISED_PRICE_EUR)
    return {
        "created_ms": created,
        "device": device[owner],
        "ip": ip[owner],
        "payment": payment[owner],
        "ship": ship,
        **items,
    }


def _networks(rng: np.random.Generator, entities: World, home: Array) -> Array:
    """Return one attacker IP per victim: mostly abroad, sometimes disguised as local."""
    k = len(home)
    where = rng.random(k)
    ip = np.empty(k, dtype=np.int64)
    abroad = np.flatnonzero(where < 0.5)
    ip[abroad] = actors.residential_proxies(rng, entities, geo.other_country(rng, home[abroad]))
    hosted = np.flatnonzero((where >= 0.5) & (where < 0.7))
    ip[hosted] = world.add_ips(entities, ips.draw(rng, ips.blocks("hosting"), len(hosted)))
    local = np.flatnonzero((where >= 0.7) & (where < 0.9))
    ip[local] = actors.residential_proxies(rng, entities, home[local])
    roaming = where >= 0.9
    for code in np.unique(home[roaming]).tolist():
        rows = np.flatnonzero(roaming & (home == code))
        ip[rows] = actors.carrier_ips(rng, entities, code, len(rows))
    return ip
