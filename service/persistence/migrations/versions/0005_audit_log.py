"""The audit log: a Merkle log of everything that matters, personal values kept apart.

Decisions lose their hash-chain columns and their stored canonical copy; their
personal values move to `personal_values`, committed to by salted hashes.
Every decision and personal-data view already stored becomes an entry of the
new log, in the order it happened, so an upgraded database verifies as a new one.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

from service.persistence.base import UTCDateTime
from service.persistence.chain import canonical_json, commitment, json_round_trip
from service.persistence.merkle import Frontier

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = sa.DateTime(timezone=True)
# The personal attributes of an order as this revision stores it.
PERSONAL_PATHS = (
    "customer.email",
    "customer.phone",
    "ip",
    "payment.last4",
    "shipping_address.name",
    "shipping_address.lines",
    "shipping_address.latitude",
    "shipping_address.longitude",
    "billing_address.name",
    "billing_address.lines",
    "billing_address.latitude",
    "billing_address.longitude",
)
REFUSE = "audit_log is append-only: % refused"
PENDING = sa.table(
    "audit_pending",
    *(sa.column(c, sa.String()) for c in ("kind", "subject", "actor")),
    sa.column("at", UTCDateTime()),
    sa.column("body", sa.JSON()),
)


def upgrade() -> None:
    """Create the log's tables, move personal values out, log what is stored, guard the log."""
    _create_tables()
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("customer_id", sa.String(), nullable=True))
        batch.add_column(sa.Column("personal", sa.JSON(), nullable=True))
        batch.create_index("ix_decisions_customer_id", ["customer_id"])
        batch.create_index("ix_decisions_decided_at", ["decided_at"])
    _move_decisions()
    _move_views()
    _log_history()
    _name_queued_orders()
    with op.batch_alter_table("decisions") as batch:
        batch.alter_column("personal", existing_type=sa.JSON(), nullable=False)
        batch.drop_constraint("uq_decisions_seq", type_="unique")
        batch.drop_column("seq")
        batch.drop_column("prev_hash")
        batch.drop_column("hash")
    op.drop_table("personal_data_views")
    _guard_log()


