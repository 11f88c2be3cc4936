"""The accounts, devices, networks and cards fraudsters bring, shared by every scenario."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from training.sources.simulator import geo, ips, names, text, timeline, world
from training.sources.simulator.world import World

Array = npt.NDArray[Any]
Index = npt.NDArray[np.int64]

# Bots mostly run desktop browsers or Android builds, rarely iPhones.
BOT_DEVICE_SHARES = (0.05, 0.4, 0.45, 0.1, 0.0)


def storefront(rng: np.random.Generator) -> str:
    """Return the country a fraud campaign targets, in proportion to the shop's customers."""
    return str(rng.choice(np.array(geo.HOME_CODES), p=geo.home_shares()))


def campaign_sizes(rng: np.random.Generator, n: int, low: int, high: int) -> list[int]:
    """Split n orders into campaigns of low to high orders (fewer only if n itself is)."""
    sizes: list[int] = []
    while sum(sizes) < n:
        sizes.append(int(rng.integers(low, high)))
    if not sizes:
        return sizes
    sizes[-1] -= sum(sizes) - n
    # A remainder too small to be a campaign joins the one before it.
    if len(sizes) > 1 and sizes[-1] < low:
        remainder = sizes.pop()
        sizes[-1] += remainder
    return sizes


def accounts(
    rng: np.random.Generator,
    entities: World,
    first_order_ms: Array,
    code: str,
    *,
    named: bool,
    lead_ms: Array,
    phone_share: float,
) -> Index:
    """Register bulk-made accounts, each created `lead_ms` before its first order."""
    n = len(first_order_ms)
    return world.add_customers(
        entities,
        first_order_ms - lead_ms,
        text.bulk_emails(rng, n, named=named, country=code),
        text.phones(rng, np.full(n, code, dtype=object), present=phone_share),
    )


@dataclass(frozen=True)
class AccountHabits:
    """How a fraud ring opens its accounts."""

    named_share: float  # chance the ring's emails use real names (1.0: always, no coin flip)
    lead_minutes: tuple[float, float]  # how long before its first order an account is opened
    phone_share: float  # share of accounts registered with a phone number


def ring_accounts(
    rng: np.random.Generator,
    entities: World,
    created_ms: Array,
    code: str,
    count: int,
    habits: AccountHabits,
    *,
    in_turn: bool = False,
) -> tuple[Index, Index]:
    """Open a ring's `count` bulk-made accounts; return each order's owner and the accounts.

    `in_turn`: the accounts take the (time-sorted) orders one after another, not at random.
    """
    owner = spread(rng, count, len(created_ms))
    if in_turn:
        owner = np.sort(owner)
    first = first_use(owner, created_ms, count)
    # A ring that always uses real names flips no coin: a flip would shift every later draw.
    named = habits.named_share >= 1.0 or bool(rng.random() < habits.named_share)
    lead_ms = minutes(rng, *habits.lead_minutes, count)
    customers = accounts(
        rng, entities, first, code, named=named, lead_ms=lead_ms, phone_share=habits.phone_share
    )
    return owner, customers


def first_use(owner: Array, times: Array, count: int) -> Array:
    """Return, for each of `count` owners, the earliest time among its rows."""
    first = np.full(count, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, owner, times)
    return first


def spread(rng: np.random.Generator, count: int, n: int) -> Array:
    """Return n owner numbers below `count` in which every owner appears at least once."""
    owners = np.r_[np.arange(min(count, n)), rng.integers(count, size=max(n - count, 0))]
    return rng.permutation(owners)


def bot_devices(rng: np.random.Generator, entities: World, n: int, *, emulator: float) -> Index:
    """Register n devices of a bot farm, some reporting an automation user agent."""
    agents = None
    if rng.random() < 0.5:
        # A farm that rotates fingerprints keeps the one browser build it scripted.
        pool = names.BOT_USER_AGENTS if rng.random() < 0.3 else names.USER_AGENTS["windows"]
        agents = np.full(n, pool[int(rng.integers(len(pool)))], dtype=object)
    kinds = world.device_kinds(rng, n, BOT_DEVICE_SHARES)
    return world.add_devices(rng, entities, kinds, emulator=emulator, user_agent=agents)


def hosting_cluster(rng: np.random.Generator, entities: World, n: int, code: str) -> Index:
    """Register n addresses inside one rented /24 of a hosting provider, near the target if any."""
    local = ips.blocks("hosting", code)
    pool = local if local and rng.random() < 0.5 else ips.blocks("hosting")
    block = pool[int(rng.integers(len(pool)))]
    return world.add_ips(entities, ips.addresses(rng, block, n, subnet=True))


def residential_proxies(rng: np.random.Generator, entities: World, countries: Array) -> Index:
    """Register one residential-proxy exit per row, on a home line in the given country."""
    found = np.empty(len(countries), dtype=object)
    for code in np.unique(countries).tolist():
        rows = np.flatnonzero(countries == code)
        found[rows] = ips.draw(rng, ips.blocks("residential", code), len(rows))
    return world.add_ips(entities, found)


def carrier_ips(rng: np.random.Generator, entities: World, code: str, n: int) -> Index:
    """Register n mobile-carrier addresses in one country."""
    return world.add_ips(entities, ips.draw(rng, ips.blocks("mobile", code), n))


def addresses_near(
    rng: np.random.Generator, entities: World, code: str, n: int, *, spread_km: float
) -> Index:
    """Register n addresses within `spread_km` of one point in a city of the country."""
    city = geo.pick_cities(rng, np.array([code], dtype=object))
    lat, lon = geo.city_coordinates(city)
    centre_lat = lat + rng.normal(0.0, 0.05, size=1)
    centre_lon = lon + rng.normal(0.0, 0.05, size=1)
    return world.add_addresses(
        rng,
        entities,
        np.repeat(city, n),
        spread_km=spread_km,
        lat=np.repeat(centre_lat, n),
        lon=np.repeat(centre_lon, n),
    )


def addresses_in(rng: np.random.Generator, entities: World, countries: Array) -> Index:
    """Register one address per row somewhere in the row's country."""
    return world.add_addresses(rng, entities, geo.pick_cities(rng, countries))


def stolen_cards(rng: np.random.Generator, entities: World, countries: Array) -> Index:
    """Register cards from leaked card lists, issued in the given countries."""
    return world.add_cards(rng, entities, countries)


def minutes(rng: np.random.Generator, low: float, high: float, n: int) -> Array:
    """Return n random durations between low and high minutes, in milliseconds."""
    return (rng.uniform(low, high, size=n) * timeline.MINUTE).astype(np.int64)
