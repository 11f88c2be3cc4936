"""Folded partial aggregates: what an entity's older events were folded into, per feature.

A windowed feature keeps its buckets as one dense run, `[first bucket's start,
[partial or None, ...]]`, so a read slices out the buckets its window covers
instead of looking at every bucket kept. A feature over all history keeps one
partial; first/last-seen features keep a time. Partials are counts, integer
sums (`[count, total]`), maxima or capped sets of value hashes, never a
finished number. Which events are folded, and when, is `features.state`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from features.spec import BUCKETS_PER_WINDOW, VALUE_SCALE, Agg, Aggregate

EntityState = dict[str, Any]


def window_start(feature: Aggregate, t_ms: int) -> int:
    """Return the first millisecond a bucketed window read at `t_ms` covers."""
    bucket = feature.bucket_ms
    assert bucket is not None
    return (t_ms // bucket) * bucket - (BUCKETS_PER_WINDOW - 1) * bucket


def window_parts(state: EntityState, feature: Aggregate, t_ms: int) -> list[Any]:
    """Return the folded partials a read at `t_ms` counts: its window's buckets, or all history."""
    partial = state.get(feature.name)
    bucket = feature.bucket_ms
    if bucket is None:
        return [] if partial is None else [partial]
    run = _run(state, feature) if isinstance(partial, dict) else partial
    if not run:
        return []
    first, kept = run
    lo = max((window_start(feature, t_ms) - first) // bucket, 0)
    hi = (t_ms // bucket) * bucket - first
    return [p for p in kept[lo : hi // bucket + 1] if p is not None] if hi >= 0 else []


def fold(state: EntityState, feature: Aggregate, time_ms: int, value: Any, horizon: int) -> None:
    """Fold one event into a feature's partial aggregates.

    Not into a bucket older than every exact read's window (a very late event):
    pruning would drop it at once, and the run would first grow back to it.
    """
    if feature.agg in (Agg.HOURS_SINCE_FIRST, Agg.HOURS_SINCE_LAST):
        previous = state.get(feature.name)
        pick = min if feature.agg is Agg.HOURS_SINCE_FIRST else max
        state[feature.name] = time_ms if previous is None else pick(previous, time_ms)
        return
    if feature.agg is not Agg.COUNT and value is None:
        return
    bucket = feature.bucket_ms
    if bucket is None:
        state[feature.name] = _merge(feature, state.get(feature.name), value)
        return
    if time_ms < window_start(feature, horizon):
        return
    parts, index = _slot(state, feature, time_ms)
    parts[index] = _merge(feature, parts[index], value)


def _slot(state: EntityState, feature: Aggregate, time_ms: int) -> tuple[list[Any], int]:
    """Return a feature's buckets and the index of the one `time_ms` falls in (made if new)."""
    bucket = feature.bucket_ms
    assert bucket is not None
    start = (time_ms // bucket) * bucket
    run = _run(state, feature)
    if run is None:
        run = state[feature.name] = [start, [None]]
    first, parts = run
    if start < first:
        parts[:0] = [None] * ((first - start) // bucket)
        run[0] = first = start
    index = (start - first) // bucket
    if index >= len(parts):
        parts.extend([None] * (index + 1 - len(parts)))
    return parts, index


def _run(state: EntityState, feature: Aggregate) -> list[Any] | None:
    """Return a feature's bucket run, `[first start, parts]` (a state kept as a mapping of
    start to partial, as before runs, is turned into one)."""
    run = state.get(feature.name)
    if isinstance(run, dict):
        bucket = feature.bucket_ms
        assert bucket is not None
        kept: dict[str, Any] = state.pop(feature.name)
        run = None
        for start, partial in sorted((int(k), v) for k, v in kept.items()):
            if run is None:
                run = [start, []]
            run[1].extend([None] * ((start - run[0]) // bucket - len(run[1])))
            run[1].append(partial)
        if run is not None:
            state[feature.name] = run
    return run or None


def as_runs(state: EntityState, features: Sequence[Aggregate]) -> EntityState:
    """Return a state whose buckets, kept as a mapping of start to partial, are runs now."""
    for feature in features:
        if feature.bucket_ms is not None:
            _run(state, feature)
    return state


def unfold(state: EntityState, feature: Aggregate, counted_ms: int, horizon_ms: int) -> None:
    """Take a withdrawn event out of the count it was folded into.

    The count may go below zero for a while: the event itself can come after its
    withdrawal (beyond the lateness bound), and then lands on the -1. A bucket
    older than every exact read's window is left alone. Only counts withdraw.
    """
    if feature.agg is not Agg.COUNT:
        return
    if feature.bucket_ms is None:
        state[feature.name] = (state.get(feature.name) or 0) - 1
        return
    if counted_ms < window_start(feature, horizon_ms):
        return
    parts, index = _slot(state, feature, counted_ms)
    parts[index] = (parts[index] or 0) - 1
    if not parts[index]:
        parts[index] = None
        run = state[feature.name]
        _trim(state, feature, run)


def prune(state: EntityState, feature: Aggregate, before_ms: int, horizon_ms: int) -> None:
    """Drop the buckets no exact read can need any more, once the horizon's window moved on."""
    bucket = feature.bucket_ms
    if bucket is None or not state.get(feature.name):
        return
    oldest = window_start(feature, horizon_ms)
    if oldest == window_start(feature, before_ms):
        return  # nothing left the window since the last event: nothing to drop
    run = _run(state, feature)
    if run is None:
        return
    stale = (oldest - run[0]) // bucket
    if stale > 0:
        del run[1][:stale]
        run[0] += stale * bucket
        _trim(state, feature, run)


def _trim(state: EntityState, feature: Aggregate, run: list[Any]) -> None:
    """Drop a run's empty buckets at both ends (an empty run: the feature's whole entry)."""
    bucket = feature.bucket_ms
    assert bucket is not None
    parts: list[Any] = run[1]
    while parts and parts[-1] is None:
        parts.pop()
    empty = 0
    while empty < len(parts) and parts[empty] is None:
        empty += 1
    if empty:
        del parts[:empty]
        run[0] += empty * bucket
    if not parts:
        del state[feature.name]


def _merge(feature: Aggregate, partial: Any, value: Any) -> Any:
    """Fold one event's value into a partial aggregate."""
    if feature.agg is Agg.COUNT:
        return (partial or 0) + 1 or None  # a withdrawal that came first, now made good
    if feature.agg is Agg.DISTINCT:
        values: list[int] = partial or []
        # Any `cap` values of a bucket keep min(distinct, cap) exact over its union.
        if value not in values and len(values) < feature.cap:
            values.append(value)
        return values
    if feature.agg is Agg.MAX:
        return value if partial is None else max(partial, value)
    assert feature.of is not None
    count, total = partial or (0, 0)
    return [count + 1, total + round(value * VALUE_SCALE.get(feature.of, 1))]
