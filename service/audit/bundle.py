"""Offline verification of an exported evidence bundle: no database, no settings.

A bundle holds one decision, its personal values (disclosed, erased or
withheld), the audit entries about its order with their inclusion proofs, the
signed checkpoint those proofs lead to, and a signature over all of it. Every
check reports in plain words; malformed input is a problem, never an exception.
A bundle without a checkpoint proves nothing, and a disclosed value's salt must
be the 32 lowercase hex digits the service draws, so one commitment opens to
one value only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from service.audit.signing import (
    Checkpoint,
    checkpoint_from_json,
    key_id,
    sign_bytes,
    verify_bytes,
    verify_checkpoint,
)
from service.persistence import merkle
from service.persistence.chain import (
    ENTRY_FIELDS,
    canonical_json,
    commitment,
    content_hash,
    entry_bytes,
)

FORMAT = "ordershield-evidence-bundle/1"
BUNDLE_FIELDS = ("format", "decision", "personal", "entries", "checkpoint", "key_id", "signature")
DECISION_KIND = "decision.created"
SALT = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class BundleReport:
    """What checking a bundle found: its problems, and the personal values it does not disclose."""

    problems: tuple[str, ...]
    undisclosed: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Return whether the bundle verified (undisclosed values are no problem)."""
        return not self.problems


def signed_bytes(bundle: Mapping[str, Any]) -> bytes:
    """Return the bytes a bundle's signature covers: its canonical JSON without `signature`."""
    return canonical_json({k: v for k, v in bundle.items() if k != "signature"}).encode()


