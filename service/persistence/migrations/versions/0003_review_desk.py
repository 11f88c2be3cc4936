"""The review desk: case priority and claims, case history, stock holds, entity links, outbox.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = sa.DateTime(timezone=True)
OLD_STATUS = "status IN ('open', 'approved', 'rejected')"
STATUS = "status IN ('open', 'approved', 'rejected', 'expired')"
LEVEL = "level IN ('reviewer', 'senior_reviewer')"


def case_columns() -> tuple[sa.Column[Any], ...]:
    """Return the columns cases gain (new objects each time: a column joins one table)."""
    # Cases opened before this revision get neutral values; their priority is then by age.
    return (
        sa.Column("tier", sa.String(), nullable=False, server_default="high"),
        sa.Column("score", sa.Double(), nullable=False, server_default="0"),
        sa.Column("amount", sa.Double(), nullable=False, server_default="0"),
        sa.Column("currency", sa.String(3), nullable=False, server_default="XXX"),
        sa.Column("expected_loss", sa.Double(), nullable=False, server_default="0"),
        sa.Column("top_reason", sa.String(), nullable=True),
        sa.Column("top_family", sa.String(), nullable=True),
        sa.Column("sla_due_at", TIME, nullable=False, server_default=sa.text("CURRENT_TIMESTAMP")),
        sa.Column("level", sa.String(), nullable=False, server_default="reviewer"),
        sa.Column("claimed_by", sa.String(), nullable=True),
        sa.Column("claim_expires_at", TIME, nullable=True),
        sa.Column("reason_code", sa.String(), nullable=True),
        sa.Column("scenario", sa.String(), nullable=True),
    )


def upgrade() -> None:
    """Extend review cases and create the lifecycle, history, link and outbox tables."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    # SQLite cannot alter a CHECK constraint: the table is copied with the new one.
    with op.batch_alter_table("review_cases", recreate="always" if sqlite else "auto") as batch:
        batch.drop_constraint(op.f("ck_review_cases_status"), type_="check")
        batch.create_check_constraint(op.f("ck_review_cases_status"), sa.text(STATUS))
        for column in case_columns():
            batch.add_column(column)
        batch.create_check_constraint(op.f("ck_review_cases_level"), sa.text(LEVEL))
        batch.create_index(op.f("ix_review_cases_claimed_by"), ["claimed_by"])
        batch.create_index("ix_review_cases_status_expected_loss", ["status", "expected_loss"])
        batch.create_index("ix_review_cases_status_sla_due_at", ["status", "sla_due_at"])
    op.create_table(
        "case_actions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(32), nullable=False),
        sa.Column("order_id", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("actor_role", sa.String(), nullable=False),
        sa.Column("reason_code", sa.String(), nullable=True),
        sa.Column("note", sa.String(), nullable=True),
        sa.Column("scenario", sa.String(), nullable=True),
        sa.Column("at", TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["review_cases.id"], name=op.f("fk_case_actions_case_id_review_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_actions")),
    )
    op.create_index("ix_case_actions_case_id_id", "case_actions", ["case_id", "id"])
    op.create_index(op.f("ix_case_actions_at"), "case_actions", ["at"])
    op.create_table(
        "stock_holds",
        sa.Column("order_id", sa.String(), nullable=False),
        sa.Column("decision_id", sa.String(32), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=True),
        sa.Column("updated_at", TIME, nullable=False),
        sa.CheckConstraint(
            "state IN ('frozen', 'released', 'cancelled', 'expired')",
            name=op.f("ck_stock_holds_state"),
        ),
        sa.ForeignKeyConstraint(
            ["decision_id"], ["decisions.id"], name=op.f("fk_stock_holds_decision_id_decisions")
        ),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_stock_holds")),
        sa.UniqueConstraint("decision_id", name=op.f("uq_stock_holds_decision_id")),
    )
    op.create_table(
        "stock_transitions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("order_id", sa.String(), nullable=False),
        sa.Column("from_state", sa.String(), nullable=True),
        sa.Column("to_state", sa.String(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=True),
        sa.Column("at", TIME, nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_transitions")),
    )
    op.create_index(op.f("ix_stock_transitions_order_id"), "stock_transitions", ["order_id"])
    op.create_table(
        "decision_links",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("order_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decision_links")),
    )
    op.create_index(
        "ix_decision_links_kind_key_created_at", "decision_links", ["kind", "key", "created_at"]
    )
    op.create_index(op.f("ix_decision_links_order_id"), "decision_links", ["order_id"])
    op.create_table(
        "outbox_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("order_id", sa.String(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_events")),
    )
    op.create_index(op.f("ix_outbox_events_order_id"), "outbox_events", ["order_id"])


def downgrade() -> None:
    """Drop what `upgrade` added."""
    for table in ("outbox_events", "decision_links", "stock_transitions", "stock_holds"):
        op.drop_table(table)
    op.drop_table("case_actions")
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table("review_cases", recreate="always" if sqlite else "auto") as batch:
        batch.drop_index("ix_review_cases_status_sla_due_at")
        batch.drop_index("ix_review_cases_status_expected_loss")
        batch.drop_index(op.f("ix_review_cases_claimed_by"))
        batch.drop_constraint(op.f("ck_review_cases_level"), type_="check")
        for column in reversed(case_columns()):
            batch.drop_column(column.name)
        batch.drop_constraint(op.f("ck_review_cases_status"), type_="check")
        batch.create_check_constraint(op.f("ck_review_cases_status"), sa.text(OLD_STATUS))
