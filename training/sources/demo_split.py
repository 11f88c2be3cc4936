"""The demo's live orders: recent honest orders and one incident per fraud scenario.

The incidents are taken out of the history the model and the features are built
from, and moved to just after its end (keeping their inner timing), so the
demo server sees them as new traffic: a hoarding burst builds its velocity
order by order, an account takeover arrives on an account with a long history.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

HONEST_SAMPLES = 12
BURST_SCENARIOS = ("stock_hoarding", "card_testing")
BURST_SPAN = pd.Timedelta(hours=3)
FRESH_ACCOUNT = pd.Timedelta(days=7)


@dataclass(frozen=True)
class DemoSplit:
    """The history to train on, and the live orders to send to the server in time order."""

    history: pd.DataFrame
    live: pd.DataFrame


def _incident(orders: pd.DataFrame, scenario: str) -> pd.Index:
    """Return the rows of the latest incident of a scenario."""
    mine = orders[orders["scenario"] == scenario]
    if mine.empty:
        return pd.Index([])
    last = mine.iloc[-1]
    rows: pd.Index
    if scenario in BURST_SCENARIOS:
        rows = mine.index[mine["created_at"] >= last["created_at"] - BURST_SPAN]
    elif scenario == "reshipping":
        rows = mine.index[mine["shipping_address_id"] == last["shipping_address_id"]]
    else:
        rows = pd.Index([mine.index[-1]])
    return rows


def split_for_demo(orders: pd.DataFrame) -> DemoSplit:
    """Return the history and the live orders (labels of live orders are not sent)."""
    honest = orders.index[orders["label"] == 0][-HONEST_SAMPLES:]
    cut = orders.loc[honest, "created_at"].min()
    incidents = [_incident(orders, s) for s in sorted(orders["scenario"].dropna().unique())]
    taken = honest
    for rows in incidents:
        taken = taken.union(rows)
    history = orders.drop(index=taken)
    history = history[history["created_at"] < cut].reset_index(drop=True)
    moved = []
    for number, rows in enumerate(incidents):
        incident = orders.loc[rows].copy()
        start = incident["created_at"].min()
        shift = cut + pd.Timedelta(seconds=30 * (number + 1)) - start
        fresh = incident["customer_created_at"] >= start - FRESH_ACCOUNT
        incident["created_at"] += shift
        incident.loc[fresh, "customer_created_at"] += shift
        moved.append(incident)
    live = pd.concat([orders.loc[honest], *moved]).sort_values("created_at", kind="stable")
    return DemoSplit(history, live.reset_index(drop=True))
