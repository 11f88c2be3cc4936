"""Feature updates are written with their decision and claimed by one drainer at a time.

Every decision now stores its pending online-store update in its own
transaction, so a crash between the commit and the store write loses nothing.
A drainer claims due rows (`claimed_by`, `claimed_until`) before applying
them, so two processes never work the same row; a claim that outlives its
drainer simply expires.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the claim columns to the feature-update outbox."""
    op.add_column("feature_updates", sa.Column("claimed_by", sa.String(), nullable=True))
    op.add_column(
        "feature_updates", sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    """Drop the claim columns."""
    with op.batch_alter_table("feature_updates") as batch:
        batch.drop_column("claimed_until")
        batch.drop_column("claimed_by")
