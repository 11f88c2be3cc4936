"""Online aggregate state: what the online store keeps so a window is evaluated when read.

Per entity the state holds, per stream, the recent events themselves (their
time and the values features aggregate), and per feature what older events
were folded into: time-bucketed partial aggregates (counts, integer sums,
maxima, capped sets of value hashes) or first/last-seen times, never a
finished number.

Why the recent events are kept apart: events do not arrive in time order (an
order is scored a little late, a decline or a label comes from another
system), and a read at time `t` must count exactly the events before `t`. A
bucket cannot tell which of its events came before `t`; the recent list can.
An event is folded into its feature buckets once it is `lateness_ms` older
than the newest event of its stream (or when the list is full), and the
stream remembers the newest time it folded (`folded_to`). A read at `t` after
that time is exact: every folded event is before `t`, every recent one is
checked. A read at or before it (an order later than the lateness bound)
still counts its own bucket's folded events; the README says so.

A future event never prunes what earlier reads need: buckets are dropped only
when they left the window of every read the state can still answer exactly.
"""

from __future__ import annotations

import bisect
import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson

from features.columns import lead_ms
from features.spec import BUCKETS_PER_WINDOW, VALUE_SCALE, Agg, Aggregate, Stream

MS_PER_HOUR = 3_600_000.0
EntityState = dict[str, Any]
# How late an event may arrive, after the newest one of its stream, and still be exact.
LATENESS_MS = 600_000
# Recent events kept per entity and stream; beyond, the oldest are folded early.
RECENT_CAP = 256
# A stream's part of the state: [folded_to, newest, [column, ...], [[time, value, ...], ...]].
FOLDED_TO, NEWEST, COLUMNS, RECENT = 0, 1, 2, 3


def stream_field(stream: Stream) -> str:
    """Return the state field of a stream's recent events (no feature has an '@')."""
    return "@" + stream.value


