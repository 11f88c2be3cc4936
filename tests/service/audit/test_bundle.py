"""Offline verification of evidence bundles built here from a small log of nine entries."""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.audit import bundle as evidence
from service.audit import signing
from service.persistence import chain, merkle

Bundle = dict[str, Any]
ORDER = "ord-1"
START = datetime(2024, 5, 6, 7, 0, tzinfo=UTC)
EMAIL_SALT = "a1" * 16
PHONE_SALT = "b2" * 16
NAME_SALT = "c3" * 16
DECISION: dict[str, Any] = {
    "order_id": ORDER,
    "created_at": "2024-05-06T07:02:00.000000+00:00",
    "score": 0.91,
    "action": "review",
    "reasons": ["new device", "velocity"],
    "personal": {
        "customer.email": chain.commitment(EMAIL_SALT, "ann@example.com"),
        "customer.phone": chain.commitment(PHONE_SALT, "+33 6 12 34 56 78"),
        "shipping.name": chain.commitment(NAME_SALT, "Ann Example"),
    },
}
PERSONAL: dict[str, Any] = {
    "customer.email": {"value": "ann@example.com", "salt": EMAIL_SALT},
    "customer.phone": {"erased_at": "2024-06-01T00:00:00.000000+00:00", "erased_by": "dpo"},
    "shipping.name": {"withheld": True},
}
PROVED = (3, 7)  # the seqs of the decision's entry and of a later one about its order


def log_entries(decision: dict[str, Any] = DECISION) -> list[dict[str, Any]]:
    """Nine entries: the decision at seq 3, a review of it at 7, other orders around."""
    entries = []
    for seq in range(1, 10):
        kind, subject = "decision.created", f"ord-{seq + 10}"
        body: dict[str, Any] = {"content": "00" * 32}
        if seq == 3:
            body = {"order_id": ORDER, "content": chain.content_hash(decision)}
            subject = ORDER
        elif seq == 7:
            kind, subject, body = "review.approved", ORDER, {"case": 12}
        else:
            body["order_id"] = subject
        at = chain.timestamp(START + timedelta(minutes=seq))
        entries.append(
            {"seq": seq, "kind": kind, "subject": subject, "actor": "api", "at": at, "body": body}
        )
    return entries


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def other_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def build(
    key: Ed25519PrivateKey,
    checkpoint_key: Ed25519PrivateKey | None = None,
    decision: dict[str, Any] = DECISION,
    personal: dict[str, Any] = PERSONAL,
) -> Bundle:
    entries = log_entries(decision)
    leaves = [merkle.leaf_hash(chain.entry_bytes(entry)) for entry in entries]
    checkpoint = signing.sign_checkpoint(
        checkpoint_key or key, "ordershield", len(leaves), merkle.root(leaves), START
    )
    unsigned = {
        "format": evidence.FORMAT,
        "decision": copy.deepcopy(decision),
        "personal": copy.deepcopy(personal),
        "entries": [
            {
                "entry": entries[seq - 1],
                "proof": [h.hex() for h in merkle.inclusion_proof(seq - 1, leaves)],
            }
            for seq in PROVED
        ],
        "checkpoint": signing.checkpoint_to_json(checkpoint),
    }
    return evidence.sign_bundle(unsigned, key)


@pytest.fixture
def good(key: Ed25519PrivateKey) -> Bundle:
    return build(key)


def test_a_built_bundle_verifies(key: Ed25519PrivateKey, good: Bundle) -> None:
    assert evidence.verify_bundle(good, key.public_key()) == []
    report = evidence.check_bundle(good, key.public_key())
    assert report.ok
    assert report.undisclosed == (
        "customer.phone: erased at 2024-06-01T00:00:00.000000+00:00 by dpo",
        "shipping.name: withheld",
    )
    assert good["key_id"] == signing.key_id(key.public_key())
    assert [item["entry"]["seq"] for item in good["entries"]] == list(PROVED)


