"""One order as the features read it: one-row columns, reporting amount, entity keys.

The online path (`features.online`) and the rebuild from stored orders
(`features.rebuild`) both start here, so an order is read the same way by each.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from features.catalog import current
from features.currency import RateTable, to_reporting
from features.ipclusters import lookup
from features.schema import COLUMNS
from features.spec import Columns, Entity

# Text as the canonical schema declares it, and the IP's network and country `lookup` adds.
TEXT_COLUMNS = frozenset(
    {c.name for c in COLUMNS if pa.types.is_string(c.type)} | {"ip_cluster", "ip_country"}
)


def order_columns(order: Mapping[str, Any]) -> Columns:
    """Return one canonical order (times in epoch ms) as one-row feature columns with IP info."""
    values = dict(order)
    ip = values.get("ip")
    info = lookup(str(ip)) if ip else None
    values["ip_cluster"] = info.cluster if info else None
    values["ip_country"] = info.country if info else None
    values["ip_is_hosting"] = info.is_hosting if info else None
    columns: dict[str, np.ndarray] = {}
    extra_text = current().extra_text
    for name, value in values.items():
        if name in TEXT_COLUMNS or name in extra_text:
            columns[name] = np.array([None if value is None else str(value)], dtype=object)
        else:
            columns[name] = np.array([np.nan if value is None else float(value)])
    return columns


def with_reporting_amount(order: Columns, rates: RateTable) -> Columns:
    """Return one order's columns with its amount in the reporting currency, as `enrich` adds it."""
    if "amount_reporting" in order:
        return order
    currency = order.get("currency", np.array([None], dtype=object))
    converted = to_reporting(order["amount"], currency, order["created_at"], rates)
    return {**order, "amount_reporting": converted}


def entity_keys(order: Columns) -> dict[Entity, str]:
    """Return the order's entity keys (entities the order does not name are left out)."""
    keys = {}
    for entity in current().entities:
        value = order.get(entity.key, np.array([None], dtype=object))[0]
        if value is not None:
            keys[entity] = str(value)
    return keys
