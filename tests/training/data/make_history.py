"""Write the shop-export test files: a 60-day labelled history and a parquet copy of the small one.

`history_mapped.parquet` is one shop's order export in its own column names (read it with
`history_mapping.yaml`): about 6,000 orders with about 3 % fraud. Fraud comes as bursts of
new accounts on one fresh device with high-value limited-stock baskets shipped to a drop
address, and as account takeovers (a known account on a new device and address). The export
has no country or card data, so those canonical fields stay empty. Run from anywhere:

    python tests/training/data/make_history.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NotRequired, TypedDict, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

HERE = Path(__file__).parent
START = pd.Timestamp("2024-01-08", tz="UTC")
DAYS = 60
EXPORTED_AT = START + pd.Timedelta(days=DAYS + 2)
CUSTOMERS = 2_200
LEGIT_ORDERS = 5_820
BURSTS = 30
TAKEOVERS = 55
SHIPPING = 4.90

Row = dict[str, object]


class _Item(TypedDict):
    sku: str
    quantity: int
    unit_price: float
    limited_stock: NotRequired[bool]


def main() -> None:
    """Write both parquet files next to this script."""
    rng = np.random.default_rng(20240108)
    catalog = _catalog(rng)
    orders = pd.DataFrame(_legit(rng, catalog) + _bursts(rng, catalog) + _takeovers(rng, catalog))
    orders = orders.sort_values("order_time", kind="stable").reset_index(drop=True)
    orders.insert(0, "order_number", [f"SO-{100_001 + n}" for n in range(len(orders))])
    _label(rng, orders)
    orders["sales_channel"] = rng.choice(
        ["web", "ios", "android"], len(orders), p=[0.6, 0.25, 0.15]
    )
    orders.drop(columns="fraud").to_parquet(
        HERE / "history_mapped.parquet", index=False, compression="zstd"
    )
    _small_copy()


def _catalog(rng: np.random.Generator) -> pd.DataFrame:
    regular = pd.DataFrame(
        {
            "sku": [f"SKU-{1001 + n}" for n in range(36)],
            "price": np.round(rng.lognormal(3.2, 0.7, 36), 2),
            "limited": False,
        }
    )
    limited = pd.DataFrame(
        {
            "sku": [
                "SNKR-LTD-01",
                "SNKR-LTD-02",
                "CONSOLE-X",
                "GPU-4090",
                "TCG-BOX-01",
                "WATCH-LTD",
            ],
            "price": [189.0, 219.0, 499.0, 1649.0, 129.0, 349.0],
            "limited": True,
        }
    )
    return pd.concat([regular, limited], ignore_index=True)


def _basket(
    rng: np.random.Generator, catalog: pd.DataFrame, limited_share: float
) -> dict[str, str | float]:
    weights = np.where(catalog["limited"], limited_share / 6, (1 - limited_share) / 36)
    picks = rng.choice(len(catalog), rng.integers(1, 4), replace=False, p=weights)
    items: list[_Item] = []
    for pick in picks:
        item: _Item = {
            "sku": cast(str, catalog.at[pick, "sku"]),
            "quantity": int(rng.choice([1, 1, 1, 2, 3])),
            "unit_price": float(cast(float, catalog.at[pick, "price"])),
        }
        if catalog.at[pick, "limited"]:
            item["limited_stock"] = True
        items.append(item)
    total = sum(item["quantity"] * item["unit_price"] for item in items) + SHIPPING
    return {"basket": json.dumps(items), "order_total": round(total, 2)}


def _times(rng: np.random.Generator, size: int, night: bool) -> pd.DatetimeIndex:
    # Shoppers buy by day; the fraud rings here work at night.
    hours = np.arange(24)
    weights = np.where((hours < 6) == night, 3.0, 0.4)
    hour: npt.NDArray[np.int64] = rng.choice(hours, size, p=weights / weights.sum())
    offset = rng.integers(0, DAYS, size) * 86_400 + hour * 3_600 + rng.integers(0, 3_600, size)
    return START + pd.to_timedelta(offset, unit="s")


def _legit(rng: np.random.Generator, catalog: pd.DataFrame) -> list[Row]:
    activity = rng.gamma(0.6, 1.0, CUSTOMERS)
    who = rng.choice(CUSTOMERS, LEGIT_ORDERS, p=activity / activity.sum())
    second_device = rng.random(LEGIT_ORDERS) < 0.12
    rows: list[Row] = []
    for time, customer, other in zip(
        _times(rng, LEGIT_ORDERS, night=False), who, second_device, strict=True
    ):
        rows.append(
            {
                "order_time": time,
                "account_id": f"C{customer:05d}",
                "device_fingerprint": f"d-{customer:05d}-{2 if other else 1}",
                "ip_address": f"73.{customer // 250}.{customer % 250}.{11 + 40 * other}",
                "card_token": f"tok_{customer:05d}{'b' if other and customer % 3 == 0 else 'a'}",
                "shipping_address": f"A{customer:05d}",
                "currency": "USD",
                "fraud": False,
                **_basket(rng, catalog, limited_share=0.08),
            }
        )
    return rows


def _bursts(rng: np.random.Generator, catalog: pd.DataFrame) -> list[Row]:
    rows: list[Row] = []
    for burst, start in enumerate(_times(rng, BURSTS, night=True)):
        accounts = [f"N{burst:03d}{n}" for n in range(rng.integers(2, 5))]
        gaps = np.cumsum(rng.integers(60, 600, rng.integers(3, 7)))
        for n, gap in enumerate(gaps):
            rows.append(
                {
                    "order_time": start + pd.Timedelta(seconds=int(gap)),
                    "account_id": accounts[n % len(accounts)],
                    "device_fingerprint": f"x-{burst:03d}",
                    "ip_address": f"185.220.{100 + burst % 4}.{rng.integers(2, 250)}",
                    "card_token": f"tok_x{burst:03d}{n}",
                    "shipping_address": f"DROP{burst % 9:02d}",
                    "currency": "USD",
                    "fraud": True,
                    **_basket(rng, catalog, limited_share=0.7),
                }
            )
    return rows


def _takeovers(rng: np.random.Generator, catalog: pd.DataFrame) -> list[Row]:
    victims = rng.choice(CUSTOMERS, TAKEOVERS, replace=False)
    rows: list[Row] = []
    for n, (time, victim) in enumerate(
        zip(_times(rng, TAKEOVERS, night=False), victims, strict=True)
    ):
        rows.append(
            {
                "order_time": time,
                "account_id": f"C{victim:05d}",
                "device_fingerprint": f"t-{n:03d}",
                "ip_address": f"45.{rng.integers(10, 200)}.{rng.integers(0, 250)}.{n}",
                "card_token": f"tok_{victim:05d}a",
                "shipping_address": f"T{n:03d}",
                "currency": "USD",
                "fraud": True,
                **_basket(rng, catalog, limited_share=0.5),
            }
        )
    return rows


def _label(rng: np.random.Generator, orders: pd.DataFrame) -> None:
    # Legit orders count as good once delivered; fraud shows up as a review finding within
    # days or a chargeback weeks later. Outcomes not known by the export are blank.
    size = len(orders)
    reviewed = rng.random(size) < 0.3
    fraud_delay = np.where(reviewed, rng.uniform(0.1, 3, size), rng.uniform(5, 45, size))
    delay = np.where(orders["fraud"], fraud_delay, rng.uniform(3, 7, size))
    known_at = orders["order_time"] + pd.to_timedelta(delay, unit="D")
    status = np.where(orders["fraud"], np.where(reviewed, "confirmed_fraud", "chargeback"), "ok")
    known = known_at <= EXPORTED_AT
    orders["fraud_status"] = pd.Series(status).where(known)
    orders["status_updated_at"] = known_at.where(known).dt.floor("s")


def _small_copy() -> None:
    small = pd.read_csv(HERE / "small_history.csv", dtype=str, keep_default_na=False)
    small["order_total"] = small["order_total"].astype(float)
    # Timestamps as a typed, zone-less column: the mapping's zone must still apply.
    small["outcome_at"] = pd.to_datetime(small["outcome_at"].replace("", None))
    small = small.replace("", None)
    small.to_parquet(HERE / "small_history.parquet", index=False)


if __name__ == "__main__":
    main()
