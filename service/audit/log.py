"""The audit log as legal uses it: signed checkpoints, and verification against them.

A checkpoint signs the log's size and Merkle root with an Ed25519 key kept
outside the database, and is written to a file (and, if set, to a witness).
Whoever can write the database can recompute every hash, but not sign: any
earlier checkpoint then disagrees with the rewritten log.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Engine

from service.audit.signing import (
    Checkpoint,
    checkpoint_to_json,
    key_id,
    load_signing_key,
    read_checkpoint,
    sign_checkpoint,
    verify_checkpoint,
    write_checkpoint,
)
from service.persistence.audit_log import (
    StoredCheckpoint,
    checkpoints,
    entries_between,
    head,
    latest_checkpoint,
    leaves,
    save_checkpoint,
    sequence_all,
)
from service.persistence.audit_verify import LogVerdict, verify_log
from service.persistence.chain import entry_bytes
from service.persistence.merkle import leaf_hash, root
from service.settings import ServiceSettings

log = logging.getLogger(__name__)
LOG_NAME = "ordershield"


def stored(checkpoint: Checkpoint) -> StoredCheckpoint:
    """Return a checkpoint as the database keeps it."""
    return StoredCheckpoint(
        checkpoint.size,
        checkpoint.root,
        checkpoint.signed_at,
        checkpoint.key_id,
        checkpoint.signature,
    )


def from_stored(row: StoredCheckpoint) -> Checkpoint:
    """Return a checkpoint the database kept."""
    return Checkpoint(LOG_NAME, row.size, row.root, row.signed_at, row.key_id, row.signature)


class CheckpointRefused(RuntimeError):
    """The log disagrees with the last checkpoint: signing its head would vouch for a rewrite."""


def take_checkpoint(engine: Engine, settings: ServiceSettings) -> tuple[Checkpoint, Path]:
    """Sequence what is pending, sign the log's head, keep it and write it out; return both.

    Before it signs, the log must still hold the last checkpoint (the newest
    file, or the newest one kept in the database, signed by this key) as its
    prefix, and every entry since must hash to its stored leaf: otherwise a
    rewrite would get a fresh signature, and bundles from it would verify.
    """
    key = load_signing_key(settings.signing_key_source)
    sequence_all(engine)
    current = head(engine)
    _refuse_a_rewrite(engine, settings, key.public_key(), current.size)
    checkpoint = sign_checkpoint(
        key, LOG_NAME, current.size, bytes.fromhex(current.root), datetime.now(UTC)
    )
    save_checkpoint(engine, stored(checkpoint))
    path = write_checkpoint(checkpoint, settings.checkpoint_dir)
    if settings.audit_witness_url:
        _tell_witness(settings, checkpoint)
    return checkpoint, path


def last_checkpoint(
    engine: Engine, settings: ServiceSettings, public_key: Ed25519PublicKey
) -> Checkpoint | None:
    """Return the largest checkpoint this key signed, from the files or the database."""
    found = [from_stored(row) for row in checkpoints(engine)]
    files = sorted(settings.checkpoint_dir.glob("checkpoint-*.json"))
    for path in files[-1:]:
        try:
            found.append(read_checkpoint(path))
        except (OSError, ValueError):
            log.warning("unreadable checkpoint file %s", path)
    signed = [c for c in found if verify_checkpoint(c, public_key)]
    return max(signed, key=lambda c: (c.size, c.signed_at), default=None)


def _refuse_a_rewrite(
    engine: Engine, settings: ServiceSettings, public_key: Ed25519PublicKey, size: int
) -> None:
    last = last_checkpoint(engine, settings, public_key)
    if last is None:
        return
    if size < last.size:
        raise CheckpointRefused(
            f"the log holds {size} entries, fewer than the {last.size} the last checkpoint signed"
        )
    stored = leaves(engine, size)
    if root(stored[: last.size]).hex() != last.root:
        raise CheckpointRefused(
            f"the log's first {last.size} entries no longer have the root the last checkpoint "
            "signed: history was rewritten; run `ordershield audit verify`"
        )
    for entry in entries_between(engine, last.size + 1, size):
        if leaf_hash(entry_bytes(entry.as_dict())).hex() != entry.leaf:
            raise CheckpointRefused(f"entry {entry.seq} does not hash to its stored leaf")


def checkpoint_if_grown(engine: Engine, settings: ServiceSettings) -> Checkpoint | None:
    """Take a checkpoint when the log grew since the last one (the service's chore)."""
    sequence_all(engine)
    last = latest_checkpoint(engine)
    if last is not None and head(engine).size <= last.size:
        return None
    return take_checkpoint(engine, settings)[0]


def _tell_witness(settings: ServiceSettings, checkpoint: Checkpoint) -> None:
    """POST the checkpoint to the witness; a witness that fails is logged, never waited for."""
    url = str(settings.audit_witness_url)
    try:
        answer = httpx.post(
            url,
            json=checkpoint_to_json(checkpoint),
            timeout=settings.audit_witness_timeout_seconds,
        )
        answer.raise_for_status()
    except httpx.HTTPError as error:
        log.warning("the audit witness did not take checkpoint %d: %s", checkpoint.size, error)


@dataclass(frozen=True)
class CheckpointCheck:
    """One checkpoint held against the log: where it came from and what was wrong, if anything."""

    checkpoint: Checkpoint
    source: str
    problem: str | None


@dataclass(frozen=True)
class Verification:
    """The walk of the log and every checkpoint held against it."""

    log: LogVerdict
    checks: list[CheckpointCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Return whether the log and every checkpoint verified."""
        return self.log.ok and all(check.problem is None for check in self.checks)

    def summary(self) -> str:
        """Return the verdict in one paragraph: what holds, or the first thing broken."""
        if not self.log.ok:
            where = f"entry {self.log.broken_seq}" if self.log.broken_seq else "the log"
            return f"{where} does not verify: {self.log.problem}"
        failed = [check for check in self.checks if check.problem is not None]
        if failed:
            return _narrowed(failed[0], self.checks)
        held = len(self.checks)
        return f"all {self.log.size} entries verify; root {self.log.root[:16]}…" + (
            f"; {held} checkpoint(s) agree" if held else "; no checkpoint to hold it against"
        )


def _narrowed(failed: CheckpointCheck, checks: list[CheckpointCheck]) -> str:
    """Say where a rewrite lies: after the largest agreeing checkpoint, up to the failing one."""
    size = failed.checkpoint.size
    good = [c.checkpoint.size for c in checks if c.problem is None and c.checkpoint.size < size]
    after = max(good, default=0)
    where = f"the change lies in entries {after + 1} to {size}" if size else ""
    return f"checkpoint of size {size} ({failed.source}): {failed.problem}. {where}".strip()


def verify(
    engine: Engine,
    public_key: Ed25519PublicKey | Sequence[Ed25519PublicKey],
    extra: Sequence[tuple[Checkpoint, str]] = (),
) -> Verification:
    """Walk the whole log and hold it against every stored checkpoint and the `extra` ones.

    Give every public key the log was signed with (the current one and those
    rotated out): each checkpoint is checked with the key its id names.
    """
    keys = [public_key] if isinstance(public_key, Ed25519PublicKey) else list(public_key)
    by_id = {key_id(key): key for key in keys}
    sequence_all(engine)
    held = [(from_stored(row), "database") for row in checkpoints(engine)] + list(extra)
    verdict = verify_log(engine, sorted({checkpoint.size for checkpoint, _ in held}))
    checks = [
        CheckpointCheck(checkpoint, source, _problem(checkpoint, verdict, by_id))
        for checkpoint, source in held
    ]
    return Verification(verdict, checks)


def _problem(
    checkpoint: Checkpoint, verdict: LogVerdict, keys: dict[str, Ed25519PublicKey]
) -> str | None:
    """Return why a checkpoint does not vouch for the log, or None."""
    key = keys.get(checkpoint.key_id)
    if key is None:
        return (
            f"it is signed by key {checkpoint.key_id}, which is not among the keys given "
            "(pass every key the log was signed with, rotated ones too)"
        )
    if not verify_checkpoint(checkpoint, key):
        return "its signature does not verify with the audit public key"
    if checkpoint.log != LOG_NAME:
        return f"it is a checkpoint of another log ({checkpoint.log!r})"
    if not verdict.ok:
        return None  # the walk already names the first broken entry
    if checkpoint.size > verdict.size:
        return (
            f"it signed {checkpoint.size} entries but the log holds {verdict.size}: "
            "entries were removed"
        )
    if checkpoint.size == 0:
        return None
    if verdict.roots.get(checkpoint.size) != checkpoint.root:
        return (
            f"the log's first {checkpoint.size} entries do not have the root it signed: "
            "history was rewritten"
        )
    return None