def test_sign_bundle_leaves_its_input_alone(key: Ed25519PrivateKey, good: Bundle) -> None:
    unsigned = {k: v for k, v in good.items() if k not in ("key_id", "signature")}
    before = copy.deepcopy(unsigned)
    signed = evidence.sign_bundle(unsigned, key)
    assert unsigned == before
    assert signed == good  # Ed25519 signatures are deterministic
    assert evidence.sign_bundle(signed, key) == good  # re-signing replaces the signature


def problems_after(
    key: Ed25519PrivateKey, good: Bundle, change: Callable[[Bundle], None], resign: bool = True
) -> list[str]:
    """Return the problems of the good bundle changed, re-signed unless told otherwise.

    Re-signing shows each check holds on its own, not only through the bundle signature.
    """
    changed = copy.deepcopy(good)
    change(changed)
    if resign:
        changed = evidence.sign_bundle(changed, key)
    return evidence.verify_bundle(changed, key.public_key())


def set_in(path: tuple[Any, ...], value: Any) -> Callable[[Bundle], None]:
    def change(bundle: Bundle) -> None:
        target = bundle
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return change


def replace_proof_element(bundle: Bundle) -> None:
    proof = bundle["entries"][1]["proof"]
    proof[0] = ("0" if proof[0][0] != "0" else "1") + proof[0][1:]


def swap_proofs(bundle: Bundle) -> None:
    first, second = bundle["entries"]
    first["proof"], second["proof"] = second["proof"], first["proof"]


