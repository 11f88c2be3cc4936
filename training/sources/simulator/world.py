"""The simulated entities: customers, devices, IPs, payment accounts and addresses.

Orders refer to entities by row number; strings are produced once per entity, and an
order column is a gather from the entity column, so millions of orders share few objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from training.sources.simulator import geo, names, text

Array = npt.NDArray[Any]
Index = npt.NDArray[np.int64]


class Table:
    """Rows of one entity kind, appended in blocks and read back as whole columns."""

    def __init__(self, *columns: str) -> None:
        self._parts: dict[str, list[Array]] = {name: [] for name in columns}
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(self, **columns: Array) -> Index:
        """Append rows and return their row numbers."""
        if set(columns) != set(self._parts):
            raise ValueError(f"expected columns {sorted(self._parts)}, got {sorted(columns)}")
        sizes = {len(values) for values in columns.values()}
        if len(sizes) != 1:
            raise ValueError("columns differ in length")
        for name, values in columns.items():
            self._parts[name].append(np.asarray(values))
        count = sizes.pop()
        self._size += count
        return np.arange(self._size - count, self._size, dtype=np.int64)

    def column(self, name: str) -> Array:
        """Return one whole column; writes into it are kept."""
        parts = self._parts[name]
        if len(parts) != 1:
            parts[:] = [np.concatenate(parts)] if parts else [np.empty(0)]
        return parts[0]


@dataclass
class World:
    """Every entity table of one simulation."""

    customers: Table = field(default_factory=lambda: Table("created_ms", "email", "phone"))
    devices: Table = field(default_factory=lambda: Table("user_agent", "emulator", "mobile"))
    ips: Table = field(default_factory=lambda: Table("text"))
    payments: Table = field(default_factory=lambda: Table("method", "bin", "last4", "country"))
    addresses: Table = field(default_factory=lambda: Table("country", "lat", "lon"))


def add_customers(world: World, created_ms: Array, email: Array, phone: Array) -> Index:
    """Register accounts."""
    return world.customers.add(created_ms=created_ms.astype(np.int64), email=email, phone=phone)


def add_devices(
    rng: np.random.Generator,
    world: World,
    kinds: Array,
    *,
    emulator: float = 0.0,
    user_agent: Array | None = None,
) -> Index:
    """Register devices of the given names.DEVICE_KINDS indices."""
    agents = text.user_agents(rng, kinds) if user_agent is None else user_agent
    return world.devices.add(
        user_agent=agents,
        emulator=rng.random(len(kinds)) < emulator,
        mobile=np.isin(kinds, list(names.MOBILE_KINDS)),
    )


def device_kinds(
    rng: np.random.Generator, n: int, shares: tuple[float, ...] | None = None
) -> Array:
    """Return n device kind indices drawn from the given or the usual shares."""
    p = np.array(shares or names.DEVICE_SHARES)
    return rng.choice(len(p), size=n, p=p / p.sum())


def add_ips(world: World, addresses: Array) -> Index:
    """Register client IP addresses given as text."""
    return world.ips.add(text=addresses)


def add_cards(
    rng: np.random.Generator,
    world: World,
    countries: Array,
    *,
    method: Array | None = None,
    bins: Array | None = None,
) -> Index:
    """Register payment cards issued in the given countries, with given or random BINs."""
    n = len(countries)
    if bins is None:
        bins = np.empty(n, dtype=object)
        for code in np.unique(countries).tolist():
            rows = np.flatnonzero(countries == code)
            pool = np.array(geo.bin_pool(code), dtype=object)
            bins[rows] = pool[rng.integers(len(pool), size=len(rows))]
    kind = np.full(n, "card", dtype=object) if method is None else method
    wallet = kind == "paypal"
    # A PayPal account hides the card behind it from the merchant.
    last4 = text.digits(rng, n, 4)
    issuer = np.array(countries, dtype=object)
    bins, last4, issuer = bins.copy(), last4.copy(), issuer.copy()
    bins[wallet] = last4[wallet] = issuer[wallet] = None
    return world.payments.add(method=kind, bin=bins, last4=last4, country=issuer)


def add_addresses(
    rng: np.random.Generator,
    world: World,
    cities: Array,
    *,
    spread_km: float = 6.0,
    lat: Array | None = None,
    lon: Array | None = None,
) -> Index:
    """Register addresses around city centres, or around given points."""
    if lat is None or lon is None:
        lat, lon = geo.city_coordinates(cities)
    # One degree of latitude is about 111 km; longitude shrinks with the cosine of latitude.
    scale = spread_km / 111.0
    jitter_lat = rng.normal(0.0, scale, size=len(cities))
    jitter_lon = rng.normal(0.0, scale, size=len(cities)) / np.cos(np.radians(lat))
    return world.addresses.add(
        country=geo.city_countries(cities),
        lat=np.round(lat + jitter_lat, 5),
        lon=np.round(lon + jitter_lon, 5),
    )
