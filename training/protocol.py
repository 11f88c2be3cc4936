"""Out-of-time folds: a training window, a label-maturity gap and a test window, sliding forward.

A fold trains on the orders created in [train_start, train_end) whose label was known
before test_start, and is tested on the orders created in [test_start, test_end). The
gap between train_end and test_start is the label-maturity gap: orders placed in it are
used by no one, so a slow chargeback cannot turn up in training as a recent legitimate
order. Every fold then slides forward by the step. Everything here is pure: options and
orders in, folds or a `ProtocolError` naming the option at fault out. Days are UTC days.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd

from features.spec import LONGEST

DAY = pd.Timedelta(days=1)
# Per class: one to learn from and one to stop early on.
MIN_CLASS_LABELS = 2
EXPECTED = (
    "an ISO 8601 date such as 2026-03-01 (midnight UTC), or a date and time with its zone "
    "such as 2026-03-01T08:00Z or 2026-03-01T08:00+01:00"
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?P<zone>.*)")
_ZONE = re.compile(r"Z|[+-]\d{2}:?\d{2}")


class ProtocolError(ValueError):
    """Raised when the evaluation options cannot make honest folds; names the option at fault."""

    def __init__(self, option: str, problem: str) -> None:
        super().__init__(f"{option}: {problem}")
        self.option = option
        self.problem = problem


def parse_moment(text: str, option: str) -> pd.Timestamp:
    """Read an ISO 8601 date (midnight UTC) or a date and time with a zone, as UTC."""
    text = text.strip()
    if _DATE.fullmatch(text):
        try:
            return pd.Timestamp(date.fromisoformat(text)).tz_localize("UTC")
        except ValueError as error:
            raise ProtocolError(option, f"{text!r} is not a calendar date ({error})") from None
    match = _MOMENT.fullmatch(text)
    if match is None:
        raise ProtocolError(option, f"cannot read {text!r} as a date: expected {EXPECTED}")
    if not match["zone"]:
        # A wall-clock time names a different instant in every zone: refuse to guess one.
        raise ProtocolError(
            option,
            f"{text!r} has no time zone, so it is ambiguous: add Z or an offset such as "
            "+01:00, or give the date alone (midnight UTC)",
        )
    if not _ZONE.fullmatch(match["zone"]):
        raise ProtocolError(option, f"cannot read {text!r} as a date: expected {EXPECTED}")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise ProtocolError(option, f"{text!r} is not a valid date and time ({error})") from None
    return pd.Timestamp(moment).tz_convert("UTC")


def shown(moment: pd.Timestamp) -> str:
    """Return a UTC moment as its day, with the time of day unless it is midnight."""
    return f"{moment:%Y-%m-%d %H:%M}".removesuffix(" 00:00")


@dataclass(frozen=True)
class Fold:
    """One fold's windows, each [start, end); the gap is [train_end, test_start)."""

    number: int
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp

    @property
    def gap(self) -> pd.Timedelta:
        """Return the label-maturity gap between training and test."""
        return self.test_start - self.train_end

    def in_training(self, created_at: pd.Series) -> pd.Series:
        """Return which orders were created in the training window."""
        return (created_at >= self.train_start) & (created_at < self.train_end)

    def in_test(self, created_at: pd.Series) -> pd.Series:
        """Return which orders were created in the test window."""
        return (created_at >= self.test_start) & (created_at < self.test_end)

    def describe(self) -> dict[str, str]:
        """Return the window boundaries as ISO strings."""
        return {
            "train_start": self.train_start.isoformat(),
            "train_end": self.train_end.isoformat(),
            "test_start": self.test_start.isoformat(),
            "test_end": self.test_end.isoformat(),
        }


@dataclass(frozen=True)
class Plan:
    """The protocol's options: window lengths and step in days, fold count, first training day."""

    train_days: int = 28
    # Chargebacks take weeks to arrive and honest orders count as honest only once their
    # chargeback window has closed; a shorter gap leaves fewer honest labels to learn from.
    gap_days: int = 60
    test_days: int = 7
    folds: int = 4
    step_days: int | None = None
    start: pd.Timestamp | None = None
    exclude_known_fraud: bool = False
    """Leave out of a test day the orders of entities with a fraud label known before it."""

    @property
    def step(self) -> int:
        """Return the days between folds; by default one test window, so tests tile the time."""
        return self.test_days if self.step_days is None else self.step_days

    def check(self) -> None:
        """Raise for options that no data could make sense of."""
        for option, value, least in (
            ("train_days", self.train_days, 1),
            ("test_days", self.test_days, 1),
            ("folds", self.folds, 1),
        ):
            if value < least:
                raise ProtocolError(option, f"must be at least {least}, got {value}")
        if self.gap_days < 0:
            raise ProtocolError(
                "gap_days",
                f"must be 0 or more days, got {self.gap_days}: a negative gap would train on "
                "orders of the test window",
            )
        span = (self.folds - 1) * self.step + self.train_days + self.gap_days + self.test_days
        if span > LONGEST.days:
            raise ProtocolError(
                "folds",
                f"{self.folds} fold(s) of {self.train_days}+{self.gap_days}+{self.test_days} "
                f"days, {self.step} apart, span {span} days: more than {LONGEST.days}",
            )
        if self.step < self.test_days:
            raise ProtocolError(
                "step_days",
                f"{self.step} is shorter than test_days {self.test_days}: test windows would "
                "overlap, and the spread over folds would count the same orders twice",
            )

    def windows(self, start: pd.Timestamp) -> list[Fold]:
        """Return the folds from a first training day, without looking at any data."""
        self.check()
        folds = []
        for number in range(1, self.folds + 1):
            train_start = start + (number - 1) * self.step * DAY
            train_end = train_start + self.train_days * DAY
            test_start = train_end + self.gap_days * DAY
            folds.append(
                Fold(number, train_start, train_end, test_start, test_start + self.test_days * DAY)
            )
        return folds


