"""Create decisions, review cases, labels, payment outcomes and the feature-update outbox.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create every table."""
    op.create_table(
        "decisions",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.String(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("decided_at", TIME, nullable=False),
        sa.Column("order_payload", sa.JSON(), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("raw_score", sa.Double(), nullable=False),
        sa.Column("tier", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("freeze", sa.Boolean(), nullable=False),
        sa.Column("freeze_reason", sa.String(), nullable=True),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("shap_values", sa.JSON(), nullable=False),
        sa.Column("base_value", sa.Double(), nullable=False),
        sa.Column("model_name", sa.String(), nullable=False),
        sa.Column("model_version", sa.String(), nullable=False),
        sa.Column("thresholds", sa.JSON(), nullable=False),
        sa.Column("spec_hash", sa.String(), nullable=False),
        sa.Column("rules_version", sa.String(), nullable=True),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("degraded", sa.Boolean(), nullable=False),
        sa.Column("latency_ms", sa.Double(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decisions")),
        sa.UniqueConstraint("seq", name=op.f("uq_decisions_seq")),
        sa.UniqueConstraint("order_id", name=op.f("uq_decisions_order_id")),
    )
    op.create_table(
        "review_cases",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("decision_id", sa.String(32), nullable=False),
        sa.Column("order_id", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("opened_at", TIME, nullable=False),
        sa.Column("closed_at", TIME, nullable=True),
        sa.Column("reviewer", sa.String(), nullable=True),
        sa.Column("note", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_cases")),
        sa.ForeignKeyConstraint(
            ["decision_id"], ["decisions.id"], name=op.f("fk_review_cases_decision_id_decisions")
        ),
        sa.UniqueConstraint("decision_id", name=op.f("uq_review_cases_decision_id")),
        sa.CheckConstraint(
            "status IN ('open', 'approved', 'rejected')", name=op.f("ck_review_cases_status")
        ),
    )
    op.create_index(op.f("ix_review_cases_order_id"), "review_cases", ["order_id"])
    op.create_index(
        op.f("ix_review_cases_status_opened_at"), "review_cases", ["status", "opened_at"]
    )
    op.create_table(
        "labels",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("order_id", sa.String(), nullable=False),
        sa.Column("label", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("known_at", TIME, nullable=False),
        sa.Column("received_at", TIME, nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_labels")),
        sa.CheckConstraint("label IN ('fraud', 'legit')", name=op.f("ck_labels_label")),
        sa.CheckConstraint("source IN ('api', 'file', 'review')", name=op.f("ck_labels_source")),
    )
    op.create_index(op.f("ix_labels_order_id"), "labels", ["order_id"])
    op.create_table(
        "payment_outcomes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("order_id", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("known_at", TIME, nullable=False),
        sa.Column("received_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_outcomes")),
        sa.CheckConstraint(
            "status IN ('declined', 'authorized')", name=op.f("ck_payment_outcomes_status")
        ),
    )
    op.create_index(op.f("ix_payment_outcomes_order_id"), "payment_outcomes", ["order_id"])
    op.create_table(
        "feature_updates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("done_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feature_updates")),
    )
    op.create_index(op.f("ix_feature_updates_done_at"), "feature_updates", ["done_at"])


def downgrade() -> None:
    """Drop every table."""
    for table in ("feature_updates", "payment_outcomes", "labels", "review_cases", "decisions"):
        op.drop_table(table)