def sign_bundle(bundle: Mapping[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """Return a copy of the bundle with the signing key's id and its signature added."""
    unsigned = {k: v for k, v in bundle.items() if k != "signature"}
    unsigned["key_id"] = key_id(key.public_key())
    return {**unsigned, "signature": sign_bytes(key, signed_bytes(unsigned))}


def verify_bundle(bundle: Any, public_key: Ed25519PublicKey) -> list[str]:
    """Return the problems of a bundle in plain words; empty when it verifies."""
    return list(check_bundle(bundle, public_key).problems)


def check_bundle(bundle: Any, public_key: Ed25519PublicKey) -> BundleReport:
    """Check every part of a bundle against `public_key`, which must have signed it."""
    if not isinstance(bundle, Mapping):
        return BundleReport(("the bundle is not a JSON object",), ())
    problems = [f"the bundle has no {name!r}" for name in BUNDLE_FIELDS if name not in bundle]
    if "format" in bundle and bundle["format"] != FORMAT:
        problems.append(f"the bundle's format is {bundle['format']!r}, not {FORMAT!r}")
    problems += _bundle_signature(bundle, public_key)
    checkpoint = _checkpoint(bundle, public_key, problems)
    decision = bundle.get("decision")
    if "decision" in bundle and not isinstance(decision, Mapping):
        problems.append("decision is not a JSON object")
    decision = decision if isinstance(decision, Mapping) else None
    if "entries" in bundle:
        problems += _entries(bundle["entries"], checkpoint, decision)
    undisclosed: list[str] = []
    if decision is not None and "personal" in bundle:
        problems += _personal(decision, bundle["personal"], undisclosed)
    return BundleReport(tuple(problems), tuple(undisclosed))


def _bundle_signature(bundle: Mapping[str, Any], public_key: Ed25519PublicKey) -> list[str]:
    if "key_id" not in bundle or "signature" not in bundle:
        return []
    expected = key_id(public_key)
    if bundle["key_id"] != expected:
        return [f"the bundle is signed by key {bundle['key_id']!r}, not by {expected}"]
    try:
        data = signed_bytes(bundle)
    except ValueError as exc:
        return [f"the bundle cannot be read as JSON: {exc}"]
    if not verify_bytes(public_key, data, bundle["signature"]):
        return [f"the bundle's signature does not verify with key {expected}"]
    return []


def _checkpoint(
    bundle: Mapping[str, Any], public_key: Ed25519PublicKey, problems: list[str]
) -> Checkpoint | None:
    """Return the bundle's checkpoint if it can be read, noting whether its signature holds.

    A missing checkpoint is already named as a missing field; a null one is a
    problem too: without it no entry is proved to be in the log.
    """
    if "checkpoint" not in bundle:
        return None
    data = bundle["checkpoint"]
    if data is None:
        problems.append("the bundle's checkpoint is null: no entry is proved to be in the log")
        return None
    try:
        checkpoint = checkpoint_from_json(data)
    except ValueError as exc:
        problems.append(f"checkpoint: {exc}")
        return None
    expected = key_id(public_key)
    if checkpoint.key_id != expected:
        problems.append(f"the checkpoint is signed by key {checkpoint.key_id}, not by {expected}")
    elif not verify_checkpoint(checkpoint, public_key):
        problems.append(f"the checkpoint's signature does not verify with key {expected}")
    return checkpoint


def _proof(value: Any) -> list[bytes] | None:
    """Return a proof's hashes, or None unless it is a list of 32-byte hashes in hex."""
    if not isinstance(value, list):
        return None
    hashes = []
    for item in value:
        if not isinstance(item, str):
            return None
        try:
            digest = bytes.fromhex(item)
        except ValueError:
            return None
        if len(digest) != merkle.DIGEST_SIZE:
            return None
        hashes.append(digest)
    return hashes


def _entries(
    entries: Any, checkpoint: Checkpoint | None, decision: Mapping[str, Any] | None
) -> list[str]:
    if not isinstance(entries, list) or not entries:
        return ["entries is not a non-empty list"]
    problems: list[str] = []
    seen: set[int] = set()
    for index, item in enumerate(entries):
        where = f"entries[{index}]"
        entry = item.get("entry") if isinstance(item, Mapping) else None
        if not isinstance(entry, Mapping):
            problems.append(f"{where} is not an object with an 'entry' object")
            continue
        missing = [name for name in ENTRY_FIELDS if name not in entry]
        if missing:
            problems.append(f"{where}.entry has no {missing[0]!r}")
            continue
        seq = entry["seq"]
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            problems.append(f"{where}.entry.seq is not a positive integer")
            continue
        if seq in seen:
            problems.append(f"{where} repeats seq {seq}")
        seen.add(seq)
        problems += _inclusion(where, entry, item.get("proof"), checkpoint)
        if decision is None:
            continue
        if index == 0:
            problems += _decision_entry(entry, decision)
        elif entry["subject"] != decision.get("order_id"):
            problems.append(
                f"{where} is about {entry['subject']!r}, "
                f"not the decision's order {decision.get('order_id')!r}"
            )
    return problems


def _inclusion(
    where: str, entry: Mapping[str, Any], proof_data: Any, checkpoint: Checkpoint | None
) -> list[str]:
    """Return what is wrong with one entry's proof that the checkpoint's tree holds it."""
    proof = _proof(proof_data)
    if proof is None:
        return [f"{where}.proof is not a list of hex strings of 32-byte hashes"]
    try:
        leaf = merkle.leaf_hash(entry_bytes(entry))
    except ValueError as exc:
        return [f"{where}.entry cannot be read as JSON: {exc}"]
    if checkpoint is None:
        return []
    seq = entry["seq"]
    if seq > checkpoint.size:
        return [f"{where} (seq {seq}) is past the checkpoint's {checkpoint.size} entries"]
    root = bytes.fromhex(checkpoint.root)
    if not merkle.verify_inclusion(seq - 1, checkpoint.size, leaf, proof, root):
        return [f"{where} (seq {seq}) does not verify against the checkpoint: wrong proof or entry"]
    return []


def _decision_entry(entry: Mapping[str, Any], decision: Mapping[str, Any]) -> list[str]:
    """Return what ties the decision to its own entry, entries[0], wrongly."""
    if entry["kind"] != DECISION_KIND:
        return [f"entries[0] is a {entry['kind']!r} entry, not {DECISION_KIND!r}"]
    body = entry["body"]
    if not isinstance(body, Mapping):
        return ["entries[0].entry.body is not a JSON object"]
    problems = []
    try:
        expected = content_hash(decision)
    except ValueError as exc:
        problems.append(f"the decision cannot be read as JSON: {exc}")
    else:
        if body.get("content") != expected:
            problems.append("the decision's fields do not match the content hash in entries[0]")
    if body.get("order_id") != decision.get("order_id"):
        problems.append(
            f"entries[0] is about order {body.get('order_id')!r}, "
            f"not the decision's order {decision.get('order_id')!r}"
        )
    return problems


def _personal(decision: Mapping[str, Any], personal: Any, undisclosed: list[str]) -> list[str]:
    """Check each personal value against the decision's commitment; note undisclosed ones."""
    commitments = decision.get("personal", {})
    if not isinstance(commitments, Mapping):
        return ["decision.personal is not a JSON object"]
    if not isinstance(personal, Mapping):
        return ["personal is not a JSON object"]
    problems = [
        f"personal[{path!r}] has no commitment in the decision"
        for path in personal
        if path not in commitments
    ]
    for path, committed in commitments.items():
        where = f"personal[{path!r}]"
        item = personal.get(path)
        if item is None:
            problems.append(f"the decision commits to {path!r} but the bundle has no {where}")
        elif not isinstance(item, Mapping):
            problems.append(f"{where} is not a JSON object")
        elif "value" in item:
            problems += _disclosed(where, item, committed)
        elif "erased_at" in item:
            undisclosed.append(f"{path}: erased at {item['erased_at']} by {item.get('erased_by')}")
        elif item.get("withheld") is True:
            undisclosed.append(f"{path}: withheld")
        else:
            problems.append(f"{where} is neither disclosed, erased nor withheld")
    return problems


def _disclosed(where: str, item: Mapping[str, Any], committed: Any) -> list[str]:
    """Return what is wrong with one disclosed personal value and its salt."""
    salt = item.get("salt")
    if not isinstance(salt, str) or not SALT.fullmatch(salt):
        return [f"{where}.salt is not a hex string of exactly 32 lowercase digits"]
    try:
        computed = commitment(salt, item["value"])
    except ValueError:
        return [f"{where}.value is not JSON"]
    if computed != committed:
        return [f"{where} does not match the decision's commitment: its value was changed"]
    return []
