"""Every SQL statement of the audit log: append, sequence, read, checkpoints.

`audit_verify` walks it.

A change writes its entry into `audit_pending` inside its own transaction, with
no lock: decisions from many processes never queue behind one another. The
sequencer moves pending entries into `audit_log` in batches, giving each its
`seq`, its Merkle leaf and the tree head after it; one sequencer runs at a
time (it locks the single `audit_head` row), and it is the only writer of
`audit_log`, whose rows the database then refuses to change or delete.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import orjson
from sqlalchemy import Connection, Engine, Table, delete, insert, select, update

from service.persistence.audit_rows import (
    AuditCheckpointRow,
    AuditEntryRow,
    AuditHeadRow,
    AuditPendingRow,
)
from service.persistence.chain import (
    canonical_json,
    entry_bytes,
    json_round_trip,
    timestamp,
)
from service.persistence.db import translate_errors, writing
from service.persistence.merkle import Frontier, leaf_hash
from service.persistence.tables import DecisionRow

PENDING = cast(Table, AuditPendingRow.__table__)
LOG = cast(Table, AuditEntryRow.__table__)
HEAD = cast(Table, AuditHeadRow.__table__)
CHECKPOINTS = cast(Table, AuditCheckpointRow.__table__)
DECISIONS = cast(Table, DecisionRow.__table__)
# Built once: every decision appends an entry.
INSERT_PENDING = insert(PENDING)
HEAD_ID = 1
SEQUENCE_BATCH = 500
RACE_RETRIES = 5
# Entries hashed between two offers of the GIL (about half a millisecond of work).
YIELD_EVERY = 16
VERIFY_BATCH = 2000
DECISION_CREATED = "decision.created"
# The decision columns the log commits to: all of them (personal values live elsewhere).
DECISION_FIELDS = tuple(column.name for column in DECISIONS.c)


@dataclass(frozen=True)
class AuditEntry:
    """One entry of the log; `seq` is None while it waits for the sequencer."""

    seq: int | None
    kind: str
    subject: str
    actor: str
    at: datetime
    body: dict[str, Any]
    leaf: str | None = None
    root: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the entry's committed fields, as `chain.entry_bytes` reads them."""
        return {
            "seq": self.seq,
            "kind": self.kind,
            "subject": self.subject,
            "actor": self.actor,
            "at": self.at,
            "body": self.body,
        }


@dataclass(frozen=True)
class Head:
    """The log's size and Merkle root (the empty tree's root when it is empty)."""

    size: int
    root: str


@dataclass(frozen=True)
class StoredCheckpoint:
    """A signed tree head as the database keeps it."""

    size: int
    root: str
    signed_at: datetime
    key_id: str
    signature: str


def label_body(row: Mapping[str, Any]) -> dict[str, Any]:
    """Return what a label's entry records: the label, its reason, source and known time.

    A label sent with an identity (revision 0006 on) records it as `event`.
    """
    body = {
        "label": row["label"],
        "reason": row["reason"],
        "source": row["source"],
        "known_at": timestamp(row["known_at"]),
    }
    return with_event(body, row.get("event_key"))


def payment_body(row: Mapping[str, Any]) -> dict[str, Any]:
    """Return what a payment outcome's entry records: its status, known time and identity."""
    body = {"status": row["status"], "known_at": timestamp(row["known_at"])}
    return with_event(body, row.get("event_key"))


def with_event(body: dict[str, Any], event_key: str | None) -> dict[str, Any]:
    """Return an entry's body with the event's identity, when it has one."""
    return body if event_key is None else {**body, "event": event_key}


def append_entry(
    connection: Connection,
    kind: str,
    subject: str,
    actor: str,
    body: Mapping[str, Any],
    at: datetime | None = None,
) -> None:
    """Write an entry for the sequencer, inside the caller's transaction (no lock taken)."""
    connection.execute(INSERT_PENDING, pending_row(kind, subject, actor, body, at))


