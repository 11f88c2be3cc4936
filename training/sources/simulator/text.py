"""Vectorised building of identifiers, e-mail addresses, phone numbers and user agents."""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from training.sources.simulator import geo, names

Array = npt.NDArray[Any]

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_ALNUM = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz0123456789", dtype=np.uint8)
_DIGITS = np.frombuffer(b"0123456789", dtype=np.uint8)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX = np.uint64(0xBF58476D1CE4E5B9)


def _join(prefix: str, chars: Array) -> Array:
    head = np.frombuffer(prefix.encode(), dtype=np.uint8)
    width = len(head) + chars.shape[1]
    buffer = np.empty((chars.shape[0], width), dtype=np.uint8)
    buffer[:, : len(head)] = head
    buffer[:, len(head) :] = chars
    return buffer.view(f"S{width}").ravel().astype(f"U{width}").astype(object)


def scrambled_ids(prefix: str, count: int, salt: int, width: int = 14) -> Array:
    """Return count distinct random-looking hex identifiers with a prefix (width even, <= 16)."""
    bits = np.uint64(4 * width)
    mask = np.uint64((1 << (4 * width)) - 1)
    # Multiplying by an odd number, xor-shifting and xor-ing a salt are all invertible
    # modulo 2**bits, so distinct row numbers give distinct identifiers.
    values = (np.arange(count, dtype=np.uint64) * _GOLDEN) & mask
    values ^= values >> (bits // np.uint64(2))
    values = (values * _MIX) & mask
    values ^= np.uint64(salt) & mask
    return _join(prefix, _hex(values, width))


def timed_ids(rng: np.random.Generator, prefix: str, ms: Array) -> Array:
    """Return time-ordered identifiers: 12 hex digits of the epoch milliseconds, 8 random ones.

    Like ULIDs, they sort in creation order and are distinct wherever the times are.
    """
    stamp = _hex(ms.astype(np.uint64), 12)
    noise = _hex(rng.integers(0, 2**32, size=len(ms), dtype=np.uint64), 8)
    return _join(prefix, np.hstack([stamp, noise]))


def _hex(values: Array, width: int) -> Array:
    octets = values.astype(">u8").view(np.uint8).reshape(len(values), 8)[:, 8 - width // 2 :]
    chars = np.empty((len(values), width), dtype=np.uint8)
    chars[:, 0::2] = _HEX[octets >> 4]
    chars[:, 1::2] = _HEX[octets & 15]
    return chars


def tokens(rng: np.random.Generator, n: int, length: int, prefix: str = "") -> Array:
    """Return n random lower-case alphanumeric strings of one length."""
    return _join(prefix, _ALNUM[rng.integers(len(_ALNUM), size=(n, length))])


def digits(rng: np.random.Generator, n: int, width: int, prefix: str = "") -> Array:
    """Return n random digit strings of one width."""
    return _join(prefix, _DIGITS[rng.integers(10, size=(n, width))])


@cache
def _two_digits() -> Array:
    return np.array([f"{i:02d}" for i in range(100)] + [""], dtype=object)


def _numbers(values: Array) -> Array:
    return values.astype(np.int64).astype(str).astype(object)


def name_emails(rng: np.random.Generator, countries: Array) -> Array:
    """Return a distinct, ordinary-looking e-mail address for each person of these countries."""
    n = len(countries)
    local = np.empty(n, dtype=object)
    domain = np.empty(n, dtype=object)
    # Rows that would share an address are found on integer keys, far cheaper than on strings.
    key = np.zeros(n, dtype=np.int64)
    for c, code in enumerate(np.unique(countries).tolist()):
        rows = np.flatnonzero(countries == code)
        bases = _local_parts(code)
        base = rng.integers(len(bases), size=len(rows))
        year = np.where(
            rng.random(len(rows)) < 0.45, rng.integers(60, 106, size=len(rows)) % 100, 100
        )
        options = np.array(geo.country(code).email_domains, dtype=object)
        weights = np.full(len(options), 0.6 / (len(options) - 1))
        weights[0] = 0.4
        pick = rng.choice(len(options), size=len(rows), p=weights)
        local[rows] = bases[base] + _two_digits()[year]
        domain[rows] = options[pick]
        key[rows] = ((c * len(bases) + base) * 101 + year) * 16 + pick
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    first = np.r_[True, ordered[1:] != ordered[:-1]]
    position = np.arange(n)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = position - np.maximum.accumulate(np.where(first, position, 0))
    # The second anna.schmidt@ becomes anna.schmidt2@, as providers suggest.
    again = np.flatnonzero(rank > 0)
    local[again] = local[again] + _numbers(rank[again] + 1)
    email = local + "@" + domain
    clash = np.flatnonzero(pd.Series(email).duplicated().to_numpy())
    email[clash] = local[clash] + "." + _numbers(clash) + "@" + domain[clash]
    return email


@cache
def _local_parts(code: str) -> Array:
    first = names.FIRST_NAMES[code]
    last = names.LAST_NAMES[code]
    parts = [f"{f}.{s}" for f in first for s in last] + [f"{f}{s}" for f in first for s in last]
    parts += [f"{f[0]}{s}" for f in first for s in last] + [f"{s}_{f}" for f in first for s in last]
    return np.array(sorted(set(parts)), dtype=object)


def bulk_emails(rng: np.random.Generator, n: int, *, named: bool, country: str) -> Array:
    """Return addresses of accounts opened in bulk: random strings, or names with many digits."""
    domains = np.array(names.BULK_EMAIL_DOMAINS, dtype=object)[
        rng.integers(len(names.BULK_EMAIL_DOMAINS), size=n)
    ]
    address: Array
    if not named:
        address = tokens(rng, n, int(rng.integers(8, 13))) + "@" + domains
        return address
    first = np.array(names.FIRST_NAMES[country], dtype=object)
    last = np.array(names.LAST_NAMES[country], dtype=object)
    first, last = first[rng.integers(len(first), size=n)], last[rng.integers(len(last), size=n)]
    address = first + last + digits(rng, n, 4) + "@" + domains
    return address


def phones(rng: np.random.Generator, countries: Array, present: float) -> Array:
    """Return an E.164 mobile number per country code, or None where none was given."""
    out = np.full(len(countries), None, dtype=object)
    given = rng.random(len(countries)) < present
    for code in np.unique(countries[given]):
        rows = np.flatnonzero(given & (countries == code))
        country = geo.country(code)
        out[rows] = digits(rng, len(rows), country.phone_digits, country.phone_prefix)
    return out


def user_agents(rng: np.random.Generator, kinds: Array) -> Array:
    """Return a user agent for each device kind index of names.DEVICE_KINDS."""
    out = np.empty(len(kinds), dtype=object)
    for i, kind in enumerate(names.DEVICE_KINDS):
        rows = np.flatnonzero(kinds == i)
        options = np.array(names.USER_AGENTS[kind], dtype=object)
        out[rows] = options[rng.integers(len(options), size=len(rows))]
    return out
