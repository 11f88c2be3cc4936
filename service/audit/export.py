"""Exports for legal: a decision's signed evidence bundle, and decisions of a date range.

A bundle carries the decision's committed fields whole, because its content
hash covers all of them: the order's values, and the features and reasons
computed from its personal data (the local hour and the order time give back
the shipping longitude). Those bytes cannot be partly withheld, so a bundle
goes only to a role that sees every attribute unmasked under the masking
policy (legal, by the shipped one); another role's PDF goes without it. A
range export, instead, shows each decision through the masking layer, as the
order page would. Every export is itself an entry of the log.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

import orjson
from sqlalchemy import Engine

from service.audit.bundle import FORMAT, sign_bundle
from service.audit.log import from_stored, take_checkpoint
from service.audit.signing import Checkpoint, checkpoint_to_json, key_id, load_signing_key
from service.auth.attributes import ATTRIBUTES
from service.auth.masking import mask
from service.auth.policy import MaskingPolicy
from service.auth.roles import ROLES
from service.inputs import NO_CONTROL, has_control
from service.orders.service import record_attributes
from service.persistence.audit_export import (
    EXPORT_BATCH,
    StoredPersonal,
    committed_decision,
    decisions_between,
)
from service.persistence.audit_log import (
    DECISION_CREATED,
    AuditEntry,
    checkpoints,
    entries_about,
    leaves,
    record_entry,
    sequence_all,
)
from service.persistence.audit_search import OUT_OF_RANGE, utc_within
from service.persistence.chain import canonical_json, timestamp
from service.persistence.errors import NotFound
from service.persistence.merkle import inclusion_proof
from service.settings import ServiceSettings

EXPORTED = "audit.exported"
RANGE_SUBJECT = "decisions"
MAX_RANGE = timedelta(days=366)
ExportFormat = Literal["ndjson", "csv"]
FORMATS: tuple[str, ...] = get_args(ExportFormat)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class InvalidExport(ValueError):
    """An export asked for with an input it cannot take; `field` names that input."""

    def __init__(self, field: str, message: str) -> None:
        """Keep the field at fault with the message."""
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class BundleRefused(InvalidExport):
    """A bundle asked for by a role that does not see everything its decision commits to."""


def may_bundle(policy: MaskingPolicy, role: str) -> bool:
    """Return whether `role` sees every attribute unmasked, so may receive a whole bundle."""
    return all(policy.visibility(role, path) == "visible" for path in ATTRIBUTES)


def bundle_roles(policy: MaskingPolicy) -> tuple[str, ...]:
    """Return the roles that may receive a bundle under this policy."""
    return tuple(role for role in ROLES if may_bundle(policy, role))


def _check_order_id(order_id: str) -> None:
    if has_control(order_id):
        raise InvalidExport("order_id", NO_CONTROL)


def _check_bundle_role(policy: MaskingPolicy, role: str) -> None:
    """Refuse a bundle to a role the masking policy withholds any attribute from."""
    if may_bundle(policy, role):
        return
    allowed = " or ".join(bundle_roles(policy)) or "no role under this policy"
    raise BundleRefused(
        "role",
        f"the {role} role may not export a signed bundle: it carries the decision's committed "
        "fields whole, which hold values (and features computed from personal data) the "
        f"masking policy withholds from {role}; a bundle is exported by {allowed}",
    )


def build_bundle(
    engine: Engine,
    settings: ServiceSettings,
    order_id: str,
    role: str,
    policy: MaskingPolicy,
    actor: str | None = None,
    export: Literal["bundle", "pdf"] = "bundle",
) -> dict[str, Any]:
    """Return the signed evidence bundle of an order's decision, for `role`.

    Only a role that sees every attribute unmasked receives one
    (`BundleRefused` otherwise, before anything is read or written); an
    erased personal value is shown as its erasure. Pending entries are
    sequenced first, so a fresh decision is in. The checkpoint is the newest
    stored one that covers every included entry and is signed by the current
    key, or a new one. The export is logged as `export` (the bundle, or the
    PDF made with it) with `actor` (who asked; by default only the role is
    known).
    """
    _check_role(role)
    _check_order_id(order_id)
    _check_bundle_role(policy, role)
    sequence_all(engine)
    found = committed_decision(engine, order_id)
    if found is None:
        raise NotFound(f"no decision for order {order_id!r}")
    entries = _entries(engine, order_id)
    key = load_signing_key(settings.signing_key_source)
    newest = max(entry.seq or 0 for entry in entries)
    checkpoint = _covering(engine, settings, key_id(key.public_key()), newest)
    tree = leaves(engine, checkpoint.size)
    decision = {name: _json_time(value) for name, value in found.fields.items()}
    personal = {
        path: _personal(found.personal.get(path), policy.visibility(role, path))
        for path in decision["personal"]
    }
    bundle = {
        "format": FORMAT,
        "decision": decision,
        "personal": personal,
        "entries": [_proved(entry, tree) for entry in entries],
        "checkpoint": checkpoint_to_json(checkpoint),
    }
    signed = sign_bundle(bundle, key)
    body = {
        "export": export,
        "role": role,
        "disclosed": sorted(path for path, item in personal.items() if "value" in item),
        "entries": [entry.seq for entry in entries],
        "checkpoint": checkpoint.size,
    }
    record_entry(engine, EXPORTED, order_id, actor or f"role:{role}", body)
    return signed


def pdf_bundle(
    engine: Engine,
    settings: ServiceSettings,
    order_id: str,
    role: str,
    policy: MaskingPolicy,
    actor: str | None = None,
) -> dict[str, Any] | None:
    """Return the bundle a PDF goes with, or None for a role that may not receive one.

    Either way the PDF export is logged: with its bundle by `build_bundle`,
    otherwise here, as a PDF that went without one.
    """
    _check_role(role)
    _check_order_id(order_id)
    if may_bundle(policy, role):
        return build_bundle(engine, settings, order_id, role, policy, actor, export="pdf")
    body = {"export": "pdf", "role": role, "bundle": False}
    record_entry(engine, EXPORTED, order_id, actor or f"role:{role}", body)
    return None


def _entries(engine: Engine, order_id: str) -> list[AuditEntry]:
    """Return the order's decision entry, then every other sequenced entry about it."""
    logged = [entry for entry in entries_about(engine, order_id) if entry.seq is not None]
    own = [entry for entry in logged if entry.kind == DECISION_CREATED]
    if not own:
        raise NotFound(f"the decision of order {order_id!r} has no entry in the audit log")
    others = sorted((e for e in logged if e is not own[0]), key=lambda e: e.seq or 0)
    return [own[0], *others]


