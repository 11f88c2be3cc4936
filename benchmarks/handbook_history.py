"""A card-transaction history in the shape the fraud-detection literature benchmarks on.

It follows the simulator the Fraud Detection Handbook publishes (Le Borgne et al.,
"Reproducible Machine Learning for Credit Card Fraud Detection", chapter 3):
customers and terminals placed on a 100 x 100 square, each customer paying at
the terminals within radius 5, a Poisson number of payments a day around noon,
amounts normal around the customer's mean; three fraud scenarios: every amount
above 220; two terminals a day compromised for 28 days; three customers a day
whose card is used for a third of their payments, at five times the amount,
for 14 days. The columns are the published ones (TRANSACTION_ID, TX_DATETIME,
CUSTOMER_ID, TERMINAL_ID, TX_AMOUNT, TX_FRAUD, TX_FRAUD_SCENARIO), so the same
mapping and feature pack read this file and the published one
(`docs/examples/handbook_mapping.yaml`, `docs/examples/handbook_pack.yaml`).

    python -m benchmarks.handbook_history --out handbook.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

DAY_S = 86_400


def simulate(
    customers: int = 5000,
    terminals: int = 10_000,
    days: int = 183,
    start: str = "2018-04-01",
    radius: float = 5.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Return the transactions of the simulated period, with their fraud labels."""
    rng = np.random.default_rng(seed)
    where = rng.uniform(0, 100, (customers, 2))
    mean_amount = rng.uniform(5, 100, customers)
    per_day = rng.uniform(0, 4, customers)
    reachable = _within(where, rng.uniform(0, 100, (terminals, 2)), radius)

    counts = rng.poisson(np.repeat(per_day[:, None], days, axis=1))
    customer = np.repeat(np.repeat(np.arange(customers), days), counts.ravel())
    day = np.repeat(np.tile(np.arange(days), customers), counts.ravel())
    second = rng.normal(DAY_S / 2, 20_000, len(customer)).astype(np.int64)
    amount = rng.normal(mean_amount[customer], mean_amount[customer] / 2)
    negative = amount < 0
    amount[negative] = rng.uniform(0, 2 * mean_amount[customer[negative]])
    choice = rng.random(len(customer))
    sizes = np.array([len(r) for r in reachable])
    keep = (second > 0) & (second < DAY_S) & (sizes[customer] > 0)
    customer, day, second = customer[keep], day[keep], second[keep]
    amount, choice = amount[keep], choice[keep]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    flat = np.concatenate([np.asarray(r, dtype=np.int64) for r in reachable if len(r)])
    terminal = flat[offsets[customer] + (choice * sizes[customer]).astype(np.int64)]
    frame = pd.DataFrame(
        {
            "CUSTOMER_ID": customer,
            "TERMINAL_ID": terminal,
            "TX_AMOUNT": np.round(amount, 2),
            "TX_TIME_SECONDS": day * DAY_S + second,
            "TX_TIME_DAYS": day,
        }
    ).sort_values(["TX_TIME_SECONDS", "CUSTOMER_ID"], kind="stable", ignore_index=True)
    _add_frauds(frame, customers, terminals, days, rng)
    frame.insert(0, "TRANSACTION_ID", np.arange(len(frame)))
    frame.insert(
        1, "TX_DATETIME", pd.Timestamp(start) + pd.to_timedelta(frame.TX_TIME_SECONDS, "s")
    )
    return frame


def _within(points: np.ndarray, terminals: np.ndarray, radius: float) -> list[np.ndarray]:
    """Return, per point, the terminals closer than `radius` (in chunks: a bounded matrix)."""
    out: list[np.ndarray] = []
    for first in range(0, len(points), 500):
        chunk = points[first : first + 500]
        near = ((chunk[:, None, :] - terminals[None, :, :]) ** 2).sum(axis=2) < radius**2
        out += [np.flatnonzero(row) for row in near]
    return out


def _add_frauds(
    frame: pd.DataFrame, customers: int, terminals: int, days: int, rng: np.random.Generator
) -> None:
    """Mark the three scenarios' frauds (and raise the stolen cards' amounts) in place."""
    frame["TX_FRAUD"] = 0
    frame["TX_FRAUD_SCENARIO"] = 0
    large = frame.TX_AMOUNT > 220
    frame.loc[large, ["TX_FRAUD", "TX_FRAUD_SCENARIO"]] = (1, 1)
    for first in range(days):
        window = frame.TX_TIME_DAYS.between(first, first + 27)
        hit = window & frame.TERMINAL_ID.isin(rng.choice(terminals, 2, replace=False))
        frame.loc[hit, ["TX_FRAUD", "TX_FRAUD_SCENARIO"]] = (1, 2)
        stolen = frame.TX_TIME_DAYS.between(first, first + 13) & frame.CUSTOMER_ID.isin(
            rng.choice(customers, 3, replace=False)
        )
        rows = frame.index[stolen]
        chosen = rng.choice(rows, len(rows) // 3, replace=False) if len(rows) else rows
        frame.loc[chosen, "TX_AMOUNT"] = np.round(frame.loc[chosen, "TX_AMOUNT"] * 5, 2)
        frame.loc[chosen, ["TX_FRAUD", "TX_FRAUD_SCENARIO"]] = (1, 3)


def main() -> None:
    """Write the simulated history as CSV."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--days", type=int, default=183)
    arguments = parser.parse_args()
    frame = simulate(days=arguments.days, seed=arguments.seed)
    frame.to_csv(arguments.out, index=False)
    print(f"{len(frame):,} transactions, {frame.TX_FRAUD.mean():.2%} fraud → {arguments.out}")


if __name__ == "__main__":
    main()
