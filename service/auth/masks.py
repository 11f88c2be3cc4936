"""How a masked attribute is shown: enough to judge, not enough to contact or charge."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any


def email(value: str) -> str:
    """j***@example.com: the first letter and the domain."""
    local, _, domain = value.partition("@")
    return f"{local[:1]}***@{domain}"


def last_two_digits(value: str) -> str:
    """+** *** ***42: the formatting and the last two digits."""
    digits = sum(c.isdigit() for c in value)
    out, seen = [], 0
    for char in value:
        if char.isdigit():
            seen += 1
            out.append(char if seen > digits - 2 else "*")
        else:
            out.append(char)
    return "".join(out)


def initials(value: str) -> str:
    """J*** D***: the first letter of each name."""
    return " ".join(f"{part[:1]}***" for part in value.split())


def network(value: str) -> str:
    """203.0.113.0/24: the network, not the host."""
    address = ipaddress.ip_address(value)
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def coarse_coordinate(value: float) -> float:
    """One decimal: about 10 km, enough for a region, not for a door."""
    return round(float(value), 1)


def prefix(value: str) -> str:
    """ab12…: enough to tell two identifiers apart at a glance."""
    return f"{value[:4]}…"


MASKS: dict[str, Callable[[Any], Any]] = {
    "email": email,
    "last_two_digits": last_two_digits,
    "initials": initials,
    "network": network,
    "coarse_coordinate": coarse_coordinate,
    "prefix": prefix,
}