TAMPERING = {
    "decision field": (set_in(("decision", "score"), 0.1), "decision's fields do not match"),
    "decision order": (
        set_in(("decision", "order_id"), "ord-2"),
        "not the decision's order 'ord-2'",
    ),
    "decision commitment": (
        set_in(("decision", "personal", "customer.email"), "00" * 32),
        "decision's fields do not match",
    ),
    "personal value": (
        set_in(("personal", "customer.email", "value"), "eve@example.com"),
        "personal['customer.email'] does not match the decision's commitment",
    ),
    "personal salt": (
        set_in(("personal", "customer.email", "salt"), "not hex"),
        "personal['customer.email'].salt is not a hex string",
    ),
    "personal missing": (
        lambda b: b["personal"].pop("shipping.name"),
        "commits to 'shipping.name' but the bundle has no personal['shipping.name']",
    ),
    "personal uncommitted": (
        set_in(("personal", "customer.iban"), {"withheld": True}),
        "personal['customer.iban'] has no commitment in the decision",
    ),
    "personal neither": (
        set_in(("personal", "shipping.name"), {"withheld": False}),
        "personal['shipping.name'] is neither disclosed, erased nor withheld",
    ),
    "entry body": (
        set_in(("entries", 1, "entry", "body", "case"), 13),
        "entries[1] (seq 7) does not verify against the checkpoint",
    ),
    "entry time": (
        set_in(("entries", 0, "entry", "at"), "2024-05-06T07:03:00.000001+00:00"),
        "entries[0] (seq 3) does not verify against the checkpoint",
    ),
    "entry seq": (
        set_in(("entries", 1, "entry", "seq"), 6),
        "entries[1] (seq 6) does not verify against the checkpoint",
    ),
    "entry past the tree": (
        set_in(("entries", 1, "entry", "seq"), 10),
        "entries[1] (seq 10) is past the checkpoint's 9 entries",
    ),
    "proof element": (replace_proof_element, "entries[1] (seq 7) does not verify"),
    "proofs swapped": (swap_proofs, "entries[0] (seq 3) does not verify"),
    "proof shortened": (
        lambda b: b["entries"][0]["proof"].pop(),
        "entries[0] (seq 3) does not verify",
    ),
    "proof not hex": (
        set_in(("entries", 1, "proof", 0), "xyz"),
        "entries[1].proof is not a list of hex strings",
    ),
    "proof not a list": (
        set_in(("entries", 1, "proof"), "00" * 32),
        "entries[1].proof is not a list of hex strings",
    ),
    "other order": (
        set_in(("entries", 1, "entry", "subject"), "ord-2"),
        "entries[1] is about 'ord-2', not the decision's order 'ord-1'",
    ),
    "decision entry kind": (
        set_in(("entries", 0, "entry", "kind"), "review.approved"),
        "entries[0] is a 'review.approved' entry, not 'decision.created'",
    ),
    "decision entry order": (
        set_in(("entries", 0, "entry", "body", "order_id"), "ord-2"),
        "entries[0] is about order 'ord-2'",
    ),
    "checkpoint root": (
        set_in(("checkpoint", "root"), "11" * 32),
        "the checkpoint's signature does not verify",
    ),
    "checkpoint size": (
        set_in(("checkpoint", "size"), 10),
        "the checkpoint's signature does not verify",
    ),
    "format": (set_in(("format",), "something-else/1"), "the bundle's format is"),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_a_tampered_bundle_names_what_is_wrong(
    key: Ed25519PrivateKey, good: Bundle, case: str
) -> None:
    change, expected = TAMPERING[case]
    problems = problems_after(key, good, change)
    assert any(expected in problem for problem in problems), problems
    # Without the key to sign again, the bundle signature gives the change away too.
    unsigned = problems_after(key, good, change, resign=False)
    assert any("bundle's signature does not verify" in p for p in unsigned), unsigned


def test_a_changed_root_also_breaks_every_proof(key: Ed25519PrivateKey, good: Bundle) -> None:
    problems = problems_after(key, good, set_in(("checkpoint", "root"), "11" * 32))
    assert sum("does not verify against the checkpoint" in p for p in problems) == len(PROVED)


def test_a_checkpoint_signed_by_another_key(
    key: Ed25519PrivateKey, other_key: Ed25519PrivateKey
) -> None:
    problems = evidence.verify_bundle(build(key, checkpoint_key=other_key), key.public_key())
    assert problems == [
        f"the checkpoint is signed by key {signing.key_id(other_key.public_key())}, "
        f"not by {signing.key_id(key.public_key())}"
    ]
    # Claiming the right key id does not help.
    problems = problems_after(
        key,
        build(key, checkpoint_key=other_key),
        set_in(("checkpoint", "key_id"), signing.key_id(key.public_key())),
    )
    assert problems == [
        f"the checkpoint's signature does not verify with key {signing.key_id(key.public_key())}"
    ]


def forge_decision(bundle: Bundle) -> None:
    """Change the decision and the content hash its entry holds, as a forger would."""
    bundle["decision"]["action"] = "approve"
    bundle["entries"][0]["entry"]["body"]["content"] = chain.content_hash(bundle["decision"])


def test_a_forged_decision_is_caught_by_its_proof(key: Ed25519PrivateKey, good: Bundle) -> None:
    problems = problems_after(key, good, forge_decision)
    assert problems == [
        "entries[0] (seq 3) does not verify against the checkpoint: wrong proof or entry"
    ]


@pytest.mark.parametrize("drop", ["null", "missing"])
def test_a_bundle_without_a_checkpoint_proves_nothing(
    key: Ed25519PrivateKey, good: Bundle, drop: str
) -> None:
    def change(bundle: Bundle) -> None:
        forge_decision(bundle)
        if drop == "null":
            bundle["checkpoint"] = None
        else:
            del bundle["checkpoint"]

    problems = problems_after(key, good, change)
    expected = {
        "null": "the bundle's checkpoint is null: no entry is proved to be in the log",
        "missing": "the bundle has no 'checkpoint'",
    }
    assert problems == [expected[drop]]


def test_a_salt_is_exactly_32_lowercase_hex_digits() -> None:
    salt = EMAIL_SALT
    assert chain.commitment(salt, -2.35) != chain.commitment("b2" * 16, -2.35)
    for bad in (salt + "2d", salt[:-2], salt.upper(), f" {salt[2:]}", "zz" * 16, "", "a1 " * 10):
        with pytest.raises(ValueError, match="32 lowercase hex digits"):
            chain.commitment(bad, 2.35)


# Each spelling opened the commitment of -2.35 under EMAIL_SALT when any hex was taken:
# a salt's trailing 2d is the value's '-', and bytes.fromhex reads case and spaces away.
OTHER_SALTS = {
    "longer, eating the sign": (EMAIL_SALT + "2d", 2.35),
    "upper case": (EMAIL_SALT.upper(), -2.35),
    "spaced": (" ".join(EMAIL_SALT[i : i + 2] for i in range(0, 32, 2)), -2.35),
}


@pytest.mark.parametrize("case", sorted(OTHER_SALTS))
def test_a_disclosed_salt_of_any_other_form_is_a_problem(key: Ed25519PrivateKey, case: str) -> None:
    salt, shown = OTHER_SALTS[case]
    decision = copy.deepcopy(DECISION)
    decision["personal"]["customer.email"] = chain.commitment(EMAIL_SALT, -2.35)
    honest = build(
        key,
        decision=decision,
        personal={**PERSONAL, "customer.email": {"value": -2.35, "salt": EMAIL_SALT}},
    )
    assert evidence.verify_bundle(honest, key.public_key()) == []
    problems = problems_after(
        key, honest, set_in(("personal", "customer.email"), {"value": shown, "salt": salt})
    )
    assert problems == [
        "personal['customer.email'].salt is not a hex string of exactly 32 lowercase digits"
    ]


def test_a_bundle_signed_by_another_key(
    key: Ed25519PrivateKey, other_key: Ed25519PrivateKey, good: Bundle
) -> None:
    problems = evidence.verify_bundle(evidence.sign_bundle(good, other_key), key.public_key())
    assert problems == [
        f"the bundle is signed by key {signing.key_id(other_key.public_key())!r}, "
        f"not by {signing.key_id(key.public_key())}"
    ]
    forged = evidence.sign_bundle(good, other_key)
    forged["key_id"] = good["key_id"]
    problems = evidence.verify_bundle(forged, key.public_key())
    assert problems == ["the bundle's signature does not verify with key " + good["key_id"]]


@pytest.mark.parametrize(
    "signature", ["", "not base64", None, 12, "AAAA", "flip"], ids=lambda s: repr(s)
)
def test_a_changed_bundle_signature(key: Ed25519PrivateKey, good: Bundle, signature: Any) -> None:
    if signature == "flip":
        signature = ("B" if good["signature"][0] == "A" else "A") + good["signature"][1:]
    good["signature"] = signature
    problems = evidence.verify_bundle(good, key.public_key())
    assert problems == [f"the bundle's signature does not verify with key {good['key_id']}"]


@pytest.mark.parametrize("garbage", [None, [], "bundle", 7, 1.5, True, ["format"]], ids=repr)
def test_garbage_that_is_not_an_object(key: Ed25519PrivateKey, garbage: Any) -> None:
    assert evidence.verify_bundle(garbage, key.public_key()) == ["the bundle is not a JSON object"]


@pytest.mark.parametrize("field", evidence.BUNDLE_FIELDS)
def test_a_missing_field_is_named(key: Ed25519PrivateKey, good: Bundle, field: str) -> None:
    del good[field]
    problems = evidence.verify_bundle(good, key.public_key())
    assert f"the bundle has no {field!r}" in problems


GARBAGE = {
    "decision": ("decision", "a string", "decision is not a JSON object"),
    "personal": ("personal", ["x"], "personal is not a JSON object"),
    "entries": ("entries", {"0": 1}, "entries is not a non-empty list"),
    "no entries": ("entries", [], "entries is not a non-empty list"),
    "checkpoint": ("checkpoint", "a string", "checkpoint: a checkpoint must be a JSON object"),
    "checkpoint field": ("checkpoint", {"log": "x"}, "checkpoint: checkpoint field 'size'"),
}


@pytest.mark.parametrize("case", sorted(GARBAGE))
def test_a_malformed_part_is_named(key: Ed25519PrivateKey, good: Bundle, case: str) -> None:
    field, value, expected = GARBAGE[case]
    problems = problems_after(key, good, set_in((field,), value))
    assert any(expected in problem for problem in problems), problems


ENTRY_GARBAGE = {
    "not an object": (lambda b: b["entries"].__setitem__(1, "x"), "entries[1] is not an object"),
    "no entry": (lambda b: b["entries"][1].pop("entry"), "entries[1] is not an object"),
    "missing field": (lambda b: b["entries"][1]["entry"].pop("actor"), "has no 'actor'"),
    "seq text": (set_in(("entries", 1, "entry", "seq"), "7"), "seq is not a positive integer"),
    "seq zero": (set_in(("entries", 1, "entry", "seq"), 0), "seq is not a positive integer"),
    "seq bool": (set_in(("entries", 0, "entry", "seq"), True), "seq is not a positive integer"),
    "seq repeated": (set_in(("entries", 1, "entry", "seq"), 3), "entries[1] repeats seq 3"),
    "body text": (
        set_in(("entries", 0, "entry", "body"), "text"),
        "entries[0].entry.body is not a JSON object",
    ),
    "no proof": (lambda b: b["entries"][0].pop("proof"), "entries[0].proof is not a list"),
    "short hash": (set_in(("entries", 0, "proof", 0), "00" * 31), "entries[0].proof is not"),
    "number in proof": (set_in(("entries", 0, "proof", 0), 5), "entries[0].proof is not"),
}


@pytest.mark.parametrize("case", sorted(ENTRY_GARBAGE))
def test_a_malformed_entry_is_named(key: Ed25519PrivateKey, good: Bundle, case: str) -> None:
    change, expected = ENTRY_GARBAGE[case]
    problems = problems_after(key, good, change)
    assert any(expected in problem for problem in problems), problems


def test_a_decision_without_personal_data(key: Ed25519PrivateKey) -> None:
    bundle = build(key)
    del bundle["decision"]["personal"]
    bundle["personal"] = {}
    problems = evidence.verify_bundle(evidence.sign_bundle(bundle, key), key.public_key())
    # Its content hash no longer matches, but nothing about personal data is claimed.
    assert problems == ["the decision's fields do not match the content hash in entries[0]"]


JUNK: list[Any] = [None, True, -1, 0, 2**70, 1.5, "", "zz", "00" * 32, [], [None], {}, {"a": 1}]


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place inside a JSON value, the root excluded."""
    found = []
    children = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for step, child in children:
        found.append((*prefix, step))
        found += paths(child, (*prefix, step))
    return found


def test_random_junk_anywhere_is_reported_never_raised(
    key: Ed25519PrivateKey, good: Bundle
) -> None:
    rng = random.Random(2024)
    places = paths(good)
    changed_bundles = 0
    for _ in range(600):
        place = rng.choice(places)
        junk = rng.choice(JUNK)
        changed = copy.deepcopy(good)
        set_in(place, junk)(changed)
        if rng.random() < 0.5 and junk != 2**70:  # too large for JSON: signing refuses it
            changed = evidence.sign_bundle(changed, key)
        problems = evidence.verify_bundle(changed, key.public_key())
        assert all(isinstance(problem, str) and problem for problem in problems)
        if changed != good and changed.get("signature") == good["signature"]:
            assert problems, (place, junk)
            changed_bundles += 1
    assert len(places) > 40
    assert changed_bundles > 100
