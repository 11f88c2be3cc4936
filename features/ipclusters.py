"""IP clustering from the geo/ASN database shipped inside the geoip2fast package.

A cluster is the announced block of the address's AS when that block is at
least as narrow as a /24 (IPv4) or /48 (IPv6), else the address's /24 or /48:
a home ISP's /12 holds a million households, not one network. The database also
gives the country and, from the AS name, whether the address is a hosting, VPN
or proxy network. No lookup leaves the machine.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import ipaddress
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import geoip2fast
from geoip2fast import GeoIP2Fast

# Substrings of AS names of hosting providers, VPN and proxy networks: traffic
# from them is rarely a shopper at home.
HOSTING_AS_MARKERS: tuple[str, ...] = (
    "AMAZON",
    "GOOGLE-CLOUD",
    "MICROSOFT",
    "DIGITALOCEAN",
    "OVH",
    "HETZNER",
    "LINODE",
    "AKAMAI",
    "CHOOPA",
    "VULTR",
    "M247",
    "LEASEWEB",
    "CONTABO",
    "SCALEWAY",
    "ONLINE S.A.S",
    "ALIBABA",
    "TENCENT",
    "ORACLE",
    "IONOS",
    "HOSTINGER",
    "DATACAMP",
    "CDN77",
    "HOSTWINDS",
    "COLOCROSSING",
    "QUADRANET",
    "PSYCHZ",
    "CLOUDFLARE",
    "ZENLAYER",
    "G-CORE",
    "GCORE",
    "NFORCE",
    "WORLDSTREAM",
    "PACKET",
    "EQUINIX",
    "CONSTANT",
    "HOSTING",
    "SERVER",
    "VPN",
    "PROXY",
    "DATACENTER",
    "DATA CENTER",
)


@dataclass(frozen=True)
class IpInfo:
    """What the offline database says of one address."""

    cluster: str | None
    country: str | None
    is_hosting: bool | None


DATABASE_FILE = "geoip2fast-asn-ipv6.dat.gz"


@lru_cache(maxsize=1)
def _database() -> GeoIP2Fast:
    return GeoIP2Fast(geoip2fast_data_file=DATABASE_FILE, verbose=False)


@cache
def database_version() -> str:
    """Return the IP database's version and file digest (a new database moves clusters)."""
    data = (Path(geoip2fast.__file__).parent / DATABASE_FILE).read_bytes()
    digest = hashlib.sha256(data).hexdigest()[:16]
    return f"geoip2fast-{importlib.metadata.version('geoip2fast')}:{digest}"


def _fallback_prefix(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    length = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{length}", strict=False))


@lru_cache(maxsize=200_000)
def lookup(ip: str) -> IpInfo:
    """Return the cluster, country and hosting flag of an address (all None if unparsable)."""
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return IpInfo(None, None, None)
    found = _database().lookup(str(address))
    country = (
        found.country_code
        if len(found.country_code or "") == 2 and found.country_code != "--"
        else None
    )
    # Reserved and private space has no country: cluster it by its own prefix,
    # not by the registry's one block for all of it.
    block = (found.asn_cidr or found.cidr) if country else None
    narrow = _fallback_prefix(address)
    if block and ipaddress.ip_network(block).prefixlen >= ipaddress.ip_network(narrow).prefixlen:
        narrow = block
    return IpInfo(narrow, country, _is_hosting(found.asn_name or ""))


@lru_cache(maxsize=50_000)
def _is_hosting(asn_name: str) -> bool:
    upper = asn_name.upper()
    return any(marker in upper for marker in HOSTING_AS_MARKERS)
