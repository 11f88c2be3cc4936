"""The honest customers: households, homes and moves, devices, cards, and the IPs they use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from training.sources.simulator import geo, ips, text, timeline, world
from training.sources.simulator.world import World

Array = npt.NDArray[Any]
NEVER = np.iinfo(np.int64).max


@dataclass
class Population:
    """Per honest customer (row i is customer row `rows[i]`): what they own and use."""

    rows: Array
    country: Array
    utc_offset: Array
    established: Array
    cumulative_activity: Array
    devices: Array
    device_count: Array
    cards: Array
    card_count: Array
    homes: Array
    moves_ms: Array
    home_ips: Array
    ip_change_ms: Array
    office_ip: Array
    office_address: Array
    vpn_ip: Array
    carrier_ips: dict[str, Array]


def build(
    rng: np.random.Generator,
    entities: World,
    period: timeline.Period,
    n_customers: int,
    n_orders: int,
) -> Population:
    """Create the honest customers and everything they own."""
    group = _households(rng, n_customers)
    n_groups = int(group[-1]) + 1
    group_country = np.array(geo.HOME_CODES, dtype=object)[
        rng.choice(len(geo.HOME_CODES), size=n_groups, p=geo.home_shares())
    ]
    group_city = geo.pick_cities(rng, group_country)
    group_home = world.add_addresses(rng, entities, group_city)
    country = group_country[group]
    established = rng.random(n_customers) < 0.72
    age_days = 1.0 + np.minimum(rng.exponential(500.0, size=n_customers), 8 * 365.0)
    created = np.where(
        established, period.start_ms - (age_days * timeline.DAY).astype(np.int64), period.start_ms
    )
    rows = world.add_customers(
        entities, created, text.name_emails(rng, country), text.phones(rng, country, present=0.75)
    )
    homes, moves_ms = _homes(rng, entities, period, group_home[group], country)
    devices, device_count = _devices(rng, entities, group)
    cards, card_count = _cards(rng, entities, country)
    home_ips, ip_change_ms = _home_ips(rng, entities, period, group_country)
    office_ip, office_address = _offices(rng, entities, country)
    activity = rng.gamma(0.55, 1.0, size=n_customers) * np.where(established, 1.0, 0.7)
    return Population(
        rows=rows,
        country=country,
        utc_offset=geo.city_offsets(group_city)[group],
        established=established,
        cumulative_activity=np.cumsum(activity) / activity.sum(),
        devices=devices,
        device_count=device_count,
        cards=cards,
        card_count=card_count,
        homes=homes,
        moves_ms=moves_ms,
        home_ips=home_ips[group],
        ip_change_ms=ip_change_ms[group],
        office_ip=office_ip,
        office_address=office_address,
        vpn_ip=_vpn_users(rng, entities, n_customers),
        carrier_ips=_carrier_pools(rng, entities, n_orders),
    )


def _households(rng: np.random.Generator, n: int) -> Array:
    sizes = rng.choice([1, 2, 3, 4], size=n, p=[0.72, 0.16, 0.08, 0.04])
    return np.repeat(np.arange(n), sizes)[:n]


def _rank_within(owner: Array) -> Array:
    """Return each row's position among the rows of the same (sorted) owner."""
    start: npt.NDArray[np.intp] = np.r_[0, np.flatnonzero(owner[1:] != owner[:-1]) + 1]
    counts: npt.NDArray[np.intp] = np.diff(np.r_[start, len(owner)])
    return np.arange(len(owner)) - np.repeat(start, counts)


def _homes(
    rng: np.random.Generator, entities: World, period: timeline.Period, first: Array, country: Array
) -> tuple[Array, Array]:
    n = len(first)
    homes = np.repeat(first[:, None], 4, axis=1)
    moves = np.full((n, 3), NEVER, dtype=np.int64)
    movers = np.flatnonzero(rng.random(n) < 0.07)
    count = rng.choice([1, 2, 3], size=len(movers), p=[0.6, 0.3, 0.1])
    owner = np.repeat(movers, count)
    slot = _rank_within(owner)
    new = world.add_addresses(rng, entities, geo.pick_cities(rng, country[owner]))
    homes[owner, slot + 1] = new
    moves[owner, slot] = timeline.uniform(rng, period.start_ms, period.end_ms, len(owner))
    moves.sort(axis=1)
    moved = np.zeros(n, dtype=np.int64)
    moved[movers] = count
    for column in range(2, 4):
        homes[:, column] = np.where(column <= moved, homes[:, column], homes[:, column - 1])
    return homes, moves


