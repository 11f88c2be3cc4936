"""Request hashes and event identities: stored once, refused when changed, committed by the log."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, MetaData, Table, func, insert, select, text, update

from service.persistence import (
    ConflictingRequest,
    make_engine,
    migrate,
    save_decision,
    save_label_event,
    save_payment_event,
)
from service.persistence.audit_log import DECISION_CREATED, append_entry, sequence_all
from service.persistence.audit_verify import verify_log
from service.persistence.chain import content_hash, normalize
from service.persistence.tables import DecisionRow, LabelRow, PaymentOutcomeRow
from tests.service.persistence.samples import log_verifies, sample_decision

KNOWN = datetime(2024, 3, 2, 12, 0, tzinfo=UTC)


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


def test_a_changed_request_under_a_stored_order_id_is_refused_and_writes_nothing(
    engine: Engine,
) -> None:
    stored, created = save_decision(engine, sample_decision(request_sha256="a" * 64), False)
    assert created
    before = {t: _count(engine, t) for t in ("decisions", "audit_pending", "outbox_events")}
    again, created = save_decision(engine, sample_decision(request_sha256="a" * 64), False)
    assert (again.id, created) == (stored.id, False)
    with pytest.raises(ConflictingRequest) as refused:
        save_decision(engine, sample_decision(request_sha256="b" * 64), False)
    assert (refused.value.kind, refused.value.record_id) == ("decision", stored.id)
    assert {t: _count(engine, t) for t in before} == before
    # A request without a hash cannot be compared: it gets the stored decision.
    assert save_decision(engine, sample_decision(), False)[0].id == stored.id
    assert log_verifies(engine)


def _decline(engine: Engine, key: str | None = None, sha: str | None = None) -> tuple[int, bool]:
    stored = save_payment_event(
        engine, "ord-1", "declined", KNOWN, event_key=key, request_sha256=sha
    )
    return stored[:2]


def _chargeback(engine: Engine, sha: str) -> tuple[int, bool]:
    label_id, created, _ = save_label_event(
        engine,
        "ord-1",
        "fraud",
        "chargeback",
        KNOWN,
        "api",
        event_key="#fraud#k",
        request_sha256=sha,
    )
    return label_id, created


def test_events_are_stored_once_per_identity_and_refused_with_another_body(
    engine: Engine,
) -> None:
    first = _decline(engine, "evt-1", "a" * 64)
    assert first[1]
    assert _decline(engine, "evt-1", "a" * 64) == (first[0], False)
    with pytest.raises(ConflictingRequest) as refused:
        _decline(engine, "evt-1", "b" * 64)
    assert (refused.value.kind, refused.value.record_id) == ("payment", first[0])
    # The same identity on another order is another event; no identity is a new event each time.
    assert save_payment_event(engine, "ord-2", "declined", KNOWN, event_key="evt-1")[1]
    assert len({_decline(engine)[0] for _ in range(2)}) == 2
    stored = _chargeback(engine, "c" * 64)
    assert _chargeback(engine, "c" * 64) == (stored[0], False)
    with pytest.raises(ConflictingRequest):
        _chargeback(engine, "d" * 64)
    assert _count(engine, "payment_outcomes") == 4 and _count(engine, "labels") == 1
    assert log_verifies(engine)


@pytest.mark.parametrize("table", [LabelRow, PaymentOutcomeRow])
def test_a_changed_event_identity_is_caught_by_verification(
    engine: Engine, table: type[LabelRow] | type[PaymentOutcomeRow]
) -> None:
    save_label_event(engine, "ord-1", "fraud", None, KNOWN, "api", event_key="cb-1")
    save_payment_event(engine, "ord-1", "declined", KNOWN, event_key="evt-1")
    assert log_verifies(engine)
    with engine.begin() as connection:
        connection.execute(update(table).values(event_key="forged"))
    verdict = verify_log(engine)
    assert not verdict.ok and "ord-1" in str(verdict.problem)


def _at_revision_0005(engine: Engine) -> Engine:
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    migrate(engine, "0005")
    return engine


def test_decisions_logged_before_request_hashes_verify_with_new_ones(db_url: str) -> None:
    engine = _at_revision_0005(make_engine(db_url))
    decisions = Table("decisions", MetaData(), autoload_with=engine)
    old = {"id": "0" * 32, **normalize(sample_decision("ord-old")), "personal": {}}
    del old["request_sha256"]  # no such column yet
    with engine.begin() as connection:
        connection.execute(insert(decisions), old)
        # What the release before 0006 committed to: every column it had.
        body = {"decision_id": old["id"], "order_id": "ord-old", "content": content_hash(old)}
        append_entry(connection, DECISION_CREATED, "ord-old", "service:scoring", body)
    migrate(engine)
    new, _ = save_decision(engine, sample_decision("ord-new", request_sha256="e" * 64), False)
    assert log_verifies(engine)
    with engine.connect() as connection:
        rows = connection.execute(select(DecisionRow.order_id, DecisionRow.request_sha256))
        hashes = {row.order_id: row.request_sha256 for row in rows}
    assert hashes == {"ord-old": None, "ord-new": "e" * 64}
    for order_id, forged in (("ord-new", None), ("ord-new", "f" * 64), ("ord-old", "f" * 64)):
        with engine.begin() as connection:
            connection.execute(
                update(DecisionRow)
                .where(DecisionRow.order_id == order_id)
                .values(request_sha256=forged)
            )
        verdict = verify_log(engine)
        assert not verdict.ok and order_id in str(verdict.problem), (order_id, forged)
        with engine.begin() as connection:
            connection.execute(
                update(DecisionRow)
                .where(DecisionRow.order_id == order_id)
                .values(request_sha256=hashes[order_id])
            )
    assert verify_log(engine).ok
    sequence_all(engine)
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(DecisionRow)).scalar_one() == 2
    assert new.request_sha256 == "e" * 64
