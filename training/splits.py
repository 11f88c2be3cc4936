"""Out-of-time split for `train`: training, validation, a label-maturity gap, then test.

Each period is [start, end) and they follow each other: validation starts where training
ends (the model stops early and its cut points are chosen on it), the test period starts
`gap` after validation ends, or later at `--test-start`. Orders in the gap are used by no one.

Which labels count follows `training.protocol`: once any period option is given, training
and validation learn only from labels known before the test start (`labels_known_before`;
an order whose label was not known then is left out, never taken as legitimate), so no label
used for fitting or for a cut point was unknown when the test period began. The test period
is measured on the labels as recorded. With no period option at all, `train` keeps its
historical split (60 % and 80 % of the data's time, no gap) with labels as recorded, and
`label_note` says how many of them were not yet known at the test start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from itertools import pairwise
from typing import TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.schema import canonical_columns
from features.settings import FeatureSettings
from features.spec import LONGEST
from features.store import FeatureStoreError
from training.protocol import (
    DAY,
    ProtocolError,
    data_range,
    labels_known_before,
    parse_moment,
    shown,
)

MINUTE = pd.Timedelta(minutes=1)
HOUR = pd.Timedelta(hours=1)
NO_GAP = pd.Timedelta(0)
_UNITS = {"": DAY, "d": DAY, "h": HOUR, "w": 7 * DAY}
TRAIN_SHARE, VALID_SHARE = 0.6, 0.2
LABEL_COLUMNS = ["order_id", "created_at", "label", "label_known_at", "fraud_known_at"]
_GAP = re.compile(r"(?P<sign>[+-]?)(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>[dhw]?)", re.IGNORECASE)
# What each boundary is when not given, as `train` reports it.
_DEFAULTS = {
    "train_start": "the first order",
    "train_end": f"{TRAIN_SHARE * 100:g} % of the period",
    "valid_end": f"{(TRAIN_SHARE + VALID_SHARE) * 100:g} % of the period",
    "test_start": "--valid-end + --gap",
    "test_end": "the last order",
}
_PERIODS = {
    "training": ("train_start", "train_end"),
    "validation": ("train_end", "valid_end"),
    "test": ("test_start", "test_end"),
}


def flag(option: str) -> str:
    """Return an option's name as typed on the command line."""
    return f"--{option.replace('_', '-')}"


def parse_gap(text: str, option: str = "gap") -> pd.Timedelta:
    """Read a label-maturity gap: days (`7`, `7d`, `1.5d`), hours (`36h`) or weeks (`2w`)."""
    match = _GAP.fullmatch(text.strip())
    if match is None:
        raise ProtocolError(
            option,
            f"cannot read {text!r} as a duration: expected days such as 7 or 7d, hours such "
            "as 36h, or weeks such as 2w",
        )
    if match["sign"] == "-" and float(match["number"]) > 0:
        raise ProtocolError(
            option,
            f"must be 0 or more, got {text.strip()!r}: a negative gap would start the test "
            "period inside validation",
        )
    unit = _UNITS[match["unit"].lower()]
    if float(match["number"]) > LONGEST / unit:
        raise ProtocolError(option, f"{text.strip()!r} is longer than {LONGEST.days} days")
    return float(match["number"]) * unit


def gap_text(gap: pd.Timedelta) -> str:
    """Return a gap as `parse_gap` reads it: whole days, else whole hours."""
    for size, unit in ((DAY, "d"), (HOUR, "h")):
        if gap % size == NO_GAP:
            return f"{gap // size}{unit}"
    return str(gap)


@dataclass(frozen=True)
class SplitOptions:
    """The period options as the user gave them; None where the default holds."""

    train_start: pd.Timestamp | None = None
    train_end: pd.Timestamp | None = None
    gap: pd.Timedelta | None = None
    valid_end: pd.Timestamp | None = None
    test_start: pd.Timestamp | None = None
    test_end: pd.Timestamp | None = None

    @classmethod
    def parse(
        cls,
        train_start: str | None = None,
        train_end: str | None = None,
        gap: str | None = None,
        valid_end: str | None = None,
        test_start: str | None = None,
        test_end: str | None = None,
    ) -> SplitOptions:
        """Read the options' text: ISO 8601 moments (`parse_moment`) and a gap (`parse_gap`)."""

        def moment(text: str | None, option: str) -> pd.Timestamp | None:
            return None if text is None else parse_moment(text, option)

        return cls(
            moment(train_start, "train_start"),
            moment(train_end, "train_end"),
            None if gap is None else parse_gap(gap),
            moment(valid_end, "valid_end"),
            moment(test_start, "test_start"),
            moment(test_end, "test_end"),
        )

    def given(self, option: str) -> bool:
        """Return whether the user set this option (`test_start` also through `--gap`)."""
        if option == "test_start" and self.gap is not None:
            return True
        return getattr(self, option) is not None

    @property
    def out_of_time(self) -> bool:
        """Return whether any period option was given, which puts the label rule in force."""
        return any(getattr(self, f.name) is not None for f in fields(self))


