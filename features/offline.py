"""Offline point-in-time aggregates: every order's features as of just before it.

Vectorised over the whole event log. Each (entity, stream) pair becomes one
sorted timeline whose sort key packs the entity and the time into one int64, so
"the entity's events in [lower, t)" is two binary searches for all orders at
once. A feature at an order sees only events strictly before the order's time:
never the order itself, later orders, or labels not yet known then.

A fraud label that a legitimate label withdrew counted from its own time
until the withdrawal: a read after the withdrawal no longer counts it (it is
taken out of the bucket it was counted in, so a window that no longer holds
that bucket is not touched), a read between the two does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from features.columns import decline_times, scaled_integers
from features.spec import BUCKETS_PER_WINDOW, VALUE_SCALE, Agg, Aggregate, Columns, Stream

MS_PER_HOUR = 3_600_000.0


def stream_times(orders: Columns, stream: Stream) -> np.ndarray:
    """Return when each order's event on a stream became known (NaN: no event)."""
    if stream is Stream.ORDERS:
        return orders["created_at"]
    if stream is Stream.DECLINES:
        return decline_times(orders)
    if stream is Stream.LABELS:
        return labelled_times(orders)
    is_fraud = orders["label"] == 1.0
    counted = np.where(is_fraud, orders["label_known_at"], np.nan)
    withdrawn, _ = fraud_withdrawals(orders)
    return np.where(withdrawn, _flagged(orders), counted)


def labelled_times(orders: Columns) -> np.ndarray:
    """Return when each order got its first label (NaN: never labelled).

    A log without `labelled_at` (an imported history, one label per order) reads
    it as the withdrawn fraud label's time, else the label's own.
    """
    n = len(orders["created_at"])
    first = orders.get("labelled_at", np.full(n, np.nan))
    fallback = np.where(np.isnan(_flagged(orders)), orders["label_known_at"], _flagged(orders))
    fallback = np.where(np.isnan(orders["label"]), np.nan, fallback)
    return np.where(np.isnan(first), fallback, first)


def fraud_withdrawals(orders: Columns) -> tuple[np.ndarray, np.ndarray]:
    """Return which orders' fraud labels were withdrawn, and when (NaN: not withdrawn).

    A log without `fraud_known_at` (a history that never withdrew a label) has none.
    """
    flagged = _flagged(orders)
    withdrawn = (orders["label"] == 0.0) & ~np.isnan(flagged) & ~np.isnan(orders["label_known_at"])
    return withdrawn, np.where(withdrawn, orders["label_known_at"], np.nan)


def _flagged(orders: Columns) -> np.ndarray:
    flagged = orders.get("fraud_known_at")
    return np.full(len(orders["created_at"]), np.nan) if flagged is None else flagged


