"""Baskets in a user's history: a JSON list of items per row, read as the order's item counts."""

from __future__ import annotations

import json
from typing import cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from training.sources.mapping import ITEM_FIELDS, HistoryImportError
from training.sources.user_column import UserColumn, shown, text_of

# Keeps any basket's total inside int32; no real order line holds a million units.
_MAX_QUANTITY = 1_000_000
_ITEM = pa.struct(
    [
        ("sku", pa.string()),
        ("quantity", pa.float64()),
        ("unit_price", pa.float64()),
        ("limited_stock", pa.bool_()),
    ]
)


def item_counts(column: UserColumn) -> pd.DataFrame:
    """Return each row's item count, limited-stock quantity and largest quantity of one SKU."""
    text = text_of(column.values)
    present = np.flatnonzero(text.notna().to_numpy())
    items = _basket_items(column, text, present)
    items["limited"] = items["quantity"].where(items["limited"], 0.0)
    counts = items.groupby("row").agg(
        item_count=("quantity", "sum"), limited_quantity=("limited", "sum")
    )
    per_sku = items.groupby(["row", "sku"])["quantity"].sum()
    counts["max_item_quantity"] = per_sku.groupby("row").max()
    totals = pd.DataFrame(0.0, index=present, columns=list(ITEM_FIELDS))
    totals.loc[counts.index, list(ITEM_FIELDS)] = counts[list(ITEM_FIELDS)]
    # Rows without a basket stay unknown; an empty basket is a known zero.
    return totals.reindex(range(len(text))).set_axis(text.index).astype("Int32")


def _basket_items(column: UserColumn, text: pd.Series, present: np.ndarray) -> pd.DataFrame:
    try:
        # pandas has no vectorised JSON decoder: each cell is decoded once, arrow does the rest.
        # The stubs type a list-typed pa.array as a plain Array; at run time it is a ListArray.
        baskets = cast(
            "pa.ListArray[pa.ListScalar[pa.StructType]]",
            pa.array([json.loads(cell) for cell in text.iloc[present]], type=pa.list_(_ITEM)),
        )
    except (ValueError, TypeError, RecursionError, pa.ArrowException) as error:
        raise _basket_error(column, text, error) from None
    # The stubs say list_flatten returns a ListArray; it returns the child values, here structs.
    flat = cast(pa.StructArray, pc.list_flatten(baskets))
    items = pd.DataFrame(
        {
            "row": present[pc.list_parent_indices(baskets).to_numpy()],
            "sku": flat.field("sku").to_pandas(),
            "quantity": flat.field("quantity").to_pandas(),
            "unit_price": flat.field("unit_price").to_pandas(),
            # Items that do not say they are limited are counted as not limited.
            "limited": flat.field("limited_stock").fill_null(False).to_pandas(),
        }
    )
    quantity = items["quantity"]
    whole = (quantity % 1 == 0) & (quantity >= 1) & (quantity <= _MAX_QUANTITY)
    problems = np.select(
        [
            items["sku"].fillna("").str.strip() == "",
            quantity.isna(),
            ~whole,
            items["unit_price"] < 0,
        ],
        [
            "has no sku",
            "has no quantity",
            f"quantity must be a whole number from 1 to {_MAX_QUANTITY:,}",
            "unit_price must not be negative",
        ],
        default="",
    )
    bad = np.flatnonzero(problems != "")
    if bad.size:
        number = items.groupby("row").cumcount().iloc[bad[0]] + 1
        raise column.error(int(items["row"].iloc[bad[0]]), f"item {number} {problems[bad[0]]}")
    return items


def _basket_error(column: UserColumn, text: pd.Series, error: Exception) -> HistoryImportError:
    # Runs only after decoding failed, to name the first row at fault.
    for row, cell in enumerate(text):
        if isinstance(cell, str) and (problem := _basket_problem(cell)):
            return column.error(row, problem)
    return HistoryImportError(f"column {column.source!r} (mapped to items): {error}")


def _basket_problem(cell: str) -> str | None:
    try:
        basket = json.loads(cell)
    except (ValueError, RecursionError):
        return f"cannot parse {shown(cell)} as a JSON list of items"
    if not isinstance(basket, list):
        return f"items must be a JSON list of objects, got {shown(cell)}"
    for number, item in enumerate(basket, start=1):
        if not isinstance(item, dict):
            return f"item {number} is not an object"
        if not isinstance(item.get("sku"), str | None):
            return f"item {number}: sku must be a string"
        for key in ("quantity", "unit_price"):
            if isinstance(item.get(key), bool) or not isinstance(item.get(key), int | float | None):
                return f"item {number}: {key} must be a number"
        if not isinstance(item.get("limited_stock"), bool | None):
            return f"item {number}: limited_stock must be true or false"
    return None
