"""Request identity: a decision keeps its request's hash, later events their identity.

`decisions.request_sha256` lets a repeated order id with another body be
refused; it is null for the decisions stored before, which the audit log
committed to without it (and still does: a null one is left out). Labels and
payment outcomes get `event_key`, unique per order, and their request's hash,
so a retried event is stored, and counted, once. Nothing is backfilled: the
events stored before may repeat, and stay as they are.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EVENT_TABLES = ("labels", "payment_outcomes")


def upgrade() -> None:
    """Add the request hash to decisions, and the identity and hash to labels and payments."""
    op.add_column("decisions", sa.Column("request_sha256", sa.String(64), nullable=True))
    for table in EVENT_TABLES:
        op.add_column(table, sa.Column("event_key", sa.String(), nullable=True))
        op.add_column(table, sa.Column("request_sha256", sa.String(64), nullable=True))
        op.create_index(
            f"uq_{table}_order_id_event_key", table, ["order_id", "event_key"], unique=True
        )


def downgrade() -> None:
    """Drop the identities and hashes (a repeated event is then stored again)."""
    for table in EVENT_TABLES:
        op.drop_index(f"uq_{table}_order_id_event_key", table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("request_sha256")
            batch.drop_column("event_key")
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("request_sha256")
