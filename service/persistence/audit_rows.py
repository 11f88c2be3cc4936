"""Tables of the audit log and of the personal values kept outside it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.persistence.base import Base


class PersonalValueRow(Base):
    """One personal value of a decided order, outside the bytes the audit log commits to.

    Erasure empties `value` and `salt` and says when and by whom; the decision's
    commitment stays, and no longer reveals anything.
    """

    __tablename__ = "personal_values"
    __table_args__ = (UniqueConstraint("decision_id", "path", name="uq_personal_values_path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    decision_id: Mapped[str] = mapped_column(String(32), ForeignKey("decisions.id"))
    customer_id: Mapped[str | None] = mapped_column(index=True)
    path: Mapped[str]
    # The value as canonical JSON text: a JSON column would turn "52.1" into a number on SQLite.
    value: Mapped[str | None] = mapped_column(Text)
    salt: Mapped[str | None] = mapped_column(String(32))
    erased_at: Mapped[datetime | None]
    erased_by: Mapped[str | None]


class AuditPendingRow(Base):
    """An audit entry written by its change's transaction, waiting for its place in the log.

    Appending here takes no lock: the sequencer (`audit_log.sequence`) moves
    pending entries into `audit_log` in batches, one sequencer at a time.
    """

    __tablename__ = "audit_pending"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str]
    subject: Mapped[str]
    actor: Mapped[str]
    at: Mapped[datetime]
    body: Mapped[dict[str, Any]] = mapped_column(JSON)


class AuditEntryRow(Base):
    """One entry of the append-only audit log: leaf `seq - 1` of its Merkle tree.

    `body` is kept as the exact canonical JSON text the leaf hashes; `root` is
    the tree head once this entry is in. The database refuses UPDATE and DELETE.
    """

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_subject_seq", "subject", "seq"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(index=True)
    subject: Mapped[str]
    actor: Mapped[str] = mapped_column(index=True)
    at: Mapped[datetime] = mapped_column(index=True)
    body: Mapped[str] = mapped_column(Text)
    leaf: Mapped[str] = mapped_column(String(64))
    root: Mapped[str] = mapped_column(String(64))


class AuditHeadRow(Base):
    """The sequencer's state: the log's size and the frontier of its Merkle tree."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(Integer)
    frontier: Mapped[dict[str, Any]] = mapped_column(JSON)


class AuditCheckpointRow(Base):
    """A signed tree head, also written to a file outside the database."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    size: Mapped[int] = mapped_column(Integer, index=True)
    root: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime]
    key_id: Mapped[str] = mapped_column(String(16))
    signature: Mapped[str]