def fraud_flags(orders: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Return when each order was flagged as fraud, and when a legitimate label withdrew
    that (NaT: never flagged; never withdrawn)."""
    final = orders["label"].astype("Float64")
    withdrawn = ((final == 0) & orders["fraud_known_at"].notna()).fillna(False).astype(bool)
    fraud = (final == 1).fillna(False).astype(bool)
    flagged = orders["fraud_known_at"].where(withdrawn, orders["label_known_at"].where(fraud))
    return flagged, orders["label_known_at"].where(withdrawn)


def fraud_at(flagged: pd.Series, until: pd.Series, moment: pd.Series | pd.Timestamp) -> pd.Series:
    """Return whether each flag held just before `moment`: flagged earlier, not yet withdrawn."""
    held = (flagged < moment) & ~(until < moment)
    return held.fillna(False).astype(bool)


def labels_known_before(orders: pd.DataFrame, moment: pd.Timestamp) -> pd.DataFrame:
    """Return each order's label as known just before `moment`, and when it became known.

    A label known at `moment` or later is missing (never counted as legitimate). A fraud
    label that a legitimate one later withdrew was fraud until the withdrawal: before
    it, fraud is what anyone knew.
    """
    known = (orders["label_known_at"] < moment).fillna(False).astype(bool)
    flagged, until = fraud_flags(orders)
    believed_fraud = fraud_at(flagged, until, moment)
    label = orders["label"].astype("Float64").where(known)
    label[believed_fraud] = 1.0
    known_at = orders["label_known_at"].where(known)
    known_at[believed_fraud] = flagged[believed_fraud]
    return pd.DataFrame({"label": label, "known_at": known_at}, index=orders.index)


@dataclass(frozen=True)
class DataRange:
    """The UTC days a history covers: [first_day, end)."""

    first_day: pd.Timestamp
    end: pd.Timestamp

    def __str__(self) -> str:
        return f"{self.first_day:%Y-%m-%d} to {self.end - DAY:%Y-%m-%d}"

    def holds(self, moment: pd.Timestamp, option: str, closing: bool = False) -> None:
        """Raise naming the option unless a period's start (or, `closing`, end) is in the data."""
        inside = (
            self.first_day < moment <= self.end if closing else self.first_day <= moment < self.end
        )
        if not inside:
            raise ProtocolError(option, f"{shown(moment)} is outside the data ({self}, UTC)")


def data_range(orders: pd.DataFrame) -> DataRange:
    """Return the days a labelled history covers, or raise if it has no orders or no labels."""
    created = orders["created_at"]
    if created.empty:
        raise ProtocolError("data", "holds no orders")
    if orders["label"].isna().all():
        raise ProtocolError(
            "mapping", "the data has no labels: map label and label_known_at to your columns"
        )
    return DataRange(created.min().floor("D"), created.max().floor("D") + DAY)


def plan_folds(plan: Plan, orders: pd.DataFrame) -> list[Fold]:
    """Return the plan's folds on these orders, or raise naming the option that cannot hold."""
    plan.check()
    data = data_range(orders)
    first_day, end = data.first_day, data.end
    start = first_day if plan.start is None else plan.start
    span = str(data)
    data.holds(start, "start")
    folds = plan.windows(start)
    if folds[-1].test_end > end:
        needed = f"{(folds[-1].test_end - start) / DAY:g} days from {shown(start)}"
        too_many = plan.folds > 1 and folds[0].test_end <= end
        raise ProtocolError(
            "folds" if too_many else "train_days",
            f"{plan.folds} fold(s) of {plan.train_days}+{plan.gap_days}+{plan.test_days} days, "
            f"{plan.step} days apart, need {needed} but the data covers {span}: use fewer "
            "folds, shorter windows or an earlier start",
        )
    for fold in folds:
        _check_fold(fold, orders)
    return folds


def _check_fold(fold: Fold, orders: pd.DataFrame) -> None:
    name = f"fold {fold.number}"
    test = f"test window {shown(fold.test_start)} to {shown(fold.test_end)}"
    test_labels = orders["label"][fold.in_test(orders["created_at"]).to_numpy()]
    if test_labels.empty:
        raise ProtocolError("test_days", f"{name}: its {test} holds no orders")
    for value, kind in ((1, "fraud"), (0, "legitimate")):
        if not (test_labels == value).any():
            raise ProtocolError(
                "test_days",
                f"{name}: its {test} has no {kind} label among its {len(test_labels)} orders, "
                "so ranking metrics are undefined: use longer test windows",
            )
    in_training = fold.in_training(orders["created_at"]).to_numpy()
    window = f"training window {shown(fold.train_start)} to {shown(fold.train_end)}"
    if not in_training.any():
        raise ProtocolError("train_days", f"{name}: its {window} holds no orders")
    known = labels_known_before(orders[in_training], fold.test_start)["label"]
    before = f"before its test start {shown(fold.test_start)}"
    if known.isna().all():
        raise ProtocolError(
            "gap_days",
            f"{name}: none of the {int(in_training.sum())} orders of its {window} had a label "
            f"known {before}: lengthen the gap or move the start later",
        )
    for value, kind in ((1, "fraud"), (0, "legitimate")):
        count = int((known == value).sum())
        if count < MIN_CLASS_LABELS:
            raise ProtocolError(
                "gap_days",
                f"{name}: {count} {kind} label(s) among the {int(in_training.sum())} orders of "
                f"its {window} were known {before}, at least {MIN_CLASS_LABELS} are needed: "
                "lengthen the gap or the training window",
            )
