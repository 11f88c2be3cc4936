"""Friendly fraud: ordinary orders by established customers that are later charged back."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from training.sources.simulator import orders
from training.sources.simulator.population import Population

Array = npt.NDArray[Any]


def friendly_fraud(
    rng: np.random.Generator, pop: Population, honest: orders.Orders, n: int
) -> None:
    """Mark n paid honest orders of established customers as charged back, in place."""
    position = np.full(int(pop.rows.max()) + 1, -1, dtype=np.int64)
    position[pop.rows] = np.arange(len(pop.rows))
    who = position[honest["customer"]]
    eligible = (
        (honest["scenario"] == orders.HONEST)
        & ~honest["declined"]
        & (who >= 0)
        & pop.established[np.maximum(who, 0)]
    )
    # A few customers make a habit of it, and dearer orders are disputed more often:
    # weak signals, as in life.
    serial = rng.random(len(pop.rows)) < 0.004
    weight = np.sqrt(honest["amount_eur"]) * np.where(serial[np.maximum(who, 0)], 8.0, 1.0)
    weight = np.where(eligible, weight, 0.0)
    n = min(n, int(eligible.sum()))
    if n == 0:
        return
    # Weighted sampling without replacement: the n largest of log(u) / weight.
    with np.errstate(divide="ignore"):
        keys = np.where(weight > 0, np.log(rng.random(len(weight))) / weight, -np.inf)
    chosen = np.argpartition(-keys, n - 1)[:n]
    honest["scenario"][chosen] = orders.FRIENDLY
