"""A small random order log with dense entity reuse, for exercising the aggregation maths."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.catalog import Spec
from features.columns import DECLINE_DELAY_MS, enrich, to_columns
from features.offline import point_in_time
from features.schema import conform
from features.spec import Columns, Stream
from features.state import EntityState, apply_event, dumps, evaluate_all, loads


def random_orders(n: int = 3000, seed: int = 0, days: int = 40) -> pd.DataFrame:
    """Return canonical orders over `days` days that share few entities (so windows fill)."""
    rng = np.random.default_rng(seed)
    offsets = np.sort(rng.choice(days * 86_400_000, n, replace=False))
    created = pd.Timestamp("2026-03-01", tz="UTC") + pd.to_timedelta(offsets, unit="ms")

    def pick(prefix: str, k: int, missing: float = 0.0) -> list[str | None]:
        values: list[str | None] = [f"{prefix}{i}" for i in rng.integers(0, k, n)]
        for i in np.flatnonzero(rng.random(n) < missing):
            values[i] = None
        return values

    amount = np.round(rng.exponential(50, n), 2)
    label = rng.choice([0.0, 1.0, np.nan], n, p=[0.6, 0.2, 0.2])
    frame = pd.DataFrame(
        {
            "order_id": [f"o{i}" for i in range(n)],
            "created_at": created,
            "customer_id": pick("c", 40),
            "device_id": pick("d", 6, missing=0.1),
            "ip": [f"81.2.{64 + i % 3}.{i % 250}" for i in rng.integers(0, 1000, n)],
            "payment_id": pick("p", 12, missing=0.05),
            "shipping_address_id": pick("a", 8),
            "amount": amount,
            "limited_quantity": rng.integers(0, 3, n),
            "payment_declined": rng.random(n) < 0.3,
            "label": label,
            "label_known_at": created
            + pd.to_timedelta(rng.integers(1, 20 * 86_400_000, n), unit="ms"),
        }
    )
    frame.loc[np.isnan(label), "label_known_at"] = pd.NaT
    # Some fraud labels are withdrawn later (a dispute won): legitimate from then on.
    withdrawn = (label == 1.0) & (rng.random(n) < 0.3)
    frame["fraud_known_at"] = frame["label_known_at"].where(withdrawn)
    frame.loc[withdrawn, "label_known_at"] += pd.to_timedelta(
        rng.integers(1, 10 * 86_400_000, int(withdrawn.sum())), unit="ms"
    )
    frame.loc[withdrawn, "label"] = 0.0
    return conform(frame)


def random_columns(n: int = 3000, seed: int = 0) -> dict[str, np.ndarray]:
    """Return a random log as the feature code's column arrays."""
    return to_columns(enrich(random_orders(n, seed)))


def with_probes(frame: pd.DataFrame, rows: Sequence[int], at_ms: int) -> tuple[Columns, list[int]]:
    """Return the log plus a probe order per row (its entities, at `at_ms`, no outcome).

    Also where the probes are in the columns: what the offline computation says
    each probe reads is the offline truth of that row's entities at `at_ms`.
    """
    probes = frame.iloc[list(rows)].copy()
    probes["order_id"] = [f"probe-{i}" for i in range(len(probes))]
    probes["created_at"] = pd.Timestamp(at_ms, unit="ms", tz="UTC")
    probes["payment_declined"] = False
    probes["label"] = np.nan
    probes["label_known_at"] = pd.NaT
    columns = to_columns(enrich(conform(pd.concat([frame, probes], ignore_index=True))))
    at = [int(np.flatnonzero(columns["order_id"] == f"probe-{i}")[0]) for i in range(len(probes))]
    return columns, at


def one_order(columns: Columns, row: int) -> Columns:
    """Return one row of the columns as a one-order batch, as the online path takes it."""
    return {name: values[row : row + 1] for name, values in columns.items()}


Event = tuple[float, bool, np.intp, Stream, int | None]


def raw_event_times(columns: Columns, stream: Stream) -> np.ndarray:
    """Return when each order's event on a stream counts (NaN: none), read from its columns
    as the README defines them, not through the feature code's own functions."""
    created = columns["created_at"]
    none = np.full(len(created), np.nan)
    if stream is Stream.ORDERS:
        return created
    if stream is Stream.DECLINES:
        return np.where(columns["payment_declined"] == 1.0, created + DECLINE_DELAY_MS, np.nan)
    label, known = columns["label"], columns["label_known_at"]
    flagged = columns.get("fraud_known_at", none)
    if stream is Stream.FRAUD:  # a withdrawn fraud label counted from its flag
        return np.where(label == 1.0, known, np.where(label == 0.0, flagged, np.nan))
    first = np.where(np.isnan(label), np.nan, np.where(np.isnan(flagged), known, flagged))
    kept = columns.get("labelled_at", none)
    return np.where(np.isnan(kept), first, kept)


def events_of(columns: Columns) -> list[Event]:
    """Return (time, is an outcome, row, stream, withdrawn label's time) of every event."""
    events: list[Event] = []
    for stream in Stream:
        times = raw_event_times(columns, stream)
        events += [
            (times[i], stream is not Stream.ORDERS, i, stream, None)
            for i in np.flatnonzero(~np.isnan(times))
        ]
    flagged = columns.get("fraud_known_at", np.full(len(columns["created_at"]), np.nan))
    withdrawn = (columns["label"] == 0.0) & ~np.isnan(flagged)
    events += [
        (columns["label_known_at"][i], True, i, Stream.FRAUD, int(flagged[i]))
        for i in np.flatnonzero(withdrawn)
    ]
    # At equal times an order is read before the outcomes stamped with that time.
    return sorted(events, key=lambda e: (e[0], e[1]))


def replay_against_offline(columns: Columns, spec: Spec) -> int:
    """Replay every event through the online state in time order; assert each order reads
    its offline values, feature by feature. Return how many values were compared."""
    offline = point_in_time(columns, spec.aggregates)
    states: dict[str, dict[str, EntityState]] = {e.name: {} for e in spec.entities}
    compared = 0
    for time_ms, _, row, stream, withdraws in events_of(columns):
        order = {name: values[row] for name, values in columns.items()}
        for entity, features in spec.aggregates_of.items():
            key = order[entity.key]
            if key is None:
                continue
            # Round-trip through the store's text form, as the online path does.
            state = loads(dumps(states[entity.name].get(key, {})))
            if stream is Stream.ORDERS:
                # All of an entity's features in one read, as an order reads them.
                values = evaluate_all(state, features, int(time_ms))
                for feature, served in zip(features, values, strict=True):
                    expected = offline[feature.name][row]
                    assert (math.isnan(served) and math.isnan(expected)) or served == expected, (
                        feature.name,
                        row,
                    )
                    compared += 1
            apply_event(state, features, stream, int(time_ms), order, withdraws_ms=withdraws)
            states[entity.name][key] = state
    return compared
