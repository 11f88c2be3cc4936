"""What an order contains: item quantities, limited-stock quantities and the order total."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]

MAX_SKUS = 6
LIMITED_PRICE_EUR = 170.0
# An honest order: one SKU and a Poisson number more, around this price with this spread.
EVERYDAY_PRICE_EUR = 38.0
EVERYDAY_SIGMA = 0.85
EVERYDAY_EXTRA_SKUS = 0.45
# How many units of a limited-stock SKU honest launch buyers take, one to five.
LAUNCH_EACH = (0.66, 0.26, 0.04, 0.02, 0.02)


def basket(
    rng: np.random.Generator,
    skus: Array,
    *,
    price_eur: float,
    sigma: float = 0.8,
    limited_skus: Array | None = None,
    limited_each: Array | None = None,
) -> dict[str, Array]:
    """Return the item columns and euro total of baskets of `skus` regular SKUs each.

    `limited_skus` limited-stock SKUs of `limited_each` units each are added on top;
    a regular SKU's quantity is usually one.
    """
    n = len(skus)
    skus = np.clip(skus, 0, MAX_SKUS)
    width = max(int(skus.max(initial=0)), 1)
    present = np.arange(width) < skus[:, None]
    quantity = rng.choice([1, 2, 3], size=(n, width), p=[0.86, 0.1, 0.04]) * present
    price = rng.lognormal(np.log(price_eur), sigma, size=(n, width))
    amount = (quantity * price).sum(axis=1)
    largest = quantity.max(axis=1)
    items = quantity.sum(axis=1)
    limited = np.zeros(n, dtype=np.int64)
    if limited_skus is not None and limited_each is not None:
        limited = limited_skus * limited_each
        unit = rng.lognormal(np.log(LIMITED_PRICE_EUR), 0.3, size=n)
        amount = amount + limited * unit
        largest = np.maximum(largest, np.where(limited_skus > 0, limited_each, 0))
        items = items + limited
    return {
        "item_count": items.astype(np.int32),
        "limited_quantity": limited.astype(np.int32),
        "max_item_quantity": largest.astype(np.int32),
        "amount_eur": np.round(amount, 2),
    }