def _covering(engine: Engine, settings: ServiceSettings, signer: str, size: int) -> Checkpoint:
    """Return the newest checkpoint `signer` signed of at least `size` entries, or a new one."""
    held = [row for row in checkpoints(engine) if row.size >= size and row.key_id == signer]
    if held:
        return from_stored(max(held, key=lambda row: (row.size, row.signed_at)))
    return take_checkpoint(engine, settings)[0]


def _proved(entry: AuditEntry, tree: Sequence[bytes]) -> dict[str, Any]:
    """Return an entry as the bundle carries it, with its inclusion proof in the tree."""
    assert entry.seq is not None
    proof = inclusion_proof(entry.seq - 1, tree)
    return {
        "entry": {**entry.as_dict(), "at": timestamp(entry.at)},
        "proof": [node.hex() for node in proof],
    }


def _personal(stored: StoredPersonal | None, visibility: str) -> dict[str, Any]:
    """Return one personal value as disclosed, erased or withheld."""
    if stored is not None and stored.erased_at is not None:
        return {"erased_at": timestamp(stored.erased_at), "erased_by": stored.erased_by}
    if stored is not None and stored.salt is not None and visibility == "visible":
        return {"value": stored.value, "salt": stored.salt}
    return {"withheld": True}


def _json_time(value: Any) -> Any:
    return timestamp(value) if isinstance(value, datetime) else value


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidExport("role", f"unknown role {role!r} (roles are {', '.join(ROLES)})")


