"""A batch of simulated orders: equal-length columns of entity row numbers and values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]
Orders = dict[str, Array]

SCENARIOS: tuple[str, ...] = (
    "stock_hoarding",
    "card_testing",
    "account_takeover",
    "reshipping",
    "friendly_fraud",
)
HONEST = 0
HOARDING, CARD_TESTING, TAKEOVER, RESHIPPING, FRIENDLY = range(1, 6)

FIELDS: tuple[str, ...] = (
    "created_ms",
    "customer",
    "device",
    "ip",
    "payment",
    "ship",
    "bill",
    "item_count",
    "limited_quantity",
    "max_item_quantity",
    "amount_eur",
    "declined",
    "scenario",
)


def make(**columns: Array) -> Orders:
    """Return a batch from every field in FIELDS, checking lengths."""
    if set(columns) != set(FIELDS):
        missing = sorted(set(FIELDS) - set(columns))
        extra = sorted(set(columns) - set(FIELDS))
        raise ValueError(f"order fields missing {missing}, unexpected {extra}")
    lengths = {len(values) for values in columns.values()}
    if len(lengths) != 1:
        raise ValueError("order fields differ in length")
    return {name: np.asarray(columns[name]) for name in FIELDS}


def concat(batches: Sequence[Orders]) -> Orders:
    """Return the batches one after another."""
    batches = [b for b in batches if len(b["created_ms"])]
    if not batches:
        return {name: np.empty(0, dtype=np.int64) for name in FIELDS}
    return {name: np.concatenate([b[name] for b in batches]) for name in FIELDS}


def take(batch: Orders, rows: Array) -> Orders:
    """Return the given rows of a batch."""
    return {name: values[rows] for name, values in batch.items()}


def size(batch: Orders) -> int:
    """Return the number of orders in a batch."""
    return len(batch["created_ms"])


def campaign(
    rng: np.random.Generator,
    parts: dict[str, Array],
    scenario: int,
    declined: float | tuple[float, float],
) -> Orders:
    """Return a fraud campaign's orders from their parts: each declined with the share given
    (or one drawn from the range, per campaign), all of one scenario."""
    n = len(parts["created_ms"])
    draws = rng.random(n)
    share = declined if isinstance(declined, float) else rng.uniform(*declined)
    return make(**parts, declined=draws < share, scenario=scenario_codes(n, scenario))


def scenario_codes(n: int, code: int) -> Array:
    """Return a scenario column of one code."""
    return np.full(n, code, dtype=np.int8)