def value_hash(value: object) -> int:
    """Return the 53-bit hash a distinct-value set keeps of a value (exact in any JSON)."""
    digest = hashlib.blake2b(str(value).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 11


@cache
def stream_values(features: tuple[Aggregate, ...], stream: Stream) -> tuple[str, ...]:
    """Return the order columns a stream's recent events keep, for these features."""
    return _plan(features, stream).columns


@dataclass(frozen=True)
class _Plan:
    """What applying one stream's events to one entity's features needs, worked out once."""

    features: tuple[Aggregate, ...]
    columns: tuple[str, ...]
    hashed: frozenset[str]


@cache
def _plan(features: tuple[Aggregate, ...], stream: Stream) -> _Plan:
    """Return the features on `stream`, the columns its events keep and those kept as hashes."""
    on_stream = tuple(f for f in features if f.stream is stream)
    hashed = {f.of for f in on_stream if f.agg is Agg.DISTINCT and f.of is not None}
    summed = {f.of for f in on_stream if f.agg is not Agg.DISTINCT and f.of is not None}
    if hashed & summed:
        raise ValueError(f"a column is both counted distinct and summed: {hashed & summed}")
    return _Plan(on_stream, tuple(sorted(hashed | summed)), frozenset(hashed))


def _value_known(value: object) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _kept(column: str, value: object, hashed: frozenset[str]) -> object:
    """Return an event's value as a recent event keeps it (None: missing)."""
    if not _value_known(value):
        return None
    return value_hash(value) if column in hashed else float(value)  # type: ignore[arg-type]


def window_start(feature: Aggregate, t_ms: int) -> int:
    """Return the first millisecond a bucketed window read at `t_ms` covers."""
    bucket = feature.bucket_ms
    assert bucket is not None
    return (t_ms // bucket) * bucket - (BUCKETS_PER_WINDOW - 1) * bucket


def apply_event(
    state: EntityState,
    features: Sequence[Aggregate],
    stream: Stream,
    time_ms: int,
    order: Mapping[str, Any],
    lateness_ms: int = LATENESS_MS,
) -> None:
    """Add one event of an order on a stream to an entity's state (its features on that stream)."""
    plan = _plan(tuple(features), stream)
    if not plan.features:
        return
    posted = time_ms - lead_ms(stream)
    part = state.setdefault(stream_field(stream), [None, posted, list(plan.columns), []])
    columns: list[str] = part[COLUMNS]
    recent: list[list[Any]] = part[RECENT]
    bisect.insort(recent, recent_event(plan, columns, time_ms, order), key=lambda e: int(e[0]))
    before = int(part[NEWEST]) - lateness_ms
    part[NEWEST] = max(int(part[NEWEST]), posted)
    horizon = int(part[NEWEST]) - lateness_ms
    folded_to = part[FOLDED_TO]
    while recent and (
        recent[0][0] < horizon
        or len(recent) > RECENT_CAP
        or (folded_to is not None and recent[0][0] <= folded_to)
    ):
        oldest = recent.pop(0)
        for feature in plan.features:
            _fold(state, feature, oldest[0], _value_of(feature, columns, oldest))
        folded_to = oldest[0] if folded_to is None else max(folded_to, oldest[0])
    part[FOLDED_TO] = folded_to
    for feature in plan.features:
        _prune(state, feature, before, horizon)


def recent_event(
    plan: _Plan, columns: Sequence[str], time_ms: int, order: Mapping[str, Any]
) -> list[Any]:
    """Return an event as a stream's recent list keeps it: its time, then its kept values."""
    return [time_ms, *(_kept(c, order.get(c), plan.hashed) for c in columns)]


def stream_plan(features: Sequence[Aggregate], stream: Stream) -> _Plan:
    """Return what applying events of `stream` to these features needs (for snapshots)."""
    return _plan(tuple(features), stream)


def _value_of(feature: Aggregate, columns: Sequence[str], event: Sequence[Any]) -> Any:
    return None if feature.of is None else event[1 + columns.index(feature.of)]


def _fold(state: EntityState, feature: Aggregate, time_ms: int, value: Any) -> None:
    """Fold one event into a feature's partial aggregates."""
    if feature.agg in (Agg.HOURS_SINCE_FIRST, Agg.HOURS_SINCE_LAST):
        previous = state.get(feature.name)
        pick = min if feature.agg is Agg.HOURS_SINCE_FIRST else max
        state[feature.name] = time_ms if previous is None else pick(previous, time_ms)
        return
    if feature.agg is not Agg.COUNT and value is None:
        return
    if feature.bucket_ms is None:
        state[feature.name] = _merge(feature, state.get(feature.name), value)
        return
    buckets: dict[str, Any] = state.setdefault(feature.name, {})
    start = str((time_ms // feature.bucket_ms) * feature.bucket_ms)
    buckets[start] = _merge(feature, buckets.get(start), value)


def _prune(state: EntityState, feature: Aggregate, before_ms: int, horizon_ms: int) -> None:
    """Drop the buckets no exact read can need any more, once the horizon's window moved on."""
    buckets = state.get(feature.name)
    if feature.bucket_ms is None or not buckets:
        return
    oldest = window_start(feature, horizon_ms)
    if oldest == window_start(feature, before_ms):
        return  # nothing left the window since the last event: no key to look at
    for stale in [k for k in buckets if int(k) < oldest]:
        del buckets[stale]


def _merge(feature: Aggregate, partial: Any, value: Any) -> Any:
    """Fold one event's value into a partial aggregate."""
    if feature.agg is Agg.COUNT:
        return (partial or 0) + 1
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


def evaluate(state: EntityState | None, feature: Aggregate, t_ms: int) -> float:
    """Return a feature's value read at time `t_ms`: the events before it, as offline."""
    state = state or {}
    partial = state.get(feature.name)
    oldest = None if feature.bucket_ms is None else window_start(feature, t_ms)
    recent = _recent_values(state, feature, t_ms, oldest)
    if feature.agg in (Agg.HOURS_SINCE_FIRST, Agg.HOURS_SINCE_LAST):
        if partial is not None and partial < t_ms:
            recent.append(partial)
        if not recent:
            return math.nan
        seen: int = min(recent) if feature.agg is Agg.HOURS_SINCE_FIRST else max(recent)
        return (t_ms - seen) / MS_PER_HOUR
    if feature.bucket_ms is None or oldest is None:
        parts = [] if partial is None else [partial]
    else:
        last = (t_ms // feature.bucket_ms) * feature.bucket_ms
        parts = [p for start, p in (partial or {}).items() if oldest <= int(start) <= last]
    return _finish(feature, parts, recent)


def _recent_values(
    state: EntityState, feature: Aggregate, t_ms: int, oldest: int | None
) -> list[Any]:
    """Return what the recent events a read at `t_ms` counts hold (their times, for counts)."""
    part = state.get(stream_field(feature.stream))
    if not part:
        return []
    lower = -math.inf if oldest is None else oldest
    events = [e for e in part[RECENT] if lower <= e[0] < t_ms]
    if feature.of is None:
        return [e[0] for e in events]
    index = 1 + part[COLUMNS].index(feature.of)
    return [e[index] for e in events]


def _finish(feature: Aggregate, parts: list[Any], recent: list[Any]) -> float:
    if feature.agg is Agg.COUNT:
        return float(sum(parts) + len(recent))
    values = [v for v in recent if v is not None]
    if feature.agg is Agg.DISTINCT:
        union = {v for part in parts for v in part}.union(values)
        return float(min(len(union), feature.cap))
    if feature.agg is Agg.MAX:
        found = [*parts, *values]
        return max(found) if found else math.nan
    assert feature.of is not None
    scale = VALUE_SCALE.get(feature.of, 1)
    count = sum(p[0] for p in parts) + len(values)
    total = (sum(p[1] for p in parts) + sum(round(v * scale) for v in values)) / scale
    if feature.agg is Agg.SUM:
        return float(total)
    return total / count if count else math.nan


def dumps(state: EntityState) -> str:
    """Serialise a state for the online store."""
    return orjson.dumps(state).decode()


def loads(text: str | None) -> EntityState:
    """Read a state from the online store (an unseen entity has an empty state)."""
    return orjson.loads(text) if text else {}