def window_start(t_ms: np.ndarray, feature: Aggregate) -> np.ndarray:
    """Return the first millisecond a bucketed window read at `t_ms` covers."""
    bucket = feature.bucket_ms
    assert bucket is not None
    return (t_ms // bucket) * bucket - (BUCKETS_PER_WINDOW - 1) * bucket


def window_end(event_ms: np.ndarray, feature: Aggregate) -> np.ndarray:
    """Return the first read time at which an event has left a bucketed window."""
    bucket = feature.bucket_ms
    assert bucket is not None
    return (event_ms // bucket) * bucket + BUCKETS_PER_WINDOW * bucket


@dataclass(frozen=True, eq=False)
class Timeline:
    """One entity's events on one stream, sorted, and the orders that query them."""

    span: int
    t0: int
    codes: np.ndarray
    times: np.ndarray
    rows: np.ndarray
    keys: np.ndarray
    query_rows: np.ndarray
    query_codes: np.ndarray
    query_times: np.ndarray

    @classmethod
    def build(
        cls,
        entity_keys: np.ndarray,
        event_times: np.ndarray,
        query_times: np.ndarray,
        slack_ms: int,
        event_mask: np.ndarray | None = None,
    ) -> Timeline:
        """Sort the events of every entity; `slack_ms` leaves room for window ends."""
        codes, _ = pd.factorize(entity_keys, use_na_sentinel=True)
        has_event = (codes >= 0) & ~np.isnan(event_times)
        if event_mask is not None:
            has_event &= event_mask
        asks = codes >= 0
        known = np.concatenate([event_times[has_event], query_times[asks]])
        t0 = int(known.min()) if len(known) else 0
        span = (int(known.max()) - t0 if len(known) else 0) + slack_ms + 2
        if (codes.max(initial=0) + 1) * span >= np.iinfo(np.int64).max:
            raise OverflowError("too many entities for one packed timeline")
        rows = np.flatnonzero(has_event)
        ev_codes = codes[rows].astype(np.int64)
        ev_times = event_times[rows].astype(np.int64) - t0
        order = np.lexsort((ev_times, ev_codes))
        rows, ev_codes, ev_times = rows[order], ev_codes[order], ev_times[order]
        query_rows = np.flatnonzero(asks)
        return cls(
            span,
            t0,
            ev_codes,
            ev_times,
            rows,
            ev_codes * span + ev_times,
            query_rows,
            codes[query_rows].astype(np.int64),
            query_times[query_rows].astype(np.int64) - t0,
        )

    def position(self, relative_times: np.ndarray, side: str = "left") -> np.ndarray:
        """Return, per query, the index of its entity's first event at or after a time."""
        clipped = np.clip(relative_times, 0, self.span - 1)
        wanted = self.query_codes * self.span + clipped
        found: np.ndarray = np.searchsorted(self.keys, wanted, side=side)  # type: ignore[call-overload]
        return found

    @cached_property
    def before(self) -> np.ndarray:
        """Return per query the index just past its entity's last event before the query."""
        return self.position(self.query_times)

    @cached_property
    def group_start(self) -> np.ndarray:
        """Return per query the index of its entity's first event."""
        return self.position(np.zeros_like(self.query_times))

    def bounds(self, feature: Aggregate) -> tuple[np.ndarray, np.ndarray]:
        """Return per query the [lo, hi) event range of its window (or of all history)."""
        hi = self.before
        if feature.window is None:
            return self.group_start, hi
        lower = window_start(self.query_times + self.t0, feature) - self.t0
        return self.position(lower), hi


def _range_max(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Return max(values[lo:hi]) per range with a sparse table; NaN for empty ranges."""
    out = np.full(len(lo), np.nan)
    if len(values) == 0:
        return out
    table = [values.astype(float)]
    while (1 << len(table)) <= len(values):
        half = 1 << (len(table) - 1)
        prev = table[-1]
        table.append(np.maximum(prev[:-half], prev[half:]))
    nonempty = hi > lo
    length = (hi - lo)[nonempty]
    level = np.floor(np.log2(length)).astype(int)
    a, b = lo[nonempty], hi[nonempty] - (1 << level)
    result = np.empty(len(length))
    for k in np.unique(level):
        at = level == k
        result[at] = np.maximum(table[k][a[at]], table[k][b[at]])
    out[nonempty] = result
    return out


def _distinct(timeline: Timeline, values: np.ndarray, feature: Aggregate) -> np.ndarray:
    """Count distinct values among each query's window events.

    An event covers the read times t with event < t < its window end; merging a
    value's overlapping covers into segments turns "distinct values in the window"
    into "segments open at t" = (segments started before t) - (segments ended by t).
    """
    value_codes, _ = pd.factorize(values[timeline.rows], use_na_sentinel=True)
    keep = value_codes >= 0
    codes, times, vals = timeline.codes[keep], timeline.times[keep], value_codes[keep]
    order = np.lexsort((times, vals, codes))
    codes, times, vals = codes[order], times[order], vals[order]
    new_pair = np.ones(len(codes), dtype=bool)
    new_pair[1:] = (codes[1:] != codes[:-1]) | (vals[1:] != vals[:-1])
    base = timeline.query_codes * timeline.span
    if feature.window is None:
        starts = codes[new_pair] * timeline.span + times[new_pair]
        starts.sort()
        seen: np.ndarray = (
            np.searchsorted(starts, base + timeline.query_times) - np.searchsorted(starts, base)
        ).astype(float)
        return seen
    ends = window_end(times + timeline.t0, feature) - timeline.t0
    new_segment = new_pair.copy()
    new_segment[1:] |= times[1:] >= ends[:-1]
    first = np.flatnonzero(new_segment)
    last = np.append(first[1:] - 1, len(times) - 1)
    seg_codes = codes[first]
    starts = np.sort(seg_codes * timeline.span + times[first])
    stops = np.sort(seg_codes * timeline.span + ends[last])
    q = base + timeline.query_times
    opened = np.searchsorted(starts, q, side="left") - np.searchsorted(starts, base, side="left")
    closed = np.searchsorted(stops, q, side="right") - np.searchsorted(stops, base, side="left")
    open_now: np.ndarray = (opened - closed).astype(float)
    return open_now


def _withdrawn(timeline: Timeline, orders: Columns, feature: Aggregate) -> np.ndarray:
    """Count, per query, the withdrawn fraud labels its read no longer counts.

    A withdrawal at `w` of a label counted at `k` takes it out of the reads at
    t with w < t, for as long as the window still holds k's bucket: the reads
    in [w, window end of k), counted as intervals open at t.
    """
    withdrawn, at = fraud_withdrawals(orders)
    codes, _ = pd.factorize(orders[feature.entity.key], use_na_sentinel=True)
    rows = np.flatnonzero(withdrawn & (codes >= 0))
    counted_at = _flagged(orders)[rows]
    end = np.full(len(rows), np.inf) if feature.window is None else window_end(counted_at, feature)
    keep = at[rows] < end
    rows, end = rows[keep], end[keep]
    last = timeline.span - 1
    base = codes[rows].astype(np.int64) * timeline.span
    starts = np.sort(base + np.clip(at[rows] - timeline.t0, 0, last).astype(np.int64))
    stops = np.sort(base + np.clip(end - timeline.t0, 0, last).astype(np.int64))
    first = timeline.query_codes * timeline.span
    q = first + timeline.query_times
    opened = np.searchsorted(starts, q, side="left") - np.searchsorted(starts, first, side="left")
    closed = np.searchsorted(stops, q, side="right") - np.searchsorted(stops, first, side="left")
    open_now: np.ndarray = opened - closed
    return open_now


def _aggregate(feature: Aggregate, timeline: Timeline, orders: Columns) -> np.ndarray:
    lo, hi = timeline.bounds(feature)
    if feature.agg is Agg.COUNT:
        counted: np.ndarray = (hi - lo).astype(float)
        if feature.stream is Stream.FRAUD:
            counted -= _withdrawn(timeline, orders, feature)
        return counted
    group_start = timeline.group_start
    seen = hi > group_start
    if feature.agg in (Agg.HOURS_SINCE_FIRST, Agg.HOURS_SINCE_LAST):
        index = group_start if feature.agg is Agg.HOURS_SINCE_FIRST else hi - 1
        event_time = (
            timeline.times[np.where(seen, index, 0)] if len(timeline.times) else np.zeros(len(hi))
        )
        return np.where(seen, (timeline.query_times - event_time) / MS_PER_HOUR, np.nan)
    assert feature.of is not None
    values = orders[feature.of]
    if feature.agg is Agg.DISTINCT:
        capped: np.ndarray = np.minimum(_distinct(timeline, values, feature), feature.cap)
        return capped
    raise AssertionError(f"{feature.agg} needs a value timeline")


def _value_aggregate(feature: Aggregate, timeline: Timeline, orders: Columns) -> np.ndarray:
    lo, hi = timeline.bounds(feature)
    assert feature.of is not None
    values = orders[feature.of][timeline.rows]
    if feature.agg is Agg.MAX:
        return _range_max(values, lo, hi)
    prefix = np.concatenate([[0], np.cumsum(scaled_integers(feature.of, values))])
    total: np.ndarray = (prefix[hi] - prefix[lo]) / VALUE_SCALE.get(feature.of, 1)
    if feature.agg is Agg.SUM:
        return total
    count = hi - lo
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


VALUE_AGGS = (Agg.SUM, Agg.MEAN, Agg.MAX)


def point_in_time(orders: Columns, aggregates: Iterable[Aggregate]) -> dict[str, np.ndarray]:
    """Return each aggregate's value for every order, as of just before it (NaN: no entity)."""
    aggregates = tuple(aggregates)
    slack = max((int(f.bucket_ms or 0) * BUCKETS_PER_WINDOW for f in aggregates), default=0)
    n = len(orders["created_at"])
    query_times = orders["created_at"]
    out: dict[str, np.ndarray] = {}
    cache: dict[tuple[str, Stream, str | None], Timeline] = {}
    for feature in aggregates:
        value_column = feature.of if feature.agg in VALUE_AGGS else None
        key = (feature.entity.key, feature.stream, value_column)
        if key not in cache:
            mask = None
            if value_column is not None:
                column = orders[value_column]
                mask = ~np.isnan(column) if column.dtype.kind == "f" else column != None  # noqa: E711
            cache[key] = Timeline.build(
                orders[feature.entity.key],
                stream_times(orders, feature.stream),
                query_times,
                slack_ms=slack,
                event_mask=mask,
            )
        timeline = cache[key]
        compute = _value_aggregate if value_column is not None else _aggregate
        values = np.full(n, np.nan)
        values[timeline.query_rows] = compute(feature, timeline, orders)
        out[feature.name] = values
    return out
