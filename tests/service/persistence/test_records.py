"""Labels, payment outcomes, review cases and the feature-update outbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from service.persistence import (
    CaseClosed,
    InvalidRecord,
    NotFound,
    case_for_order,
    claim_feature_updates,
    close_case,
    due_feature_updates,
    finish_feature_updates,
    labels_for_order,
    open_cases,
    payment_outcomes_for_order,
    save_decision,
    save_label,
    save_payment_outcome,
)
from service.persistence.db import writing
from service.persistence.feature_updates import OwedUpdate, owe_feature_updates
from service.persistence.tables import FeatureUpdateRow
from tests.service.persistence.samples import sample_decision

PARIS = timezone(timedelta(hours=1))


def test_labels_round_trip_in_the_order_they_became_known(engine: Engine) -> None:
    before = datetime.now(UTC)
    chargeback = save_label(
        engine, "ord-1", "fraud", "chargeback", datetime(2024, 4, 2, 12, tzinfo=PARIS), "file"
    )
    review = save_label(engine, "ord-1", "legit", None, datetime(2024, 3, 2, tzinfo=UTC), "review")
    save_label(engine, "ord-2", "fraud", "account_takeover", datetime.now(UTC), "api")
    labels = labels_for_order(engine, "ord-1")
    assert [label.id for label in labels] == [review, chargeback]
    first, second = labels
    assert (first.label, first.reason, first.source) == ("legit", None, "review")
    assert (second.label, second.reason, second.source) == ("fraud", "chargeback", "file")
    assert second.known_at == datetime(2024, 4, 2, 11, tzinfo=UTC)
    assert second.known_at.tzinfo is UTC
    assert before <= second.received_at <= datetime.now(UTC)
    assert labels_for_order(engine, "ord-none") == []


@pytest.mark.parametrize(
    ("label", "source", "known_at"),
    [
        ("maybe", "api", datetime.now(UTC)),
        ("fraud", "email", datetime.now(UTC)),
        ("fraud", "api", datetime(2024, 1, 1)),
    ],
    ids=["label", "source", "naive-time"],
)
def test_bad_labels_are_refused(
    engine: Engine, label: str, source: str, known_at: datetime
) -> None:
    with pytest.raises(InvalidRecord):
        save_label(engine, "ord-1", label, None, known_at, source)  # type: ignore[arg-type]
    assert labels_for_order(engine, "ord-1") == []


def test_payment_outcomes_round_trip(engine: Engine) -> None:
    declined = save_payment_outcome(engine, "ord-1", "declined", datetime(2024, 3, 1, tzinfo=UTC))
    authorized = save_payment_outcome(
        engine, "ord-1", "authorized", datetime(2024, 3, 1, 0, 5, tzinfo=UTC)
    )
    outcomes = payment_outcomes_for_order(engine, "ord-1")
    assert [(o.id, o.status) for o in outcomes] == [
        (declined, "declined"),
        (authorized, "authorized"),
    ]
    assert outcomes[1].known_at == datetime(2024, 3, 1, 0, 5, tzinfo=UTC)
    with pytest.raises(InvalidRecord):
        save_payment_outcome(engine, "ord-1", "pending", datetime.now(UTC))  # type: ignore[arg-type]


def test_a_reviewer_closes_an_open_case_once(engine: Engine) -> None:
    for order_id in ("ord-1", "ord-2"):
        save_decision(engine, sample_decision(order_id), open_case=True)
    case = case_for_order(engine, "ord-1")
    assert case is not None
    assert [c.order_id for c in open_cases(engine)] == ["ord-1", "ord-2"]
    closed = close_case(engine, case.id, "rejected", "alice", note="stolen card")
    assert (closed.status, closed.reviewer, closed.note) == ("rejected", "alice", "stolen card")
    assert closed.closed_at is not None and closed.closed_at.tzinfo is UTC
    assert case_for_order(engine, "ord-1") == closed
    assert [c.order_id for c in open_cases(engine)] == ["ord-2"]
    with pytest.raises(CaseClosed, match="already rejected"):
        close_case(engine, case.id, "approved", "bob")
    with pytest.raises(NotFound):
        close_case(engine, "0" * 32, "approved", "bob")
    with pytest.raises(InvalidRecord):
        close_case(engine, case.id, "open", "bob")


def _attempts(engine: Engine, id: int) -> tuple[int, str | None, datetime | None]:
    with Session(engine) as session:
        row = session.get_one(FeatureUpdateRow, id)
        return row.attempts, row.last_error, row.done_at


def test_a_decision_owes_its_feature_update_in_its_own_transaction(engine: Engine) -> None:
    record, _ = save_decision(engine, sample_decision("owed-1"), open_case=False)
    ((_, payload),) = due_feature_updates(engine)
    assert payload["order_id"] == record.order_id and payload["stream"] == "orders"
    assert payload["time_ms"] == int(record.created_at.timestamp() * 1000)


def test_the_outbox_is_claimed_by_one_drainer_and_finished_by_it(engine: Engine) -> None:
    for i in range(3):
        with writing(engine) as connection:
            owe_feature_updates(connection, [OwedUpdate(f"o{i}", "declines", 1_000 + i, str(i))])
    now, lease = timedelta(0), timedelta(seconds=60)
    assert claim_feature_updates(engine, "a", timedelta(hours=1), lease) == []  # not settled
    mine = claim_feature_updates(engine, "a", now, lease, limit=2)
    assert [p["order_id"] for _, p in mine] == ["o0", "o1"]
    theirs = claim_feature_updates(engine, "b", now, lease)
    assert [p["order_id"] for _, p in theirs] == ["o2"]  # claimed rows are not handed out twice
    assert claim_feature_updates(engine, "c", now, lease) == []
    finish_feature_updates(engine, "b", [mine[0][0]])  # not b's to finish
    assert len(due_feature_updates(engine)) == 3
    finish_feature_updates(engine, "a", [mine[0][0]], [mine[1][0]], "store down")
    assert [p["order_id"] for _, p in due_feature_updates(engine)] == ["o1", "o2"]
    attempts, error, done_at = _attempts(engine, mine[0][0])
    assert attempts == 1 and error is None and done_at is not None and done_at.tzinfo is UTC
    assert _attempts(engine, mine[1][0]) == (1, "store down", None)
    # A failed row's claim is released at once; an expired claim frees a row too.
    again = claim_feature_updates(engine, "c", now, lease)
    assert [p["order_id"] for _, p in again] == ["o1"]
    finish_feature_updates(engine, "c", [], [again[0][0]], "down again")
    short = claim_feature_updates(engine, "d", now, timedelta(seconds=-1))
    assert [p["order_id"] for _, p in short] == ["o1"]
    assert [p["order_id"] for _, p in claim_feature_updates(engine, "e", now, lease)] == ["o1"]
