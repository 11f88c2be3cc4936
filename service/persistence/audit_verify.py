"""Verification of the audit log: every leaf, tree head and decision it commits to.

A walk recomputes what the sequencer wrote; the tables the evidence is read
from are then held against the entries (`audit_tables`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, and_, select

from service.persistence import audit_tables
from service.persistence.audit_log import (
    DECISION_CREATED,
    DECISION_FIELDS,
    DECISIONS,
    LOG,
    PENDING,
    VERIFY_BATCH,
    AuditEntry,
)
from service.persistence.chain import canonical_json, committed, content_hash, entry_bytes
from service.persistence.db import translate_errors
from service.persistence.merkle import Frontier, leaf_hash


@dataclass(frozen=True)
class LogVerdict:
    """What a walk of the log found: its head, and the first entry that does not verify."""

    size: int
    root: str
    roots: dict[int, str]
    broken_seq: int | None
    problem: str | None

    @property
    def ok(self) -> bool:
        """Return whether every entry verified."""
        return self.problem is None


def decision_content(row: Any) -> str:
    """Return the content hash of a decision row: what its log entry commits to.

    A column the row lacks (one a later revision adds) counts as null.
    """
    return content_hash(committed({name: getattr(row, name, None) for name in DECISION_FIELDS}))


@translate_errors
def verify_log(engine: Engine, sizes: Sequence[int] = ()) -> LogVerdict:
    """Walk the whole log, recomputing every leaf, tree head and decision it commits to.

    Returns the first entry that does not verify (edited, missing or out of
    place, or whose decision changed), then the first row of the evidence
    tables (labels, payments, review actions, stock transitions, personal
    values) that the log does not vouch for, and the recomputed roots at
    `sizes`, to be held against signed checkpoints: a rewrite that recomputed
    every hash verifies here and is caught there.
    """
    frontier = Frontier()
    roots: dict[int, str] = {}
    wanted = set(sizes)
    joined = (
        select(LOG, *(DECISIONS.c[name].label(f"d_{name}") for name in DECISION_FIELDS))
        .select_from(
            LOG.outerjoin(
                DECISIONS,
                and_(LOG.c.kind == DECISION_CREATED, DECISIONS.c.order_id == LOG.c.subject),
            )
        )
        .order_by(LOG.c.seq)
    )
    with engine.connect() as connection:
        rows = connection.execution_options(yield_per=VERIFY_BATCH).execute(joined)
        for row in rows:
            problem = _entry_problem(row, frontier.size + 1)
            if problem is None:
                frontier.append(bytes.fromhex(row.leaf))
                if frontier.root().hex() != row.root:
                    problem = "its stored tree head is not the root of the log up to it"
            if problem is not None:
                return LogVerdict(frontier.size, frontier.root().hex(), roots, row.seq, problem)
            if frontier.size in wanted:
                roots[frontier.size] = frontier.root().hex()
        unlogged = _unlogged_decision(connection)
        tables = None if unlogged is not None else audit_tables.problem(connection)
    verdict_root = frontier.root().hex()
    if unlogged is not None:
        problem = f"decision of order {unlogged!r} has no entry in the log"
        return LogVerdict(frontier.size, verdict_root, roots, None, problem)
    return LogVerdict(frontier.size, verdict_root, roots, None, tables)


def _entry_problem(row: Any, expected_seq: int) -> str | None:
    """Return what is wrong with one joined log row, or None."""
    if row.seq != expected_seq:
        return f"entry {expected_seq} is missing (the next entry is {row.seq})"
    try:
        body = orjson.loads(row.body)
    except orjson.JSONDecodeError:
        return "its body is not JSON"
    if canonical_json(body) != row.body:
        return "its body is not in canonical form"
    entry = AuditEntry(row.seq, row.kind, row.subject, row.actor, row.at, body)
    if leaf_hash(entry_bytes(entry.as_dict())).hex() != row.leaf:
        return "its stored leaf hash is not the hash of its contents"
    if row.kind != DECISION_CREATED:
        return None
    if row.d_id is None:
        return f"the decision of order {row.subject!r} it commits to is missing"
    decision = committed({name: getattr(row, f"d_{name}") for name in DECISION_FIELDS})
    if content_hash(decision) != body.get("content"):
        return f"the decision of order {row.subject!r} differs from what it committed to"
    return None


def _unlogged_decision(connection: Connection) -> str | None:
    """Return the order id of a decision with neither a log entry nor a pending one."""
    logged = select(LOG.c.subject).where(LOG.c.kind == DECISION_CREATED)
    waiting = select(PENDING.c.subject).where(PENDING.c.kind == DECISION_CREATED)
    found = connection.execute(
        select(DECISIONS.c.order_id)
        .where(DECISIONS.c.order_id.not_in(logged), DECISIONS.c.order_id.not_in(waiting))
        .limit(1)
    ).first()
    return None if found is None else str(found.order_id)
