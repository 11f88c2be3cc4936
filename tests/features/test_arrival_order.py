"""Online features stay exact whatever order events arrive in: late, repeated, after quiet gaps.

Streams of orders, declines, fraud labels and their withdrawals (a later
legitimate label) arrive shuffled within the lateness bound, some twice,
through the online path itself (`holding` → read → `record`, on the embedded
store). Each order's served aggregates must equal the offline point-in-time
values computed over the events that had arrived before it; at the end every
entity, read at later times, must equal the offline values over every event.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.aggregates import AGGREGATES
from features.build import build_offline_sources
from features.columns import DECLINE_DELAY_MS, enrich, to_columns
from features.offline import point_in_time
from features.online import OnlineFeatures
from features.schema import conform
from features.settings import FeatureSettings
from features.spec import Columns, Stream
from features.store import apply, materialize, open_store
from tests.features.eventlog import one_order, random_orders, with_probes

LATENESS_MS = 60_000
START = pd.Timestamp("2026-06-01", tz="UTC")
NOT_YET = START + pd.Timedelta(days=36_500)  # a label time after every read of the test
GAPS_MS = (0, 1, 500, 20_000, 45_000, 600_000, 2 * 3_600_000, 3 * 86_400_000)
NAMES = [f.name for f in AGGREGATES]
_examples = itertools.count()


@pytest.fixture(scope="module")
def online(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OnlineFeatures]:
    """The embedded store with a small materialized history (keys of its own, never reused)."""
    data = tmp_path_factory.mktemp("arrival") / "data"
    settings = FeatureSettings(data_dir=Path(data), online_lateness_seconds=LATENESS_MS / 1000)
    build_offline_sources(random_orders(200, seed=3), settings)
    apply(settings)
    materialize(settings)
    yield OnlineFeatures(open_store(settings), settings)


@dataclass(frozen=True)
class Arrival:
    """One event as it reaches the online path: its order row, stream, time and arrival key."""

    row: int
    stream: Stream
    time_ms: int
    arrives: float
    withdraws_ms: int | None = None
    """The fraud label's time, for the legitimate label that withdraws it."""

    @property
    def kind(self) -> tuple[int, str]:
        """Return what arrived: the row and its stream, or its withdrawal."""
        return self.row, "withdrawn" if self.withdraws_ms is not None else self.stream.value


@st.composite
def histories(draw: st.DrawFn) -> tuple[pd.DataFrame, list[Arrival]]:
    """Draw orders on a few shared entities and the shuffled, repeated arrival of their events."""
    example = next(_examples)
    n = draw(st.integers(3, 18))
    gaps = draw(st.lists(st.sampled_from(GAPS_MS), min_size=n, max_size=n))
    times = START + pd.to_timedelta(np.cumsum(gaps), unit="ms")

    def pick(prefix: str) -> list[str]:
        chosen = draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
        return [f"{prefix}{example}-{k}" for k in chosen]

    clusters = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    fraud = draw(
        st.lists(st.sampled_from([None, 1_000, 70_000, 86_400_000]), min_size=n, max_size=n)
    )
    withdrawn_after = draw(
        st.lists(
            st.sampled_from([None, None, 1, 30_000, 5_000_000, 40 * 86_400_000]),
            min_size=n,
            max_size=n,
        )
    )
    withdrawals = [
        None if f is None or w is None else t + pd.Timedelta(milliseconds=f + w)
        for t, f, w in zip(times, fraud, withdrawn_after, strict=True)
    ]
    amounts = draw(st.lists(st.integers(1, 50_000), min_size=n, max_size=n))
    frame = conform(
        pd.DataFrame(
            {
                "order_id": [f"arrival-{example}-{i}" for i in range(n)],
                "created_at": times,
                "customer_id": pick("c"),
                "device_id": pick("d"),
                "ip": [f"2001:db8:{2 * example + k:x}::7" for k in clusters],
                "payment_id": pick("p"),
                "shipping_address_id": pick("a"),
                "amount": [a / 100 for a in amounts],
                "limited_quantity": draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)),
                "payment_declined": draw(st.lists(st.booleans(), min_size=n, max_size=n)),
                "label": [
                    np.nan if f is None else 0.0 if w is not None else 1.0
                    for f, w in zip(fraud, withdrawals, strict=True)
                ],
                "label_known_at": [
                    pd.NaT
                    if f is None
                    else w
                    if w is not None
                    else t + pd.Timedelta(milliseconds=f)
                    for t, f, w in zip(times, fraud, withdrawals, strict=True)
                ],
                "fraud_known_at": [
                    pd.NaT if w is None or f is None else t + pd.Timedelta(milliseconds=f)
                    for t, f, w in zip(times, fraud, withdrawals, strict=True)
                ],
            }
        )
    )
    # Read back what the frame holds: conforming it sorts the rows.
    columns = to_columns(frame)
    arrivals: list[Arrival] = []
    for i in range(n):
        created = int(columns["created_at"][i])
        order_key = created + draw(st.floats(0, LATENESS_MS - 1))
        arrivals.append(Arrival(i, Stream.ORDERS, created, order_key))
        later: list[tuple[Stream, int]] = []
        if columns["payment_declined"][i] == 1.0:
            later.append((Stream.DECLINES, created + DECLINE_DELAY_MS))
        withdrawn = not np.isnan(columns["fraud_known_at"][i])
        if columns["label"][i] == 1.0 or withdrawn:
            counted = columns["fraud_known_at" if withdrawn else "label_known_at"][i]
            later.append((Stream.FRAUD, int(counted)))
            # The first label also counts the order as labelled, as a separate event.
            later.append((Stream.LABELS, int(counted)))
        for stream, at in later:
            # An outcome never reaches the store before its order was scored; a decline
            # is posted at once, before the moment it counts from.
            posted = created if stream is Stream.DECLINES else at
            key = max(posted + draw(st.floats(0, LATENESS_MS - 1)), order_key + 1)
            arrivals.append(Arrival(i, stream, at, key))
        if withdrawn:
            # The legitimate label comes after the fraud label it withdraws.
            at, counted_key = int(columns["label_known_at"][i]), arrivals[-1].arrives
            key = max(at + draw(st.floats(0, LATENESS_MS - 1)), counted_key + 1)
            arrivals.append(Arrival(i, Stream.FRAUD, at, key, int(columns["fraud_known_at"][i])))
    arrivals.sort(key=lambda a: a.arrives)
    for arrival in draw(st.lists(st.sampled_from(arrivals), max_size=4)):
        again = arrival.arrives + draw(st.floats(1, LATENESS_MS - 1))
        arrivals.append(
            Arrival(arrival.row, arrival.stream, arrival.time_ms, again, arrival.withdraws_ms)
        )
    arrivals.sort(key=lambda a: a.arrives)
    return frame, arrivals