def _create_tables() -> None:
    op.create_table(
        "personal_values",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("decision_id", sa.String(32), nullable=False),
        sa.Column("customer_id", sa.String(), nullable=True),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("salt", sa.String(32), nullable=True),
        sa.Column("erased_at", TIME, nullable=True),
        sa.Column("erased_by", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["decisions.id"],
            name=op.f("fk_personal_values_decision_id_decisions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_personal_values")),
        sa.UniqueConstraint("decision_id", "path", name="uq_personal_values_path"),
    )
    op.create_index("ix_personal_values_customer_id", "personal_values", ["customer_id"])
    op.create_table(
        "audit_pending",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_pending")),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("leaf", sa.String(64), nullable=False),
        sa.Column("root", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_kind", "audit_log", ["kind"])
    op.create_index("ix_audit_log_actor", "audit_log", ["actor"])
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_subject_seq", "audit_log", ["subject", "seq"])
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("frontier", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    # The one head row exists from the start: concurrent sequencers lock it, never create it.
    op.bulk_insert(head, [{"id": 1, "size": 0, "frontier": Frontier().to_json()}])
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("root", sa.String(64), nullable=False),
        sa.Column("signed_at", TIME, nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("signature", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
    )
    op.create_index("ix_audit_checkpoints_size", "audit_checkpoints", ["size"])


def _pending(kind: str, subject: str, actor: str, at: Any, body: dict[str, Any]) -> dict[str, Any]:
    return {"kind": kind, "subject": subject, "actor": actor, "at": at, "body": body}


def _move_decisions() -> None:
    """Split each stored decision's personal values out and queue its log entry, oldest first."""
    connection = op.get_bind()
    decisions = sa.table(
        "decisions",
        sa.column("id", sa.String()),
        sa.column("seq", sa.Integer()),
        sa.column("order_payload", sa.JSON()),
        sa.column("customer_id", sa.String()),
        sa.column("personal", sa.JSON()),
    )
    values_table = sa.table(
        "personal_values",
        sa.column("decision_id", sa.String()),
        sa.column("customer_id", sa.String()),
        sa.column("path", sa.String()),
        sa.column("value", sa.Text()),
        sa.column("salt", sa.String()),
    )
    _record_previous_chain(connection)
    rows = connection.execute(
        sa.select(decisions.c.id, decisions.c.order_payload).order_by(decisions.c.seq)
    ).fetchall()
    for row in rows:
        payload = _json(row.order_payload)
        payload.pop("canonical", None)
        values: dict[str, tuple[Any, str]] = {}
        for path in PERSONAL_PATHS:
            *parents, leaf = path.split(".")
            node: Any = payload
            for part in parents:
                node = node.get(part) if isinstance(node, dict) else None
            if isinstance(node, dict) and node.get(leaf) is not None:
                values[path] = (json_round_trip(node.pop(leaf)), secrets.token_hex(16))
        customer = payload.get("customer")
        customer_id = customer.get("id") if isinstance(customer, dict) else None
        connection.execute(
            sa.update(decisions)
            .where(decisions.c.id == row.id)
            .values(
                order_payload=payload,
                customer_id=customer_id,
                personal={path: commitment(salt, v) for path, (v, salt) in values.items()},
            )
        )
        if values:
            connection.execute(
                sa.insert(values_table),
                [
                    {
                        "decision_id": row.id,
                        "customer_id": customer_id,
                        "path": path,
                        "value": canonical_json(v),
                        "salt": salt,
                    }
                    for path, (v, salt) in values.items()
                ],
            )
    _queue_decision_entries()


def _record_previous_chain(connection: sa.Connection) -> None:
    """Make the log's first entry the old hash chain's tip, so the two can be tied together.

    Verify the old chain with the release that wrote it before upgrading: this
    entry then carries its verified tip into the new log.
    """
    tip = connection.execute(
        sa.text("SELECT seq, hash FROM decisions ORDER BY seq DESC LIMIT 1")
    ).first()
    if tip is None:
        return
    body = {"decisions": tip.seq, "tip_seq": tip.seq, "tip_hash": tip.hash}
    at = connection.execute(sa.text("SELECT MAX(decided_at) FROM decisions")).scalar()
    moment = at if isinstance(at, datetime) else datetime.now(UTC)
    connection.execute(
        sa.insert(PENDING),
        _pending("audit.previous_chain", "decisions", "migration:0005", moment, body),
    )


def _queue_decision_entries() -> None:
    """Queue one `decision.created` entry per decision, from the rows as now stored."""
    from service.persistence.audit_log import DECISION_CREATED
    from service.persistence.audit_verify import decision_content
    from service.persistence.tables import DecisionRow

    connection = op.get_bind()
    rows = connection.execute(
        _as_stored(DecisionRow.__table__).order_by(DecisionRow.decided_at, DecisionRow.id)
    ).fetchall()
    for row in rows:
        body = {"decision_id": row.id, "order_id": row.order_id, "content": decision_content(row)}
        connection.execute(
            sa.insert(PENDING),
            _pending(DECISION_CREATED, row.order_id, "service:scoring", row.decided_at, body),
        )


def _move_views() -> None:
    """Queue the personal-data view log's rows as log entries."""
    connection = op.get_bind()
    views = sa.table(
        "personal_data_views",
        *(sa.column(c, sa.String()) for c in ("actor", "role", "record_type", "record_id")),
        sa.column("channel", sa.String()),
        sa.column("id", sa.Integer()),
        sa.column("at", UTCDateTime()),
        sa.column("attributes", sa.JSON()),
    )
    for row in connection.execute(sa.select(views).order_by(views.c.at, views.c.id)).fetchall():
        body = {
            "role": row.role,
            "record_type": row.record_type,
            "attributes": _json(row.attributes),
            "channel": row.channel,
        }
        connection.execute(
            sa.insert(PENDING),
            _pending("personal_data.viewed", row.record_id, row.actor, row.at, body),
        )


def _log_history() -> None:
    """Queue an entry for every stored label, payment outcome, review action and stock move."""
    from service.persistence.audit_log import label_body
    from service.persistence.chain import timestamp
    from service.persistence.tables import (
        CaseActionRow,
        LabelRow,
        PaymentOutcomeRow,
        StockTransitionRow,
    )

    connection = op.get_bind()
    entries: list[dict[str, Any]] = []
    for row in connection.execute(_as_stored(LabelRow.__table__)).fetchall():
        actor = "review" if row.source == "review" else f"labels:{row.source}"
        body = label_body(dict(row._mapping))
        entries.append(_pending(f"label.{row.label}", row.order_id, actor, row.received_at, body))
    for row in connection.execute(_as_stored(PaymentOutcomeRow.__table__)).fetchall():
        body = {"status": row.status, "known_at": timestamp(row.known_at)}
        kind = f"payment.{row.status}"
        entries.append(_pending(kind, row.order_id, "payments", row.received_at, body))
    for row in connection.execute(sa.select(CaseActionRow.__table__)).fetchall():
        body = {
            "case_id": row.case_id,
            "action": row.action,
            "actor_role": row.actor_role,
            "reason_code": row.reason_code,
            "note": row.note,
            "scenario": row.scenario,
        }
        entries.append(_pending(f"review.{row.action}", row.order_id, row.actor, row.at, body))
    for row in connection.execute(sa.select(StockTransitionRow.__table__)).fetchall():
        body = {
            "from": row.from_state,
            "to": row.to_state,
            "outcome": row.outcome,
            "reason": row.reason,
        }
        entries.append(_pending(f"stock.{row.to_state}", row.order_id, row.actor, row.at, body))
    entries.sort(key=lambda entry: entry["at"])
    if entries:
        connection.execute(sa.insert(PENDING), entries)


def _name_queued_orders() -> None:
    """Rewrite queued feature updates to name their order instead of holding a copy of it."""
    connection = op.get_bind()
    updates = sa.table(
        "feature_updates", sa.column("id", sa.Integer()), sa.column("payload", sa.JSON())
    )
    for row in connection.execute(sa.select(updates.c.id, updates.c.payload)).fetchall():
        payload = _json(row.payload)
        canonical = payload.pop("canonical", None)
        if isinstance(canonical, dict):
            payload["order_id"] = canonical.get("order_id")
            connection.execute(
                sa.update(updates).where(updates.c.id == row.id).values(payload=payload)
            )


def _as_stored(table: Any) -> sa.Select[Any]:
    """Select the columns a table has at this revision (the models may have more by now)."""
    present = {column["name"] for column in sa.inspect(op.get_bind()).get_columns(table.name)}
    return sa.select(*(column for column in table.c if column.name in present))


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _guard_log() -> None:
    """Make the database itself refuse UPDATE and DELETE on the log (and TRUNCATE on PostgreSQL)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION ordershield_audit_log_append_only() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{REFUSE}', TG_OP USING ERRCODE = 'insufficient_privilege';
            END
            $$
            """
        )
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION ordershield_audit_log_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION ordershield_audit_log_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_pending_no_update BEFORE UPDATE ON audit_pending "
            "FOR EACH ROW EXECUTE FUNCTION ordershield_audit_log_append_only()"
        )
        op.execute("REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC")
        return
    for operation in ("UPDATE", "DELETE"):
        message = REFUSE.replace("%", operation)
        op.execute(
            f"CREATE TRIGGER audit_log_no_{operation.lower()} BEFORE {operation} ON audit_log "
            f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
        )
    # A pending entry is moved (deleted by the sequencer), never changed.
    op.execute(
        "CREATE TRIGGER audit_pending_no_update BEFORE UPDATE ON audit_pending "
        "BEGIN SELECT RAISE(ABORT, 'audit_pending is append-only: UPDATE refused'); END"
    )


def downgrade() -> None:
    """Not supported: the log and the erasable personal values cannot be folded back."""
    raise NotImplementedError("0005 cannot be downgraded: restore a backup taken before it")
