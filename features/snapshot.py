"""The online state of every entity as of one moment, built from the event log at once.

`ordershield features materialize` loads these states into the online store;
from then on each scored order updates them (`features.state.apply_event`).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from features.columns import lead_ms, scaled_integers
from features.offline import fraud_withdrawals, stream_times, window_start
from features.partials import as_runs
from features.spec import Agg, Aggregate, Columns, Entity, Stream
from features.state import (
    RECENT,
    EntityState,
    recent_event,
    stream_field,
    stream_plan,
    stream_values,
    value_hash,
)


def _events(orders: Columns, feature: Aggregate, as_of_ms: int) -> pd.DataFrame:
    times = stream_times(orders, feature.stream)
    keys = orders[feature.entity.key]
    mask = ~np.isnan(times) & (times < as_of_ms) & pd.notna(keys)
    if feature.stream is Stream.FRAUD:
        withdrawn, at = fraud_withdrawals(orders)
        mask &= ~(withdrawn & (at < as_of_ms))  # counted, then withdrawn: nothing left
    frame = pd.DataFrame({"key": keys[mask], "time": times[mask].astype(np.int64)})
    if feature.of is not None:
        frame["value"] = orders[feature.of][mask]
        frame = frame[frame["value"].notna()]
        if feature.agg is Agg.DISTINCT:
            frame["value"] = [value_hash(v) for v in frame["value"]]
    if feature.bucket_ms is not None:
        oldest = int(window_start(np.array([as_of_ms]), feature)[0])
        frame = frame[frame["time"] >= oldest]
        frame["bucket"] = (frame["time"] // feature.bucket_ms * feature.bucket_ms).astype(str)
    return frame


def _partials(feature: Aggregate, frame: pd.DataFrame) -> pd.Series:
    """Return, per key (and bucket), the partial aggregate the online state keeps."""
    by = ["key", "bucket"] if feature.bucket_ms is not None else ["key"]
    grouped = frame.groupby(by, sort=False)
    if feature.agg is Agg.COUNT:
        return grouped.size()
    if feature.agg is Agg.HOURS_SINCE_FIRST:
        return grouped["time"].min()
    if feature.agg is Agg.HOURS_SINCE_LAST:
        return grouped["time"].max()
    if feature.agg is Agg.DISTINCT:
        return _value_sets(frame.drop_duplicates([*by, "value"]), by, feature.cap)
    if feature.agg is Agg.MAX:
        return grouped["value"].max().astype(float)
    assert feature.of is not None
    frame = frame.assign(scaled=scaled_integers(feature.of, frame["value"].to_numpy(dtype=float)))
    sums = frame.groupby(by, sort=False)["scaled"].agg(["size", "sum"])
    return pd.Series(
        [[int(c), int(s)] for c, s in zip(sums["size"], sums["sum"], strict=True)], index=sums.index
    )


def _value_sets(frame: pd.DataFrame, by: list[str], cap: int) -> pd.Series:
    """Return, per group, up to `cap` of its distinct values (frame already de-duplicated)."""
    if frame.empty:
        return pd.Series([], dtype=object)
    frame = frame.sort_values(by, kind="stable")
    keys = frame[by].to_numpy()
    change = np.ones(len(frame), dtype=bool)
    change[1:] = (keys[1:] != keys[:-1]).any(axis=1)
    starts = np.flatnonzero(change)
    groups = np.split(frame["value"].to_numpy(), starts[1:])
    index = (
        pd.MultiIndex.from_arrays([frame[c].to_numpy()[starts] for c in by])
        if len(by) > 1
        else pd.Index(frame[by[0]].to_numpy()[starts])
    )
    return pd.Series([g[:cap].tolist() for g in groups], index=index, dtype=object)


def snapshot(
    orders: Columns, entity: Entity, aggregates: Iterable[Aggregate], as_of_ms: int
) -> dict[str, EntityState]:
    """Return each entity's online state as of `as_of_ms` (events strictly before it).

    Every event is folded, up to the moment before `as_of_ms`: reads from then on are exact.
    """
    features = tuple(f for f in aggregates if f.entity == entity)
    states: dict[str, EntityState] = {}
    for stream in {f.stream for f in features}:
        times = stream_times(orders, stream)
        keys = orders[entity.key]
        # Posted before the snapshot but counting after it (declines): kept as recent events.
        ahead = (times >= as_of_ms) & (times - lead_ms(stream) < as_of_ms) & pd.notna(keys)
        touched = (~np.isnan(times) & (times < as_of_ms) & pd.notna(keys)) | ahead
        columns = list(stream_values(features, stream))
        for key in pd.unique(keys[touched]):
            part = [as_of_ms - 1, as_of_ms - 1, columns, []]
            states.setdefault(str(key), {})[stream_field(stream)] = part
        plan = stream_plan(features, stream)
        for row in sorted(np.flatnonzero(ahead), key=lambda r: times[r]):
            order = {name: values[row] for name, values in orders.items()}
            event = recent_event(plan, columns, int(times[row]), order)
            states[str(keys[row])][stream_field(stream)][RECENT].append(event)
    for feature in features:
        events = _events(orders, feature, as_of_ms)
        if events.empty:
            continue  # no event in the window: nothing to keep (and no bucket level to read)
        partials = _partials(feature, events)
        values = [_plain(p) for p in partials.to_numpy()]
        if feature.bucket_ms is None:
            for key, partial in zip(partials.index.to_numpy(), values, strict=True):
                states.setdefault(str(key), {})[feature.name] = partial
        else:
            keys = partials.index.get_level_values(0).to_numpy()
            buckets = partials.index.get_level_values(1).to_numpy()
            for key, bucket, partial in zip(keys, buckets, values, strict=True):
                states.setdefault(str(key), {}).setdefault(feature.name, {})[bucket] = partial
    return {key: as_runs(state, features) for key, state in states.items()}


def _plain(value: object) -> object:
    """Return numpy scalars as plain Python values for JSON."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
