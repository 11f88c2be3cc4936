"""Upgrading a database the hash-chain release wrote: everything lands in the audit log."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from sqlalchemy import Engine, MetaData, Table, insert, select, text

from service.persistence import decision_by_order, make_engine, migrate
from service.persistence.access import personal_data_views
from service.persistence.audit_log import entries_about, sequence_all
from service.persistence.audit_rows import PersonalValueRow
from service.persistence.audit_verify import verify_log
from service.persistence.chain import commitment

CANONICAL = {"order_id": "old-1", "email": "old@example.com", "ip": "198.51.100.4"}
OLD_ORDER = {
    "order_id": "old-1",
    "customer": {"id": "cust-old", "email": "old@example.com"},
    "ip": "198.51.100.4",
    "shipping_address": {"name": "Ada Lovelace", "city": "London", "latitude": 51.5},
    "amount": "10.0000",
    "currency": "EUR",
    "canonical": CANONICAL,
}


def _old_decision(seq: int, order_id: str) -> dict[str, object]:
    moment = datetime(2026, 1, 1, 12, seq, tzinfo=UTC)
    return {
        "id": f"{seq:032x}",
        "seq": seq,
        "order_id": order_id,
        "created_at": moment,
        "decided_at": moment,
        "order_payload": {**OLD_ORDER, "order_id": order_id},
        "features": {"amount": 10.0},
        "score": 0.5,
        "raw_score": 0.0,
        "tier": "medium",
        "action": "approve",
        "freeze": False,
        "freeze_reason": None,
        "reasons": [],
        "shap_values": {"amount": 0.1},
        "base_value": -0.1,
        "model_name": "ordershield",
        "model_version": "1",
        "thresholds": {"medium": 0.3, "high": 0.7, "critical": 0.9},
        "spec_hash": "ab" * 32,
        "rules_version": None,
        "rules": [],
        "degraded": False,
        "latency_ms": 3.0,
        "prev_hash": "0" * 64,
        "hash": "1" * 64,
    }


def test_an_upgrade_moves_personal_values_out_and_logs_what_was_stored(db_url: str) -> None:
    downgraded = _at_revision_0004(make_engine(db_url))
    tables = MetaData()
    decisions = Table("decisions", tables, autoload_with=downgraded)
    views = Table("personal_data_views", tables, autoload_with=downgraded)
    updates = Table("feature_updates", tables, autoload_with=downgraded)
    with downgraded.begin() as connection:
        connection.execute(
            insert(decisions), [_old_decision(1, "old-1"), _old_decision(2, "old-2")]
        )
        connection.execute(
            insert(views),
            {
                "at": datetime(2026, 1, 2, tzinfo=UTC),
                "actor": "user:ann",
                "role": "legal",
                "record_type": "order",
                "record_id": "old-1",
                "attributes": ["customer.email"],
                "channel": "page",
            },
        )
        connection.execute(
            insert(updates),
            {
                "created_at": datetime(2026, 1, 2, tzinfo=UTC),
                "payload": {"canonical": CANONICAL, "stream": "fraud", "time_ms": 1},
                "attempts": 1,
                "last_error": "down",
                "done_at": None,
            },
        )
    migrate(downgraded)
    record = decision_by_order(downgraded, "old-1")
    assert record is not None
    assert "canonical" not in record.order_payload
    assert "email" not in record.order_payload["customer"]
    assert record.order["customer"]["email"] == "old@example.com"
    assert record.order["shipping_address"]["name"] == "Ada Lovelace"
    assert record.customer_id == "cust-old"
    with downgraded.connect() as connection:
        stored = connection.execute(select(PersonalValueRow)).fetchall()
        payloads = connection.execute(select(updates.c.payload)).scalars().all()
    assert len(stored) == 2 * 4  # e-mail, IP, shipping name and latitude of each order
    for row in stored:
        order_id = "old-1" if row.decision_id.endswith("1") else "old-2"
        committed = decision_by_order(downgraded, order_id)
        assert committed is not None
        assert committed.personal[row.path] == commitment(row.salt, orjson.loads(row.value))
    assert payloads == [{"order_id": "old-1", "stream": "fraud", "time_ms": 1}]
    [view] = personal_data_views(downgraded, "old-1")
    assert (view.actor, view.attributes) == ("user:ann", ["customer.email"])
    sequence_all(downgraded)
    assert verify_log(downgraded).ok
    assert [e.kind for e in entries_about(downgraded, "old-1")] == [
        "decision.created",
        "personal_data.viewed",
    ]
    [previous] = entries_about(downgraded, "decisions")
    assert previous.seq == 1 and previous.kind == "audit.previous_chain"
    assert previous.body == {"decisions": 2, "tip_seq": 2, "tip_hash": "1" * 64}


def _at_revision_0004(engine: Engine) -> Engine:
    """Return the engine's (new, or emptied PostgreSQL) database at revision 0004."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    migrate(engine, "0004")
    return engine
