"""An order's labels walked into the steps of its fraud count, and owed with the label."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from features.spec import Stream
from service.persistence import save_decision, save_label_event
from service.persistence.feature_updates import due_feature_updates
from service.persistence.history import changing_labels, decided_orders, later_events
from service.persistence.label_walk import LabelStep, walk
from tests.service.persistence.samples import sample_decision

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def labelled(minutes: int, key: str | None = None) -> LabelStep:
    """Return the step that counts the order as labelled (its first label)."""
    return LabelStep(at(minutes), None, key, Stream.LABELS)


def test_a_legitimate_label_withdraws_the_fraud_label_before_it() -> None:
    walked = walk([("fraud", at(5)), ("fraud", at(7)), ("legit", at(20))])
    assert walked.steps == (labelled(5), LabelStep(at(5)), LabelStep(at(20), at(5)))
    assert (walked.label, walked.known_at, walked.fraud_known_at) == ("legit", at(20), at(5))
    assert walked.labelled_at == at(5)


def test_fraud_again_after_a_withdrawal_counts_again() -> None:
    walked = walk([("legit", at(1)), ("fraud", at(5)), ("legit", at(20)), ("fraud", at(30))])
    assert walked.steps == (
        labelled(1),
        LabelStep(at(5)),
        LabelStep(at(20), at(5)),
        LabelStep(at(30)),
    )
    assert walked.labelled_at == at(1)
    assert (walked.label, walked.known_at, walked.fraud_known_at) == ("fraud", at(30), None)


def test_a_label_known_before_one_taken_already_changes_nothing() -> None:
    walked = walk([("fraud", at(10)), ("legit", at(5)), ("legit", at(8))])
    assert walked.steps == (labelled(10), LabelStep(at(10)))
    assert (walked.label, walked.known_at) == ("fraud", at(10))


def test_the_turn_is_the_time_the_current_label_holds_from() -> None:
    # A second fraud label does not move the time fraud holds from: a withdrawal known
    # after the first one withdraws it, even if known before the second.
    walked = walk([("fraud", at(10)), ("fraud", at(30)), ("legit", at(20))])
    assert walked.steps == (labelled(10), LabelStep(at(10)), LabelStep(at(20), at(10)))


def test_two_steps_at_one_moment_are_two_events(engine: Engine) -> None:
    save_decision(engine, sample_decision("walked-2"), open_case=False)
    steps = [
        save_label_event(engine, "walked-2", label, None, at(5), "api")[2]
        for label in ("fraud", "legit", "fraud")
    ]
    keys = [step.key for made in steps for step in made if step.stream is Stream.FRAUD]
    assert len(keys) == 3 and len(set(keys)) == 3


def test_a_label_owes_its_step_in_its_own_transaction(engine: Engine) -> None:
    record, _ = save_decision(engine, sample_decision("walked-1"), open_case=False)
    before = len(due_feature_updates(engine))
    fraud = save_label_event(engine, "walked-1", "fraud", "chargeback", at(5), "api")
    again = save_label_event(engine, "walked-1", "fraud", "chargeback", at(6), "api")
    legit = save_label_event(engine, "walked-1", "legit", "dispute won", at(20), "api")
    assert (fraud[2], again[2], legit[2]) == (
        (labelled(5, str(fraud[0])), LabelStep(at(5), None, str(fraud[0]))),
        (),
        (LabelStep(at(20), at(5), str(legit[0])),),
    )
    owed = [p for _, p in due_feature_updates(engine)][before:]
    ms = [int(moment.timestamp() * 1000) for moment in (at(5), at(20))]
    assert [(p["stream"], p["time_ms"], p.get("withdraws_ms")) for p in owed] == [
        ("labels", ms[0], None),
        ("fraud", ms[0], None),
        ("fraud", ms[1], ms[0]),
    ]
    assert changing_labels(engine, [fraud[0], again[0], legit[0]]) == {fraud[0], legit[0]}
    steps = [e for e in later_events(engine) if e[0] == record.order_id]
    assert [(e[1], e[2], e[3], e[4]) for e in steps] == [
        (Stream.LABELS, at(5), str(fraud[0]), None),
        (Stream.FRAUD, at(5), str(fraud[0]), None),
        (Stream.FRAUD, at(20), str(legit[0]), at(5)),
    ]
    (decided,) = [d for d in decided_orders(engine) if d.order["order_id"] == record.order_id]
    assert (decided.label, decided.label_known_at, decided.fraud_known_at) == (
        "legit",
        at(20),
        at(5),
    )
    assert decided.labelled_at == at(5)