def _devices(rng: np.random.Generator, entities: World, group: Array) -> tuple[Array, Array]:
    n = len(group)
    count = rng.choice([1, 2, 3], size=n, p=[0.5, 0.35, 0.15])
    owner = np.repeat(np.arange(n), count)
    rows = world.add_devices(rng, entities, world.device_kinds(rng, len(owner)), emulator=0.002)
    devices = np.repeat(rows[np.r_[0, np.cumsum(count)[:-1]]][:, None], 3, axis=1)
    devices[owner, _rank_within(owner)] = rows
    # A family laptop or tablet: the second device of every member of some households.
    group_size = np.bincount(group)
    sharing = np.flatnonzero((group_size > 1) & (rng.random(len(group_size)) < 0.45))
    shared = world.add_devices(rng, entities, rng.choice([2, 3, 4], size=len(sharing)))
    family = np.full(len(group_size), -1, dtype=np.int64)
    family[sharing] = shared
    members = np.flatnonzero(family[group] >= 0)
    devices[members, 1] = family[group[members]]
    count[members] = np.maximum(count[members], 2)
    return devices, count


def _cards(rng: np.random.Generator, entities: World, country: Array) -> tuple[Array, Array]:
    n = len(country)
    count = np.where(rng.random(n) < 0.72, 1, 2)
    owner = np.repeat(np.arange(n), count)
    issuer = country[owner].copy()
    # Expats and cross-border shoppers pay with a card from elsewhere.
    abroad = rng.random(len(owner)) < 0.04
    issuer[abroad] = np.array(geo.CODES, dtype=object)[
        rng.integers(len(geo.CODES), size=abroad.sum())
    ]
    method = np.array(["card", "apple_pay", "google_pay", "paypal"], dtype=object)[
        rng.choice(4, size=len(owner), p=[0.86, 0.04, 0.03, 0.07])
    ]
    rows = world.add_cards(rng, entities, issuer, method=method)
    cards = np.repeat(rows[np.r_[0, np.cumsum(count)[:-1]]][:, None], 2, axis=1)
    cards[owner, _rank_within(owner)] = rows
    return cards, count


def _home_ips(
    rng: np.random.Generator, entities: World, period: timeline.Period, group_country: Array
) -> tuple[Array, Array]:
    n = len(group_country)
    found = np.empty((n, 2), dtype=object)
    for code in np.unique(group_country).tolist():
        rows = np.flatnonzero(group_country == code)
        v6 = ips.blocks("residential", code, ipv6=True)
        use_v6 = (rng.random(len(rows)) < 0.22) if v6 else np.zeros(len(rows), dtype=bool)
        for column in range(2):
            found[rows[~use_v6], column] = ips.draw(
                rng, ips.blocks("residential", code, ipv6=False), int((~use_v6).sum())
            )
            if use_v6.any():
                found[rows[use_v6], column] = ips.draw(rng, v6, int(use_v6.sum()))
    home_ips = world.add_ips(entities, found.ravel()).reshape(n, 2)
    # Most lines get a new address from the ISP once in a while; some keep theirs.
    change = timeline.uniform(rng, period.start_ms, period.end_ms, n)
    return home_ips, np.where(rng.random(n) < 0.3, NEVER, change)


def _offices(rng: np.random.Generator, entities: World, country: Array) -> tuple[Array, Array]:
    n = len(country)
    office_ip = np.full(n, -1, dtype=np.int64)
    office_address = np.full(n, -1, dtype=np.int64)
    workers = rng.random(n) < 0.05
    for code in np.unique(country).tolist():
        rows = np.flatnonzero(workers & (country == code))
        offices = max(1, len(rows) // 20)
        which = rng.integers(offices, size=len(rows))
        address = world.add_addresses(
            rng, entities, geo.pick_cities(rng, np.full(offices, code)), spread_km=3.0
        )
        ip = world.add_ips(
            entities, ips.draw(rng, ips.blocks("residential", code, ipv6=False), offices)
        )
        office_ip[rows] = ip[which]
        office_address[rows] = address[which]
    return office_ip, office_address


def _vpn_users(rng: np.random.Generator, entities: World, n: int) -> Array:
    pool = world.add_ips(
        entities, ips.draw(rng, ips.blocks("hosting", ipv6=False), max(4, n // 3000))
    )
    return np.where(rng.random(n) < 0.025, pool[rng.integers(len(pool), size=n)], -1)


def _carrier_pools(rng: np.random.Generator, entities: World, n_orders: int) -> dict[str, Array]:
    # Carrier-grade NAT: a handful of public addresses carry a whole country's phones.
    size = max(3, n_orders // 40_000)
    return {
        code: world.add_ips(entities, ips.draw(rng, ips.blocks("mobile", code), size))
        for code in geo.HOME_CODES
    }


def first_orders(pop: Population, customer: Array, created_ms: Array) -> Array:
    """Return each population customer's first order time among the given orders, or NEVER."""
    first = np.full(int(pop.rows.max()) + 1, NEVER, dtype=np.int64)
    np.minimum.at(first, customer, created_ms)
    return first[pop.rows]
