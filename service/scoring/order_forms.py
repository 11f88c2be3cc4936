"""One order, dumped once: the JSON form its decision stores, its request hash, its record.

`RequestModel.sha256` hashes a second dump of a request, walked in Python to
spell its times in UTC and its decimals without trailing zeros. An order is
dumped once, as JSON (the form its decision stores); its hash takes that dump
and respells only the fields that differ: its two times and its amounts. The
result is the same SHA-256, byte for byte (a test holds the two to that, and
holds this list to the order's fields).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson


@dataclass(frozen=True)
class OrderForms:
    """One order as scoring uses it, dumped once.

    `payload` is the JSON form the decision stores, `sha256` the request hash
    (from the payload), `canonical` the record the features read.
    """

    payload: dict[str, Any]
    sha256: str
    canonical: dict[str, Any]


# The order's fields whose JSON form is not the hashed form ("*": every item of a list).
TIMES: tuple[tuple[str, ...], ...] = (("created_at",), ("customer", "account_created_at"))
AMOUNTS: tuple[tuple[str, ...], ...] = (("amount",), ("items", "*", "unit_price"))


def request_hash(payload: Mapping[str, Any]) -> str:
    """Return `RequestModel.sha256` of an order from its `model_dump(mode="json")`."""
    body: Any = payload
    for path in TIMES:
        body = _respelled(body, path, _utc)
    for path in AMOUNTS:
        body = _respelled(body, path, _decimal)
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _respelled(node: Any, path: tuple[str, ...], spell: Callable[[str], str]) -> Any:
    """Return a copy of `node` with the value at `path` respelled (the payload is not changed)."""
    if node is None:
        return None
    if not path:
        return spell(node)
    head, rest = path[0], path[1:]
    if head == "*":
        return [_respelled(item, rest, spell) for item in node]
    return {**node, head: _respelled(node.get(head), rest, spell)}


def _utc(text: str) -> str:
    return datetime.fromisoformat(text).astimezone(UTC).isoformat(timespec="microseconds")


def _decimal(text: str) -> str:
    return format(Decimal(text).normalize(), "f")