def _arrived(frame: pd.DataFrame, seen: set[tuple[int, str]], row: int) -> pd.DataFrame:
    """Return the log as far as it had arrived: its orders, declines and labels in `seen`.

    The order `row` is kept too (its features never count it). A fraud label whose
    withdrawal has not arrived yet still counts.
    """
    kept = frame.copy()
    rows = range(len(frame))
    placed = [(i, Stream.ORDERS.value) in seen or i == row for i in rows]
    kept["payment_declined"] = [(i, Stream.DECLINES.value) in seen for i in rows]
    pending = (
        np.array([(i, "withdrawn") not in seen for i in rows]) & kept["fraud_known_at"].notna()
    )
    kept.loc[pending, "label"] = 1.0
    kept.loc[pending, "label_known_at"] = kept.loc[pending, "fraud_known_at"]
    kept.loc[pending, "fraud_known_at"] = pd.NaT
    no_label = np.array([(i, Stream.FRAUD.value) not in seen for i in rows])
    for column in ("label", "label_known_at", "fraud_known_at"):
        kept[column] = kept[column].where(~no_label)
    # Labelled from the first label's time once that event arrived; until then, after every read.
    first = frame["fraud_known_at"].fillna(frame["label_known_at"])
    arrived = np.array([(i, Stream.LABELS.value) in seen for i in rows])
    kept["labelled_at"] = first.where(arrived, NOT_YET).where(frame["label"].notna())
    return conform(kept[placed].reset_index(drop=True))


def _offline(columns: Columns, at: int) -> dict[str, float]:
    values = point_in_time(columns, AGGREGATES)
    return {name: float(values[name][at]) for name in NAMES}


def _served(online: OnlineFeatures, order: Columns) -> dict[str, float]:
    with online.holding(order, Stream.ORDERS, int(order["created_at"][0])) as held:
        return dict(zip(NAMES, held.served(NAMES).matrix[0].tolist(), strict=True))


def _differences(served: dict[str, float], expected: dict[str, float]) -> dict[str, object]:
    def same(a: float, b: float) -> bool:
        return (math.isnan(a) and math.isnan(b)) or a == b

    return {n: (served[n], expected[n]) for n in NAMES if not same(served[n], expected[n])}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories())
def test_every_order_reads_exactly_the_events_before_it_that_had_arrived(
    online: OnlineFeatures, history: tuple[pd.DataFrame, list[Arrival]]
) -> None:
    frame, arrivals = history
    columns = to_columns(enrich(frame))
    seen: set[tuple[int, str]] = set()
    for arrival in arrivals:
        order = one_order(columns, arrival.row)
        if arrival.stream is Stream.ORDERS and arrival.kind not in seen:
            with online.holding(order, Stream.ORDERS, arrival.time_ms) as held:
                served = dict(zip(NAMES, held.served(NAMES).matrix[0].tolist(), strict=True))
                arrived = to_columns(enrich(_arrived(frame, seen, arrival.row)))
                at = int(np.flatnonzero(arrived["order_id"] == columns["order_id"][arrival.row])[0])
                wrong = _differences(served, _offline(arrived, at))
                assert not wrong, (arrival, wrong)
                held.record()
        else:
            online.record(order, arrival.stream, arrival.time_ms, withdraws_ms=arrival.withdraws_ms)
        seen.add(arrival.kind)
    # After the last event, through quiet periods: every entity as offline over all events.
    last = max(a.time_ms for a in arrivals)
    for later in (last + 1, last + 61_000, last + 3 * 3_600_000, last + 40 * 86_400_000):
        every, probes = with_probes(frame, range(len(frame)), later)
        for row, at in enumerate(probes):
            wrong = _differences(_served(online, one_order(every, at)), _offline(every, at))
            assert not wrong, (later, row, wrong)