@dataclass(frozen=True)
class TimeSplit:
    """The periods' boundaries and which labels training and validation may learn from."""

    start: pd.Timestamp
    """The training period's start."""
    train_end: pd.Timestamp
    """The training period's end, and the validation period's start."""
    valid_end: pd.Timestamp
    end: pd.Timestamp
    """The test period's end."""
    gap: pd.Timedelta = NO_GAP
    labels_known_by: pd.Timestamp | None = None
    """Training and validation use labels known before this (the test start); None: as recorded."""

    @property
    def test_start(self) -> pd.Timestamp:
        """Return the test period's start, one gap after validation ends."""
        return self.valid_end + self.gap

    def masks(self, times: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
        """Return boolean masks of the train, validation and test rows."""
        return (
            (times >= self.start) & (times < self.train_end),
            (times >= self.train_end) & (times < self.valid_end),
            (times >= self.test_start) & (times < self.end),
        )

    def labels(self, orders: pd.DataFrame) -> pd.Series:
        """Return each order's label as its period may use it: NaN where it may use none."""
        train, valid, test = (m.to_numpy() for m in self.masks(orders["created_at"]))
        recorded = orders["label"].to_numpy(dtype=float, na_value=np.nan)
        learned = recorded
        if self.labels_known_by is not None:
            known = labels_known_before(orders, self.labels_known_by)["label"]
            learned = known.to_numpy(dtype=float, na_value=np.nan)
        usable = np.where(train | valid, learned, np.where(test, recorded, np.nan))
        return pd.Series(usable, index=orders.index)

    def describe(self) -> dict[str, str]:
        """Return the periods, the gap and the label rule as a person reads them."""
        known = (
            "as recorded (no period option given)"
            if self.labels_known_by is None
            else f"known before {shown(self.labels_known_by)}"
        )
        return {
            "train": f"{shown(self.start)} .. {shown(self.train_end)}",
            "valid": f"{shown(self.train_end)} .. {shown(self.valid_end)}",
            "gap": gap_text(self.gap),
            "test": f"{shown(self.test_start)} .. {shown(self.end)}",
            "labels": known,
        }


def order_log(settings: FeatureSettings) -> pd.DataFrame:
    """Return the order log's ids, times and labels: all a split is planned from."""
    if not settings.orders_path.exists():
        raise FeatureStoreError(
            f"no order log at {settings.orders_path}: run `ordershield simulate` or train "
            "with --data and --mapping"
        )
    try:
        present = set(pq.read_schema(settings.orders_path).names)
        frame = pd.read_parquet(
            settings.orders_path, columns=[c for c in LABEL_COLUMNS if c in present]
        )
    except (OSError, pa.ArrowException) as error:
        raise FeatureStoreError(
            f"cannot read the order log {settings.orders_path}: {error}"
        ) from None
    # A log written before withdrawals were recorded has none.
    return canonical_columns(frame, LABEL_COLUMNS)


def plan_split(options: SplitOptions, orders: pd.DataFrame) -> TimeSplit:
    """Return the split on these orders, or raise naming the option that leaks or cannot hold."""
    data = data_range(orders)
    for field in fields(options):
        moment = getattr(options, field.name)
        if isinstance(moment, pd.Timestamp):
            data.holds(moment, field.name, closing=field.name.endswith("_end"))
    created = orders["created_at"]
    start = _default(options.train_start, created.min().floor("min"))
    end = _default(options.test_end, created.max().floor("min") + MINUTE)
    train_end = _default(options.train_end, (start + (end - start) * TRAIN_SHARE).round("min"))
    share = TRAIN_SHARE + VALID_SHARE
    valid_end = _default(options.valid_end, (start + (end - start) * share).round("min"))
    gap = _default(options.gap, NO_GAP)
    test_start = _default(options.test_start, valid_end + gap)
    bounds = {
        "train_start": start,
        "train_end": train_end,
        "valid_end": valid_end,
        "test_start": test_start,
        "test_end": end,
    }
    _check_order(options, bounds)
    known_by = test_start if options.out_of_time else None
    split = TimeSplit(start, train_end, valid_end, end, test_start - valid_end, known_by)
    _check_labels(options, split, orders, bounds)
    return split


def label_note(split: TimeSplit, orders: pd.DataFrame) -> str:
    """Say which training and validation labels were left out, or were used though late."""
    train, valid, _ = split.masks(orders["created_at"])
    learning = orders[(train | valid) & orders["label"].notna()]
    known = labels_known_before(learning, split.test_start)["label"].to_numpy(
        dtype=float, na_value=np.nan
    )
    recorded = learning["label"].to_numpy(dtype=float, na_value=np.nan)
    when = f"the test start {shown(split.test_start)}"
    late = int((known != recorded).sum())
    if late == 0:
        return f"all {len(learning):,} training and validation labels were known before {when}"
    if split.labels_known_by is not None:
        return (
            f"left out {int(np.isnan(known).sum()):,} of the {len(learning):,} labelled "
            f"training and validation orders: their label was not known before {when}"
        )
    return (
        f"{late:,} of the {len(learning):,} training and validation "
        f"labels were not yet known at {when}: with labels as recorded the held-out figures "
        "are optimistic; give any period option (e.g. --gap 0d) to learn only from labels "
        "known in time"
    )


_T = TypeVar("_T")


def _default(value: _T | None, default: _T) -> _T:
    return default if value is None else value


def _reference(options: SplitOptions, option: str, moment: pd.Timestamp) -> str:
    given = getattr(options, option) is not None
    return f"{flag(option)} {shown(moment)}" + ("" if given else f" ({_DEFAULTS[option]})")


def _blame(options: SplitOptions, later: str, earlier: str) -> str:
    """Return the option at fault: the later one unless only the earlier one was given."""
    # A test start no one typed follows from --gap: the gap is what to change.
    for option in (later, earlier):
        if options.given(option):
            return "gap" if option == "test_start" and options.test_start is None else option
    return later


def _check_order(options: SplitOptions, bounds: dict[str, pd.Timestamp]) -> None:
    for earlier, later in pairwise(bounds):
        first, second = bounds[earlier], bounds[later]
        if later == "test_start":
            _check_gap(options, first, second)
            continue
        if second > first:
            continue
        period = next(p for p, (_, end) in _PERIODS.items() if end == later)
        at_fault = _blame(options, later, earlier)
        if at_fault == later:
            problem = f"{shown(second)} is not after {_reference(options, earlier, first)}"
        else:
            subject = shown(first) if at_fault == earlier else _reference(options, earlier, first)
            problem = f"{subject} is not before {_reference(options, later, second)}"
        raise ProtocolError(at_fault, f"{problem}; the {period} period would be empty")


def _check_gap(options: SplitOptions, valid_end: pd.Timestamp, test_start: pd.Timestamp) -> None:
    valid = _reference(options, "valid_end", valid_end)
    if test_start < valid_end:
        raise ProtocolError(
            "test_start",
            f"{shown(test_start)} is before {valid}; the test period would overlap validation",
        )
    if options.gap is not None and test_start - valid_end < options.gap:
        raise ProtocolError(
            "test_start",
            f"{shown(test_start)} is only {gap_text(test_start - valid_end)} after {valid}, "
            f"less than --gap {gap_text(options.gap)}: validation labels would have less "
            "time to become known than the gap says",
        )


def _check_labels(
    options: SplitOptions,
    split: TimeSplit,
    orders: pd.DataFrame,
    bounds: dict[str, pd.Timestamp],
) -> None:
    usable = split.labels(orders).to_numpy()
    recorded = orders["label"].to_numpy(dtype=float, na_value=np.nan)
    start = f"the test start {shown(split.test_start)}"
    for (period, (first, last)), mask in zip(
        _PERIODS.items(), split.masks(orders["created_at"]), strict=True
    ):
        rows = mask.to_numpy()
        where = f"the {period} period {shown(bounds[first])} to {shown(bounds[last])}"
        at_fault = next((o for o in (last, first) if getattr(options, o) is not None), last)
        if not rows.any():
            raise ProtocolError(at_fault, f"{where} holds no orders")
        for value, kind in ((1.0, "fraud"), (0.0, "legitimate")):
            count = int((recorded[rows] == value).sum())
            if count == 0:
                raise ProtocolError(
                    at_fault,
                    f"{where} has no {kind} label among its {int(rows.sum()):,} orders: "
                    "choose other dates",
                )
            if not (usable[rows] == value).any():
                cut = "test_start" if options.test_start is not None else "gap"
                raise ProtocolError(
                    cut,
                    f"{where} has {count:,} {kind} label(s), none known before {start}: "
                    f"lengthen {flag(cut)} or end the {period} period earlier",
                )
