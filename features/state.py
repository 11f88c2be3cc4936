"""Online aggregate state: what the online store keeps so a window is evaluated when read.

Per entity the state holds, per feature, time-bucketed partial aggregates
(counts, integer sums, maxima, value sets) or first/last-seen times, never a
finished number. Reading at time `t` keeps only the buckets the window covers
at `t`, so values decay in quiet periods exactly as `features.offline`
computes them for training.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import orjson

from features.spec import BUCKETS_PER_WINDOW, VALUE_SCALE, Agg, Aggregate, Stream

MS_PER_HOUR = 3_600_000.0
EntityState = dict[str, Any]


def _first_bucket(feature: Aggregate, t_ms: int) -> int:
    bucket = feature.bucket_ms
    assert bucket is not None
    return (t_ms // bucket) * bucket - (BUCKETS_PER_WINDOW - 1) * bucket


def _value_known(value: object) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def apply(state: EntityState, feature: Aggregate, time_ms: int, value: object = None) -> None:
    """Add one event (and, for value features, its value) to a feature's state."""
    if feature.agg in (Agg.HOURS_SINCE_FIRST, Agg.HOURS_SINCE_LAST):
        previous = state.get(feature.name)
        pick = min if feature.agg is Agg.HOURS_SINCE_FIRST else max
        state[feature.name] = time_ms if previous is None else pick(previous, time_ms)
        return
    if feature.agg is not Agg.COUNT and not _value_known(value):
        return
    if feature.bucket_ms is None:
        state[feature.name] = _merge(feature, state.get(feature.name), value)
        return
    buckets: dict[str, Any] = state.setdefault(feature.name, {})
    start = (time_ms // feature.bucket_ms) * feature.bucket_ms
    buckets[str(start)] = _merge(feature, buckets.get(str(start)), value)
    oldest = _first_bucket(feature, time_ms)
    for stale in [k for k in buckets if int(k) < oldest]:
        del buckets[stale]


def _merge(feature: Aggregate, partial: Any, value: object) -> Any:
    """Fold one event into a partial aggregate."""
    if feature.agg is Agg.COUNT:
        return (partial or 0) + 1
    if feature.agg is Agg.DISTINCT:
        values = partial or []
        if value not in values:
            values.append(value)
        return values
    if feature.agg is Agg.MAX:
        return float(value) if partial is None else max(partial, float(value))  # type: ignore[arg-type]
    assert feature.of is not None
    scaled = round(float(value) * VALUE_SCALE.get(feature.of, 1))  # type: ignore[arg-type]
    count, total = partial or (0, 0)
    return [count + 1, total + scaled]


def evaluate(state: EntityState | None, feature: Aggregate, t_ms: int) -> float:
    """Return a feature's value read at time `t_ms` (the same as offline for that time)."""
    partial = (state or {}).get(feature.name)
    if feature.agg in (Agg.HOURS_SINCE_FIRST, Agg.HOURS_SINCE_LAST):
        return math.nan if partial is None else (t_ms - partial) / MS_PER_HOUR
    if feature.bucket_ms is None:
        parts = [] if partial is None else [partial]
    else:
        oldest = _first_bucket(feature, t_ms)
        parts = [p for start, p in (partial or {}).items() if int(start) >= oldest]
    return _finish(feature, parts)


def _finish(feature: Aggregate, parts: list[Any]) -> float:
    if feature.agg is Agg.COUNT:
        return float(sum(parts))
    if feature.agg is Agg.DISTINCT:
        return float(len({v for part in parts for v in part}))
    if feature.agg is Agg.MAX:
        return max(parts) if parts else math.nan
    assert feature.of is not None
    count = sum(p[0] for p in parts)
    total = sum(p[1] for p in parts) / VALUE_SCALE.get(feature.of, 1)
    if feature.agg is Agg.SUM:
        return float(total)
    return total / count if count else math.nan


def apply_event(
    state: EntityState,
    features: Iterable[Aggregate],
    stream: Stream,
    time_ms: int,
    order: dict[str, Any],
) -> None:
    """Apply one order's event on a stream to every feature of an entity on that stream."""
    for feature in features:
        if feature.stream is stream:
            apply(state, feature, time_ms, order.get(feature.of) if feature.of else None)


def dumps(state: EntityState) -> str:
    """Serialise a state for the online store."""
    return orjson.dumps(state).decode()


def loads(text: str | None) -> EntityState:
    """Read a state from the online store (an unseen entity has an empty state)."""
    return orjson.loads(text) if text else {}
