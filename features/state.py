"""Online aggregate state: what the online store keeps so a window is evaluated when read.

Per entity the state holds, per stream, the recent events themselves (their
time and the values features aggregate), and per feature what older events
were folded into: time-bucketed partial aggregates (counts, integer sums,
maxima, capped sets of value hashes) or first/last-seen times, never a
finished number (`features.partials`).

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

A withdrawal (a fraud label that a legitimate one withdrew) is kept the same
way, as the time it was withdrawn and the time the label counted from: reads
after the withdrawal stop counting it; once folded, it takes the label out of
the bucket it was counted in.
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
from features.partials import EntityState as EntityState
from features.partials import fold, prune, unfold, window_parts, window_start
from features.spec import VALUE_SCALE, Agg, Aggregate, Stream

MS_PER_HOUR = 3_600_000.0
# How late an event may arrive, after the newest one of its stream, and still be exact.
LATENESS_MS = 600_000
# Recent events kept per entity and stream; beyond, the oldest are folded early.
RECENT_CAP = 256
# A stream's part of the state: [folded_to, newest, [column, ...], [[time, value, ...], ...],
# [[withdrawn at, counted at], ...]] (the last only once something was withdrawn).
FOLDED_TO, NEWEST, COLUMNS, RECENT, WITHDRAWN = 0, 1, 2, 3, 4


def stream_field(stream: Stream) -> str:
    """Return the state field of a stream's recent events (no feature has an '@')."""
    return "@" + stream  # a `StrEnum` is its value: no `.value` lookup per read


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


def apply_event(
    state: EntityState,
    features: Sequence[Aggregate],
    stream: Stream,
    time_ms: int,
    order: Mapping[str, Any],
    lateness_ms: int = LATENESS_MS,
    withdraws_ms: int | None = None,
) -> None:
    """Add one event of an order on a stream to an entity's state (its features on that stream).

    With `withdraws_ms`, the event withdraws, from `time_ms` on, the order's event
    counted at `withdraws_ms` (counts only: a fraud label that a legitimate one withdrew).
    """
    plan = _plan(tuple(features), stream)
    if not plan.features:
        return
    posted = time_ms - lead_ms(stream)
    part = state.setdefault(stream_field(stream), [None, posted, list(plan.columns), []])
    columns: list[str] = part[COLUMNS]
    if withdraws_ms is None:
        event = recent_event(plan, columns, time_ms, order)
        bisect.insort(part[RECENT], event, key=lambda e: int(e[0]))
    else:
        if len(part) == WITHDRAWN:
            part.append([])
        bisect.insort(part[WITHDRAWN], [time_ms, withdraws_ms], key=lambda e: int(e[0]))
    before = int(part[NEWEST]) - lateness_ms
    part[NEWEST] = max(int(part[NEWEST]), posted)
    horizon = int(part[NEWEST]) - lateness_ms
    _fold_due(state, plan, part, horizon)
    for feature in plan.features:
        prune(state, feature, before, horizon)


def _fold_due(state: EntityState, plan: _Plan, part: list[Any], horizon: int) -> None:
    """Fold, in time order, the recent events and withdrawals that are due.

    Due: older than the horizon, beyond the cap, or not after what was folded
    already (so every kept one stays after `folded_to`, which exact reads need).
    A withdrawal folds the events before it first: the event it withdraws is
    in its bucket by then.
    """
    recent: list[list[Any]] = part[RECENT]
    withdrawn: list[list[int]] = part[WITHDRAWN] if len(part) > WITHDRAWN else []

    def due(kept: list[list[Any]]) -> bool:
        folded_to = part[FOLDED_TO]
        return bool(kept) and (
            kept[0][0] < horizon
            or len(kept) > RECENT_CAP
            or (folded_to is not None and kept[0][0] <= folded_to)
        )

    def fold_oldest() -> None:
        oldest = recent.pop(0)
        for feature in plan.features:
            value = _value_of(feature, part[COLUMNS], oldest)
            fold(state, feature, oldest[0], value, horizon)
        _folded_to(part, oldest[0])

    while due(recent) or due(withdrawn):
        if not due(withdrawn) or (due(recent) and recent[0][0] < withdrawn[0][0]):
            fold_oldest()
            continue
        at, counted_at = withdrawn.pop(0)
        while recent and recent[0][0] < at:
            fold_oldest()
        for feature in plan.features:
            unfold(state, feature, counted_at, horizon)
        _folded_to(part, at)


