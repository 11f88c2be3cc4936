"""Real public IP ranges by kind and country, and vectorised drawing of addresses from them.

Every block lies wholly inside one country and one autonomous system according to the
offline geo/ASN database of `geoip2fast` (its ASN + IPv6 data file), so the simulated
addresses resolve to the ISP, mobile carrier or hosting provider they stand for.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]
Kind = Literal["residential", "mobile", "hosting"]


@dataclass(frozen=True)
class Block:
    """A public range, its country, its kind of network and a substring of its ASN name."""

    network: str
    country: str
    kind: Kind
    owner: str


BLOCKS: tuple[Block, ...] = (
    Block("91.0.0.0/11", "DE", "residential", "Deutsche Telekom"),
    Block("79.192.0.0/10", "DE", "residential", "Deutsche Telekom"),
    Block("88.64.0.0/12", "DE", "residential", "Vodafone GmbH"),
    Block("2003:e0::/30", "DE", "residential", "Deutsche Telekom"),
    Block("86.128.0.0/14", "GB", "residential", "British Telecommunications"),
    Block("62.30.0.0/15", "GB", "residential", "Virgin Media"),
    Block("2.216.0.0/16", "GB", "residential", "Sky UK"),
    Block("2a02:c7c::/30", "GB", "residential", "Sky UK"),
    Block("90.0.0.0/13", "FR", "residential", "Orange"),
    Block("86.192.0.0/11", "FR", "residential", "Orange"),
    Block("78.192.0.0/12", "FR", "residential", "Free SAS"),
    Block("2a01:cb00::/30", "FR", "residential", "Orange"),
    Block("145.53.0.0/16", "NL", "residential", "KPN"),
    Block("24.132.0.0/16", "NL", "residential", "Vodafone Libertel"),
    Block("2a02:a400::/26", "NL", "residential", "KPN"),
    Block("73.0.0.0/13", "US", "residential", "COMCAST"),
    Block("24.0.0.0/14", "US", "residential", "COMCAST"),
    Block("24.107.0.0/16", "US", "residential", "CHARTER"),
    Block("2601::/26", "US", "residential", "COMCAST"),
    Block("88.0.0.0/11", "ES", "residential", "Telefonica De Espana"),
    Block("62.42.0.0/16", "ES", "residential", "Vodafone Ono"),
    Block("87.0.0.0/13", "IT", "residential", "Telecom Italia"),
    Block("2.224.0.0/12", "IT", "residential", "Fastweb"),
    Block("31.60.0.0/14", "PL", "residential", "Orange Polska"),
    Block("152.240.0.0/15", "BR", "residential", "TELEFONICA BRASIL"),
    Block("72.136.0.0/14", "CA", "residential", "ROGERS"),
    Block("58.160.0.0/12", "AU", "residential", "Telstra"),
    Block("78.180.0.0/16", "TR", "residential", "Turk Telekom"),
    Block("46.114.0.0/15", "DE", "mobile", "Telefonica Germany"),
    Block("31.100.0.0/14", "GB", "mobile", "EE Limited"),
    Block("82.132.224.0/20", "GB", "mobile", "Telefonica O2 UK"),
    Block("37.64.0.0/13", "FR", "mobile", "Radiotelephone - SFR"),
    Block("80.214.0.0/17", "FR", "mobile", "Bouygues Telecom"),
    Block("31.20.0.0/15", "NL", "mobile", "Odido"),
    Block("172.56.0.0/16", "US", "mobile", "T-MOBILE"),
    Block("66.174.0.0/16", "US", "mobile", "CELLCO"),
    Block("37.222.0.0/15", "ES", "mobile", "Vodafone Spain"),
    Block("37.11.128.0/17", "ES", "mobile", "Orange Espagne"),
    Block("31.188.0.0/15", "IT", "mobile", "Wind Tre"),
    Block("54.144.0.0/14", "US", "hosting", "AMAZON"),
    Block("18.153.0.0/16", "DE", "hosting", "AMAZON"),
    Block("18.130.0.0/16", "GB", "hosting", "AMAZON"),
    Block("34.86.0.0/16", "US", "hosting", "GOOGLE-CLOUD"),
    Block("34.159.0.0/16", "DE", "hosting", "GOOGLE-CLOUD"),
    Block("34.90.0.0/15", "NL", "hosting", "GOOGLE-CLOUD"),
    Block("13.64.0.0/15", "US", "hosting", "MICROSOFT"),
    Block("51.116.0.0/16", "DE", "hosting", "MICROSOFT"),
    Block("51.132.0.0/16", "GB", "hosting", "MICROSOFT"),
    Block("104.131.0.0/16", "US", "hosting", "DIGITALOCEAN"),
    Block("64.226.64.0/18", "DE", "hosting", "DIGITALOCEAN"),
    Block("37.139.0.0/19", "NL", "hosting", "DIGITALOCEAN"),
    Block("51.91.0.0/16", "FR", "hosting", "OVH"),
    Block("2001:41d0:8000::/33", "FR", "hosting", "OVH"),
    Block("5.9.0.0/16", "DE", "hosting", "Hetzner"),
    Block("2a01:4f8:c000::/34", "DE", "hosting", "Hetzner"),
    Block("45.33.0.0/19", "US", "hosting", "Akamai"),
    Block("109.74.192.0/20", "GB", "hosting", "Akamai"),
    Block("2600:3c00::/32", "US", "hosting", "Akamai"),
    Block("64.237.32.0/19", "US", "hosting", "CHOOPA"),
    Block("80.240.16.0/20", "DE", "hosting", "CHOOPA"),
    Block("217.69.0.0/20", "FR", "hosting", "CHOOPA"),
    Block("38.132.96.0/19", "US", "hosting", "M247"),
    Block("37.191.96.0/19", "GB", "hosting", "M247"),
    Block("154.28.112.0/20", "FR", "hosting", "M247"),
    Block("37.48.64.0/18", "NL", "hosting", "LeaseWeb"),
    Block("23.19.0.0/19", "US", "hosting", "LEASEWEB"),
)


def blocks(
    kind: Kind, country: str | None = None, *, ipv6: bool | None = None
) -> tuple[Block, ...]:
    """Return the blocks of one kind, optionally of one country and one IP version."""
    return tuple(
        b
        for b in BLOCKS
        if b.kind == kind
        and (country is None or b.country == country)
        and (ipv6 is None or (":" in b.network) == ipv6)
    )


def draw(rng: np.random.Generator, candidates: tuple[Block, ...], n: int) -> Array:
    """Return n addresses, each from a uniformly chosen candidate block."""
    pick = rng.integers(len(candidates), size=n)
    out = np.empty(n, dtype=object)
    for i, block in enumerate(candidates):
        rows = np.flatnonzero(pick == i)
        if len(rows):
            out[rows] = addresses(rng, block, len(rows))
    return out


def addresses(rng: np.random.Generator, block: Block, n: int, *, subnet: bool = False) -> Array:
    """Return n random addresses in a block, or in one random /24 (IPv6: /64) of it."""
    network = ipaddress.ip_network(block.network)
    if isinstance(network, ipaddress.IPv4Network):
        base, size = int(network.network_address), network.num_addresses
        if subnet:
            base += int(rng.integers(size // 256)) * 256
            return _format_v4(base + rng.integers(2, 254, size=n))
        return _format_v4(base + rng.integers(1, size - 1, size=n))
    base, prefix = int(network.network_address), network.prefixlen
    if subnet:
        base = _v6_int(_v6_groups(rng, base, prefix, 1)[0])
        prefix = 64
    return _format_v6(_v6_groups(rng, base, prefix, n))


@cache
def _octets() -> Array:
    return np.array([str(i) for i in range(256)], dtype=object)


@cache
def _hex_groups() -> Array:
    return np.array([format(i, "x") for i in range(65536)], dtype=object)


def _format_v4(values: Array) -> Array:
    octets = _octets()
    values = values.astype(np.int64)
    text: Array = octets[values >> 24]
    for shift in (16, 8, 0):
        text = text + "." + octets[(values >> shift) & 255]
    return text


def _v6_groups(rng: np.random.Generator, base: int, prefix: int, n: int) -> Array:
    groups = np.empty((n, 8), dtype=np.int64)
    for g in range(8):
        fixed = (base >> (112 - 16 * g)) & 0xFFFF
        covered = min(16, max(0, prefix - 16 * g))
        host_mask = 0xFFFF >> covered
        groups[:, g] = (fixed & ~host_mask & 0xFFFF) | (rng.integers(0, 65536, size=n) & host_mask)
    return groups


def _v6_int(groups: Array) -> int:
    value = 0
    for group in groups:
        value = (value << 16) | int(group)
    return value


def _format_v6(groups: Array) -> Array:
    names = _hex_groups()
    text = names[groups[:, 0]]
    for g in range(1, 8):
        text = text + ":" + names[groups[:, g]]
    # A run of zero groups must be written compressed; such rows are rare enough to redo one by one.
    zero_runs = ((groups[:, :-1] == 0) & (groups[:, 1:] == 0)).any(axis=1)
    for row in np.flatnonzero(zero_runs).tolist():
        text[row] = str(ipaddress.IPv6Address(_v6_int(groups[row])))
    return text
