"""The review desk's store: stock lifecycle, claims, outcomes, expiry and links, on both DBs."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select, update

from service.persistence import labels_for_order, save_decision, save_label
from service.persistence.cases import (
    Actor,
    QueueFilter,
    case_history,
    claim,
    claim_next,
    close,
    escalate,
    get_case,
    queue,
    release_claim,
)
from service.persistence.db import writing
from service.persistence.errors import CaseClaimed, CaseClosed, InvalidTransition, NotFound
from service.persistence.links import linked_orders
from service.persistence.outcomes import Outcome, decide_case, escalate_case, expire_case
from service.persistence.records import StockState
from service.persistence.review_stats import review_stats
from service.persistence.stock import TRANSITIONS, ExpiryOutcome, move, stock_of
from service.persistence.tables import OutboxEventRow, ReviewCaseRow
from tests.service.persistence.samples import sample_decision

ANN = Actor("u-ann", "ann", "reviewer")
BO = Actor("u-bo", "bo", "reviewer")
SENIOR = Actor("u-cy", "cy", "senior_reviewer")
CLAIM = timedelta(minutes=15)


def open_case(engine: Engine, order_id: str, **changes: object) -> str:
    """Store a high decision with its case and frozen stock; return the case id."""
    save_decision(engine, sample_decision(order_id, **changes), open_case=True)
    with engine.connect() as connection:
        return str(
            connection.execute(
                select(ReviewCaseRow.id).where(ReviewCaseRow.order_id == order_id)
            ).scalar_one()
        )


def events(engine: Engine, order_id: str) -> list[str]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(OutboxEventRow.kind)
            .where(OutboxEventRow.order_id == order_id)
            .order_by(OutboxEventRow.id)
        )
        return list(rows.scalars())


def test_every_allowed_stock_transition_and_no_other(engine: Engine) -> None:
    states: tuple[StockState, ...] = ("frozen", "released", "cancelled", "expired")
    allowed = {(a, b) for a, b in TRANSITIONS if a is not None}
    assert allowed == {("frozen", "released"), ("frozen", "cancelled"), ("frozen", "expired")}
    for start in states:
        for end in states:
            order_id = f"ord-{start}-{end}"
            open_case(engine, order_id)
            with writing(engine) as connection:
                if start != "frozen":
                    move(
                        connection,
                        order_id,
                        start,
                        "t",
                        None,
                        "release" if start == "expired" else None,
                    )
            outcome: ExpiryOutcome | None = "cancel" if end == "expired" else None
            if (start, end) in allowed:
                with writing(engine) as connection:
                    move(connection, order_id, end, "t", "why", outcome)
                found = stock_of(engine, order_id)
                assert found is not None and found[0] == end
                assert [s.to_state for s in found[1]] == ["frozen", end]
            else:
                with pytest.raises(InvalidTransition), writing(engine) as connection:
                    move(connection, order_id, end, "t", "why", outcome)
    with pytest.raises(NotFound), writing(engine) as connection:
        move(connection, "no-such-order", "released", "t", None)


def test_an_expiry_and_only_an_expiry_carries_an_outcome(engine: Engine) -> None:
    open_case(engine, "ord-1")
    with pytest.raises(InvalidTransition), writing(engine) as connection:
        move(connection, "ord-1", "expired", "t", None)
    with pytest.raises(InvalidTransition), writing(engine) as connection:
        move(connection, "ord-1", "released", "t", None, "release")


def test_approve_releases_labels_legit_and_tells_the_order_system(engine: Engine) -> None:
    case_id = open_case(engine, "ord-1")
    claim(engine, case_id, ANN, CLAIM)
    closed, _ = decide_case(engine, case_id, ANN, "approve", "customer_verified", "called her")
    assert (closed.status, closed.reviewer, closed.reason_code) == (
        "approved",
        "ann",
        "customer_verified",
    )
    found = stock_of(engine, "ord-1")
    assert found is not None and found[0] == "released"
    assert [label.label for label in labels_for_order(engine, "ord-1")] == ["legit"]
    assert events(engine, "ord-1") == ["decision.created", "stock.frozen", "stock.released"]
    assert [s.action for s in case_history(engine, case_id)] == ["claim", "approve"]


def test_reject_cancels_with_its_scenario_and_labels_fraud(engine: Engine) -> None:
    case_id = open_case(engine, "ord-1")
    closed, _ = decide_case(engine, case_id, ANN, "reject", "confirmed_fraud", None, "card_testing")
    assert (closed.status, closed.scenario) == ("rejected", "card_testing")
    found = stock_of(engine, "ord-1")
    assert found is not None and found[0] == "cancelled"
    labels = labels_for_order(engine, "ord-1")
    assert [(label.label, label.reason, label.source) for label in labels] == [
        ("fraud", "card_testing", "review")
    ]
    assert events(engine, "ord-1")[-1] == "stock.cancelled"


def test_a_case_is_decided_once(engine: Engine) -> None:
    case_id = open_case(engine, "ord-1")
    decide_case(engine, case_id, ANN, "approve", "customer_verified")
    with pytest.raises(CaseClosed):
        decide_case(engine, case_id, ANN, "reject", "confirmed_fraud", None, "other")
    found = stock_of(engine, "ord-1")
    assert found is not None and [s.to_state for s in found[1]] == ["frozen", "released"]


def test_another_reviewers_claim_is_refused_until_it_times_out(engine: Engine) -> None:
    case_id = open_case(engine, "ord-1")
    now = datetime.now(UTC)
    claim(engine, case_id, ANN, CLAIM, now)
    with pytest.raises(CaseClaimed):
        claim(engine, case_id, BO, CLAIM, now)
    with pytest.raises(CaseClaimed):
        decide_case(engine, case_id, BO, "approve", "customer_verified", now=now)
    with pytest.raises(CaseClaimed):
        release_claim(engine, case_id, BO, now)
    later = now + CLAIM + timedelta(seconds=1)
    assert claim(engine, case_id, BO, CLAIM, later).claimed_by == BO.id
    release_claim(engine, case_id, BO, later)
    assert get_case(engine, case_id).claimed_by is None


def test_next_gives_racing_reviewers_different_cases(engine: Engine) -> None:
    ids = {open_case(engine, f"ord-{i}") for i in range(6)}
    reviewers = [Actor(f"u-{i}", f"r{i}", "reviewer") for i in range(6)]
    got: list[str] = []
    start = threading.Barrier(len(reviewers))

    def take(actor: Actor) -> None:
        start.wait()
        found = claim_next(engine, actor, CLAIM)
        assert found is not None
        got.append(found.id)

    threads = [threading.Thread(target=take, args=(r,)) for r in reviewers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(got) == sorted(ids), "each reviewer a case of their own"
    assert claim_next(engine, ANN, CLAIM) is None


def test_concurrent_clicks_make_one_decision(engine: Engine) -> None:
    case_id = open_case(engine, "ord-1")
    outcomes: list[str] = []
    start = threading.Barrier(8)

    def click(number: int) -> None:
        start.wait()
        try:
            action: Outcome = "approve" if number % 2 else "reject"
            decide_case(
                engine, case_id, ANN, action, "other", None, None if number % 2 else "other"
            )
            outcomes.append("done")
        except (CaseClosed, CaseClaimed, InvalidTransition):
            outcomes.append("refused")

    threads = [threading.Thread(target=click, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["done"] + ["refused"] * 7
    found = stock_of(engine, "ord-1")
    assert found is not None and len(found[1]) == 2, "frozen, then exactly one move"
    assert len(labels_for_order(engine, "ord-1")) == 1


@pytest.mark.parametrize(("outcome", "word"), [("release", "released"), ("cancel", "cancelled")])
def test_an_expired_sla_moves_the_stock_as_configured(
    engine: Engine, outcome: str, word: str
) -> None:
    case_id = open_case(engine, "ord-1")
    due = get_case(engine, case_id).sla_due_at
    assert not expire_case(engine, case_id, outcome, due - timedelta(seconds=1))  # type: ignore[arg-type]
    assert expire_case(engine, case_id, outcome, due + timedelta(seconds=1))  # type: ignore[arg-type]
    assert get_case(engine, case_id).status == "expired"
    found = stock_of(engine, "ord-1")
    assert found is not None and found[0] == "expired" and found[1][-1].outcome == outcome
    assert word in (found[1][-1].reason or "")
    assert labels_for_order(engine, "ord-1") == [], "an expiry is not a judgement"
    assert not expire_case(engine, case_id, outcome, due + timedelta(hours=1))  # type: ignore[arg-type]


def test_an_escalated_case_waits_for_a_senior_reviewer(engine: Engine) -> None:
    case_id = open_case(engine, "ord-1")
    escalate_case(engine, case_id, ANN, "needs_senior_review", "odd")
    assert get_case(engine, case_id).level == "senior_reviewer"
    assert claim_next(engine, BO, CLAIM) is None
    with pytest.raises(CaseClaimed):
        decide_case(engine, case_id, BO, "approve", "customer_verified")
    taken = claim_next(engine, SENIOR, CLAIM)
    assert taken is not None and taken.id == case_id
    closed, _ = decide_case(engine, case_id, SENIOR, "approve", "customer_verified")
    assert closed.status == "approved"


def test_the_queue_puts_cases_near_their_sla_first_then_expected_loss(engine: Engine) -> None:
    small = open_case(engine, "ord-small", score=0.5)
    large = open_case(engine, "ord-large", score=0.9)
    now = datetime.now(UTC)
    assert [c.id for c in queue(engine, QueueFilter(), now)] == [large, small]
    soon = now + timedelta(hours=3, minutes=45)  # small's and large's SLA both 15 min away...
    with writing(engine) as connection:  # ...but only small's when large's is pushed back
        connection.execute(
            update(ReviewCaseRow)
            .where(ReviewCaseRow.id == large)
            .values(sla_due_at=now + timedelta(hours=8))
        )
    assert [c.id for c in queue(engine, QueueFilter(), soon)] == [small, large]
    assert [c.id for c in queue(engine, QueueFilter(min_amount=1000), now)] == []
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(ReviewCaseRow)).scalar() == 2


def test_linked_orders_share_an_entity_within_30_days(engine: Engine) -> None:
    base = datetime(2024, 3, 1, tzinfo=UTC)
    rows = {
        "ord-a": ({"device": "d1", "address": "x1"}, base),
        "ord-b": ({"device": "d1", "address": "x2"}, base - timedelta(days=3)),
        "ord-c": ({"device": "d9", "address": "x1"}, base - timedelta(days=10)),
        "ord-old": ({"device": "d1"}, base - timedelta(days=45)),
        "ord-other": ({"device": "d2", "address": "x3"}, base),
    }
    for order_id, (links, created) in rows.items():
        save_decision(
            engine, sample_decision(order_id, created_at=created), open_case=False, links=links
        )
    found = {o.order_id: {s.kind for s in o.shared} for o in linked_orders(engine, "ord-a", base)}
    assert found == {"ord-b": {"device"}, "ord-c": {"address"}}


def test_the_queue_figures_count_breaches_pace_and_overturned_approvals(engine: Engine) -> None:
    approved, rejected, waiting = (open_case(engine, f"ord-{n}") for n in ("a", "r", "w"))
    decide_case(engine, approved, ANN, "approve", "customer_verified")
    decide_case(engine, rejected, BO, "reject", "confirmed_fraud", None, "card_testing")
    later = datetime.now(UTC) + timedelta(minutes=5)
    save_label(engine, "ord-a", "fraud", "chargeback", later, "api")  # the approval was wrong
    figures = review_stats(engine, now=later + timedelta(hours=5))
    assert (figures.open_cases, figures.past_sla, figures.decided) == (1, 1, 2)
    assert (figures.approved, figures.overturned, figures.overturned_share) == (1, 1, 1.0)
    assert set(figures.per_reviewer_per_hour) == {"ann", "bo"}
    assert figures.oldest_open is not None and figures.oldest_open > timedelta(hours=5)
    assert get_case(engine, waiting).status == "open"


def test_a_change_is_refused_when_the_case_moved_on_after_it_was_read(engine: Engine) -> None:
    # What a reviewer read can be stale by the time the change runs (another reviewer's
    # claim, an escalation, a decision): each update repeats the checks, so it refuses.
    now = datetime.now(UTC)
    claimed, escalated, decided = (open_case(engine, f"ord-{n}") for n in ("c", "e", "d"))
    stale = {case_id: get_case(engine, case_id) for case_id in (claimed, escalated, decided)}
    claim(engine, claimed, BO, CLAIM, now)
    escalate_case(engine, escalated, BO, "needs_senior_review", now=now)
    decide_case(engine, decided, BO, "approve", "customer_verified", now=now)
    for case_id in (claimed, escalated, decided):
        with pytest.raises(CaseClaimed), writing(engine) as connection:
            close(connection, stale[case_id], "approved", ANN, now, "customer_verified", None, None)
        with pytest.raises(CaseClaimed), writing(engine) as connection:
            escalate(connection, stale[case_id], ANN, now, "high_value", None)
    assert [a.action for a in case_history(engine, decided)] == ["approve"]
    assert get_case(engine, claimed).claimed_by == BO.id