def pending_row(
    kind: str, subject: str, actor: str, body: Mapping[str, Any], at: datetime | None = None
) -> dict[str, Any]:
    """Return the `audit_pending` row of an entry (many are inserted in one statement)."""
    return {
        "kind": kind,
        "subject": subject,
        "actor": actor,
        "at": (at or datetime.now(UTC)).astimezone(UTC),
        "body": json_round_trip(dict(body)),
    }


@translate_errors
def record_entry(
    engine: Engine, kind: str, subject: str, actor: str, body: Mapping[str, Any]
) -> None:
    """Write one entry in a transaction of its own (for changes made outside the database)."""
    with writing(engine) as connection:
        append_entry(connection, kind, subject, actor, body)


class _LostRace(Exception):
    """Another sequencer appended between this one's read and its write."""


@translate_errors
def sequence(engine: Engine, limit: int = SEQUENCE_BATCH) -> int:
    """Move up to `limit` pending entries into the log; return how many moved.

    The hashing happens before the write transaction, so the write lock (all
    of SQLite's, or the head row's on PostgreSQL) is held only for the three
    statements that append. The write then checks that the head has not moved
    and that every pending entry it hashed is still there; if another
    sequencer came first, it hashes again from the new head.
    """
    for _ in range(RACE_RETRIES):
        try:
            return _sequence_once(engine, limit)
        except _LostRace:
            continue
    return 0  # sequencers keep colliding: the next round takes what is left


def _sequence_once(engine: Engine, limit: int) -> int:
    with engine.connect() as connection:  # reads only: most calls find nothing to do
        start = connection.execute(select(HEAD).where(HEAD.c.id == HEAD_ID)).first()
        pending = connection.execute(select(PENDING).order_by(PENDING.c.id).limit(limit)).fetchall()
    if not pending:
        return 0
    frontier = Frontier() if start is None else Frontier.from_json(start.frontier)
    first = frontier.size
    rows = []
    for count, item in enumerate(pending, 1):
        if count % YIELD_EVERY == 0:
            time.sleep(0)  # hand the GIL to scoring threads: no burst of hashing delays them
        entry = AuditEntry(
            frontier.size + 1, item.kind, item.subject, item.actor, item.at, item.body
        )
        leaf = leaf_hash(entry_bytes(entry.as_dict()))
        frontier.append(leaf)
        rows.append(
            {
                **entry.as_dict(),
                "body": canonical_json(entry.body),
                "leaf": leaf.hex(),
                "root": frontier.root().hex(),
            }
        )
    ids = [item.id for item in pending]
    with writing(engine) as connection:
        if _locked_head(connection).size != first:
            raise _LostRace
        taken = connection.execute(delete(PENDING).where(PENDING.c.id.in_(ids))).rowcount
        if taken != len(ids):
            raise _LostRace  # rolls the delete back with the transaction
        connection.execute(insert(LOG), rows)
        connection.execute(
            update(HEAD)
            .where(HEAD.c.id == HEAD_ID)
            .values(size=frontier.size, frontier=frontier.to_json())
        )
    return len(rows)


def sequence_all(engine: Engine) -> int:
    """Sequence every pending entry; return how many moved."""
    moved = total = sequence(engine)
    while moved:
        moved = sequence(engine)
        total += moved
    return total


def _locked_head(connection: Connection) -> Any:
    """Return the head row, locked for this transaction; create it on first use."""
    query = select(HEAD).where(HEAD.c.id == HEAD_ID).with_for_update()
    head = connection.execute(query).first()
    if head is None:
        connection.execute(insert(HEAD).values(id=HEAD_ID, size=0, frontier=Frontier().to_json()))
        head = connection.execute(query).one()
    return head


@translate_errors
def head(engine: Engine) -> Head:
    """Return the log's current size and root."""
    with engine.connect() as connection:
        row = connection.execute(select(HEAD).where(HEAD.c.id == HEAD_ID)).first()
    frontier = Frontier() if row is None else Frontier.from_json(row.frontier)
    return Head(frontier.size, frontier.root().hex())


