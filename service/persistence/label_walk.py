"""What an order's labels do to its fraud count, walked the same way wherever it is needed.

The walk takes labels in the order they were stored. The first label counts
the order as labelled from its known time (the denominator of entity risk). A
label known before the time the order's current label holds from arrived out
of turn: it is kept for the record and changes nothing. Otherwise a fraud
label, while the order does not count as fraud, counts from its known time; a
legitimate label, while it does, withdraws it from its own known time (a
dispute won, a review reversed). The scoring path
applies each step as its label is stored, the rebuild replays every step, and
training reads the walk's end: the order's label, since when it holds, and the
fraud label it withdrew. Training keeps only the last withdrawal of an order
whose label went back and forth; the README says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from features.columns import moment_ms
from features.spec import Stream
from service.persistence.feature_updates import OwedUpdate, owe_feature_updates
from service.persistence.tables import DecisionRow, LabelRow


@dataclass(frozen=True)
class LabelStep:
    """One step of an order's counts: labelled or fraud from `at`, or fraud withdrawn then."""

    at: datetime
    withdraws: datetime | None = None
    """The known time of the fraud label this step withdraws."""
    key: str | None = None
    """The stored label's id: two steps at one moment stay two events."""
    stream: Stream = Stream.FRAUD


@dataclass(frozen=True)
class LabelWalk:
    """An order's labels walked: where they ended and the steps of its fraud count."""

    label: str | None = None
    known_at: datetime | None = None
    """Since when the label holds: the first of its run, or the withdrawal."""
    fraud_known_at: datetime | None = None
    """The withdrawn fraud label's time, while the label is legitimate after it."""
    steps: tuple[LabelStep, ...] = ()

    @property
    def labelled_at(self) -> datetime | None:
        """Return when the order got its first label."""
        return next((s.at for s in self.steps if s.stream is Stream.LABELS), None)

    def then(self, label: str, known_at: datetime, key: str | None = None) -> LabelWalk:
        """Return the walk one stored label further (`key`: the label's id)."""
        if self.known_at is not None and known_at < self.known_at:
            return self  # out of turn: a later label holds already
        steps = self.steps
        if self.label is None:
            steps = (*steps, LabelStep(known_at, None, key, Stream.LABELS))
        fraud = self.label == "fraud"
        if label == "fraud" and not fraud:
            return LabelWalk(label, known_at, None, (*steps, LabelStep(known_at, None, key)))
        if label == "legit" and fraud:
            assert self.known_at is not None
            withdrawal = LabelStep(known_at, self.known_at, key)
            return LabelWalk(label, known_at, self.known_at, (*steps, withdrawal))
        if label == self.label:
            return LabelWalk(label, self.known_at, self.fraud_known_at, steps)
        return LabelWalk(label, known_at, None, steps)


def walk(labels: Iterable[tuple[str, datetime] | tuple[str, datetime, str]]) -> LabelWalk:
    """Return the walk of an order's labels, given as (label, known_at[, id]) in stored order."""
    done = LabelWalk()
    for label, known_at, *key in labels:
        done = done.then(label, known_at, *key)
    return done


def lock_labels(connection: Connection, order_id: str) -> None:
    """Hold the order's labels until the caller's transaction ends: call before a label's insert.

    The order's decision row is locked (PostgreSQL; SQLite's one writer does it
    already), so two labels of one order get their ids in the order they walk.
    """
    connection.execute(
        select(DecisionRow.id).where(DecisionRow.order_id == order_id).with_for_update()
    )


def owe_label_step(
    connection: Connection, order_id: str, label: str, known_at: datetime, label_id: int
) -> tuple[LabelStep, ...]:
    """Walk a label just stored onto the order's earlier labels; owe the steps it makes.

    In the label's own transaction, after `lock_labels` and the label's insert.
    """
    earlier = connection.execute(
        select(LabelRow.label, LabelRow.known_at, LabelRow.id)
        .where(LabelRow.order_id == order_id, LabelRow.id < label_id)
        .order_by(LabelRow.id)
    )
    before = walk((row.label, row.known_at, str(row.id)) for row in earlier)
    after = before.then(label, known_at, str(label_id))
    made = after.steps[len(before.steps) :]
    owed = [
        OwedUpdate(
            order_id,
            step.stream.value,
            moment_ms(step.at),
            step.key,
            withdraws_ms=None if step.withdraws is None else moment_ms(step.withdraws),
        )
        for step in made
    ]
    owe_feature_updates(connection, owed)
    return made