def _folded_to(part: list[Any], time_ms: int) -> None:
    folded_to = part[FOLDED_TO]
    part[FOLDED_TO] = time_ms if folded_to is None else max(folded_to, time_ms)


def recent_event(
    plan: _Plan, columns: Sequence[str], time_ms: int, order: Mapping[str, Any]
) -> list[Any]:
    """Return an event as a stream's recent list keeps it: its time, then its kept values."""
    return [time_ms, *(_kept(c, order.get(c), plan.hashed) for c in columns)]


def stream_plan(features: Sequence[Aggregate], stream: Stream) -> _Plan:
    """Return what applying events of `stream` to these features needs (for snapshots)."""
    return _plan(tuple(features), stream)


def _value_of(feature: Aggregate, columns: Sequence[str], event: Sequence[Any]) -> Any:
    if feature.of is None or feature.of not in columns:
        return None  # not kept: the event came under a spec without this feature
    return event[1 + columns.index(feature.of)]


def evaluate(state: EntityState | None, feature: Aggregate, t_ms: int) -> float:
    """Return a feature's value read at time `t_ms`: the events before it, as offline."""
    return evaluate_all(state, (feature,), t_ms)[0]


def evaluate_all(
    state: EntityState | None, features: Sequence[Aggregate], t_ms: int
) -> list[float]:
    """Return the values of one entity's features read at `t_ms`, each as `evaluate`.

    A stream's recent events before `t_ms` are picked once per window start,
    not once per feature: an order reads dozens of features from few windows.
    """
    state = state or {}
    picked: dict[tuple[str, float], list[list[Any]]] = {}
    return [_value_at(state, feature, t_ms, picked) for feature in features]


def _value_at(
    state: EntityState,
    feature: Aggregate,
    t_ms: int,
    picked: dict[tuple[str, float], list[list[Any]]],
) -> float:
    partial = state.get(feature.name)
    oldest = None if feature.bucket_ms is None else window_start(feature, t_ms)
    recent = _recent_values(state, feature, t_ms, oldest, picked)
    if recent is None:
        return math.nan  # kept under a spec without this feature's column: not known
    if feature.agg in (Agg.HOURS_SINCE_FIRST, Agg.HOURS_SINCE_LAST):
        if partial is not None and partial < t_ms:
            recent.append(partial)
        if not recent:
            return math.nan
        seen: int = min(recent) if feature.agg is Agg.HOURS_SINCE_FIRST else max(recent)
        return (t_ms - seen) / MS_PER_HOUR
    parts = window_parts(state, feature, t_ms)
    if feature.agg is Agg.COUNT:
        # Never below zero: a withdrawal can be applied before the label it withdraws.
        counted = sum(parts) + len(recent) - _withdrawn(state, feature, t_ms, oldest)
        return float(max(counted, 0))
    return _finish(feature, parts, recent)


def _withdrawn(state: EntityState, feature: Aggregate, t_ms: int, oldest: int | None) -> int:
    """Count the kept withdrawals a read at `t_ms` sees, of events its window still holds."""
    part = state.get(stream_field(feature.stream))
    if not part or len(part) <= WITHDRAWN:
        return 0
    lower = -math.inf if oldest is None else oldest
    return sum(1 for at, counted_at in part[WITHDRAWN] if at < t_ms and counted_at >= lower)


def _recent_values(
    state: EntityState,
    feature: Aggregate,
    t_ms: int,
    oldest: int | None,
    picked: dict[tuple[str, float], list[list[Any]]],
) -> list[Any] | None:
    """Return what the recent events a read at `t_ms` counts hold (their times, for counts).

    None when they do not keep the feature's column: the state was written under a
    spec without the feature, and its value is missing until the state is rebuilt.
    `picked` keeps the events a read picked, by stream and window start, for the next feature.
    """
    field = stream_field(feature.stream)
    part = state.get(field)
    if not part:
        return []
    lower = -math.inf if oldest is None else oldest
    events = picked.get((field, lower))
    if events is None:
        events = picked[field, lower] = [e for e in part[RECENT] if lower <= e[0] < t_ms]
    if feature.of is None:
        return [e[0] for e in events]
    if feature.of not in part[COLUMNS]:
        return None
    index = 1 + part[COLUMNS].index(feature.of)
    return [e[index] for e in events]


def _finish(feature: Aggregate, parts: list[Any], recent: list[Any]) -> float:
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