def _entry(row: Any) -> AuditEntry:
    body = orjson.loads(row.body) if isinstance(row.body, str) else row.body
    return AuditEntry(row.seq, row.kind, row.subject, row.actor, row.at, body, row.leaf, row.root)


def _pending(row: Any) -> AuditEntry:
    return AuditEntry(None, row.kind, row.subject, row.actor, row.at, row.body)


@translate_errors
def entries_about(
    engine: Engine, subject: str, kinds: Sequence[str] | None = None
) -> list[AuditEntry]:
    """Return the entries about a subject (an order id, a user, a key), pending ones last."""
    log = select(LOG).where(LOG.c.subject == subject).order_by(LOG.c.seq)
    waiting = select(PENDING).where(PENDING.c.subject == subject).order_by(PENDING.c.id)
    if kinds is not None:
        log = log.where(LOG.c.kind.in_(kinds))
        waiting = waiting.where(PENDING.c.kind.in_(kinds))
    with engine.connect() as connection:
        return [_entry(r) for r in connection.execute(log)] + [
            _pending(r) for r in connection.execute(waiting)
        ]


@translate_errors
def entries_between(engine: Engine, first: int, last: int) -> list[AuditEntry]:
    """Return the sequenced entries with `first <= seq <= last`."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(LOG).where(LOG.c.seq.between(first, last)).order_by(LOG.c.seq)
        )
        return [_entry(row) for row in rows]


@translate_errors
def leaves(engine: Engine, size: int) -> list[bytes]:
    """Return the leaf hashes of the first `size` entries (for proofs against a tree head)."""
    with engine.connect() as connection:
        rows = connection.execution_options(yield_per=50_000).execute(
            select(LOG.c.leaf).where(LOG.c.seq <= size).order_by(LOG.c.seq)
        )
        found = [bytes.fromhex(leaf) for (leaf,) in rows]
    if len(found) != size:
        raise ValueError(f"the log holds {len(found)} of the {size} entries asked for")
    return found


@translate_errors
def save_checkpoint(engine: Engine, checkpoint: StoredCheckpoint) -> None:
    """Keep a signed tree head in the database too (the file outside it is the anchor)."""
    with writing(engine) as connection:
        connection.execute(insert(CHECKPOINTS), vars(checkpoint))


@translate_errors
def checkpoints(engine: Engine) -> list[StoredCheckpoint]:
    """Return the signed tree heads kept in the database, oldest first."""
    with engine.connect() as connection:
        rows = connection.execute(select(CHECKPOINTS).order_by(CHECKPOINTS.c.id))
        return [StoredCheckpoint(r.size, r.root, r.signed_at, r.key_id, r.signature) for r in rows]


@translate_errors
def latest_checkpoint(engine: Engine) -> StoredCheckpoint | None:
    """Return the newest signed tree head, or None."""
    found = checkpoints(engine)
    return max(found, key=lambda c: (c.size, c.signed_at)) if found else None


def iter_log(engine: Engine, first: int = 1) -> Iterator[AuditEntry]:
    """Yield the sequenced entries from `first` on, streaming."""
    with engine.connect() as connection:
        rows = connection.execution_options(yield_per=VERIFY_BATCH).execute(
            select(LOG).where(LOG.c.seq >= first).order_by(LOG.c.seq)
        )
        for row in rows:
            yield _entry(row)


@translate_errors
def recent_entries(
    engine: Engine, kind: str, subject: str | None = None, limit: int = 200
) -> list[AuditEntry]:
    """Return the newest entries of one kind (of one subject), pending ones first."""
    waiting = select(PENDING).where(PENDING.c.kind == kind).order_by(PENDING.c.id.desc())
    log = select(LOG).where(LOG.c.kind == kind).order_by(LOG.c.seq.desc())
    if subject is not None:
        waiting = waiting.where(PENDING.c.subject == subject)
        log = log.where(LOG.c.subject == subject)
    with engine.connect() as connection:
        found = [_pending(r) for r in connection.execute(waiting.limit(limit))]
        found += [_entry(r) for r in connection.execute(log.limit(limit - len(found)))]
    return found