def check_range(start: datetime, end: datetime, fmt: str) -> tuple[datetime, datetime]:
    """Return the range in UTC; refuse one unbounded, reversed, zone-less or of an unknown format.

    Both ends must lie within the years 2000 to 2100 once in UTC (a time at
    the calendar's edge may have no UTC form at all).
    """
    bounds = []
    for name, moment in (("start", start), ("end", end)):
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise InvalidExport(name, "must carry a time zone (for example +00:00 or Z)")
        utc = utc_within(moment)
        if utc is None:
            raise InvalidExport(name, OUT_OF_RANGE)
        bounds.append(utc)
    start, end = bounds
    if end <= start:
        raise InvalidExport("end", "must be after start")
    if end - start > MAX_RANGE:
        raise InvalidExport("end", f"must be at most {MAX_RANGE.days} days after start")
    if fmt not in FORMATS:
        raise InvalidExport("format", f"must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return start, end


def columns(policy: MaskingPolicy, role: str) -> list[str]:
    """Return the attributes a role sees, visible or masked: the columns of its CSV export."""
    return [
        path
        for path, spec in ATTRIBUTES.items()
        if (seen := policy.visibility(role, path)) == "visible"
        or (seen == "masked" and spec.mask is not None)
    ]


def stream_decisions(
    engine: Engine,
    start: datetime,
    end: datetime,
    role: str,
    policy: MaskingPolicy,
    fmt: str,
    batch: int = EXPORT_BATCH,
) -> Iterator[bytes]:
    """Return the decisions made in `[start, end)`, masked for `role`, as NDJSON or CSV chunks.

    The inputs are checked now (`InvalidExport`); rows are read as the chunks
    are taken, one batch of `batch` decisions at a time.
    """
    _check_role(role)
    start, end = check_range(start, end, fmt)
    if fmt == "csv":
        return _csv(engine, start, end, role, policy, batch)
    return _ndjson(engine, start, end, role, policy, batch)


def _ndjson(
    engine: Engine, start: datetime, end: datetime, role: str, policy: MaskingPolicy, batch: int
) -> Iterator[bytes]:
    for records in decisions_between(engine, start, end, batch):
        yield b"".join(
            orjson.dumps(mask(policy, role, record_attributes(r)).nested()) + b"\n" for r in records
        )


def _csv(
    engine: Engine, start: datetime, end: datetime, role: str, policy: MaskingPolicy, batch: int
) -> Iterator[bytes]:
    header = columns(policy, role)
    yield _csv_lines([header])
    for records in decisions_between(engine, start, end, batch):
        shown = (mask(policy, role, record_attributes(r)).values for r in records)
        yield _csv_lines([_cell(values.get(path)) for path in header] for values in shown)


def _csv_lines(rows: Iterator[list[str]] | list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode()


def _cell(value: Any) -> str:
    """Return a value as one CSV cell: scalars as text, lists and objects as JSON, None empty.

    Text a spreadsheet would run as a formula gets a leading apostrophe.
    """
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return canonical_json(value)
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return f"'{value}"
    return str(value)


def export_decisions(
    engine: Engine,
    start: datetime,
    end: datetime,
    role: str,
    policy: MaskingPolicy,
    fmt: str,
    actor: str,
) -> Iterator[bytes]:
    """Check the inputs, log the export (with the personal data it discloses), and stream it."""
    chunks = stream_decisions(engine, start, end, role, policy, fmt)
    start, end = check_range(start, end, fmt)
    unmasked = [
        path
        for path, spec in ATTRIBUTES.items()
        if spec.personal and policy.visibility(role, path) == "visible"
    ]
    body = {
        "export": fmt,
        "role": role,
        "start": timestamp(start),
        "end": timestamp(end),
        "personal_unmasked": unmasked,
    }
    record_entry(engine, EXPORTED, RANGE_SUBJECT, actor, body)
    return chunks
