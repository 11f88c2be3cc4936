"""The shipped verifier: valid signatures pass; old, tampered, missing or foreign ones do not."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from service.webhooks import signing
from service.webhooks.signing import SignatureError, sign, verify_signature

BODY = b'{"id":"evt_1","type":"decision.created"}'
NOW = 1_709_278_215


def test_a_signature_verifies_under_its_secret() -> None:
    verify_signature(BODY, sign(BODY, ["whsec_a"], NOW), "whsec_a", now=NOW + 10)


def test_the_signed_text_is_the_timestamp_a_dot_and_the_body() -> None:
    import hashlib
    import hmac

    expected = hmac.new(b"whsec_a", f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(BODY, ["whsec_a"], NOW) == f"t={NOW},v1={expected}"


@pytest.mark.parametrize(
    ("body", "header", "secret", "now", "message"),
    [
        (BODY + b" ", sign(BODY, ["s"], NOW), "s", NOW, "no signature matches"),
        (BODY, sign(BODY, ["s"], NOW), "other", NOW, "no signature matches"),
        (BODY, sign(BODY, ["s"], NOW), "s", NOW + 301, "away from now"),
        (BODY, sign(BODY, ["s"], NOW), "s", NOW - 301, "away from now"),
        (BODY, "", "s", NOW, "no OrderShield-Signature"),
        (BODY, "v1=abc", "s", NOW, "no timestamp"),
        (BODY, f"t={NOW}", "s", NOW, "no v1"),
        (BODY, "t=soon,v1=abc", "s", NOW, "not Unix seconds"),
        (BODY, "garbage", "s", NOW, "malformed"),
    ],
    ids=["tampered", "foreign", "old", "future", "missing", "no-t", "no-v1", "bad-t", "garbage"],
)
def test_bad_signatures_are_refused(
    body: bytes, header: str, secret: str, now: int, message: str
) -> None:
    with pytest.raises(SignatureError, match=message):
        verify_signature(body, header, secret, now=now)


def test_a_retimed_signature_is_refused() -> None:
    # A replay with a fresh t= and the old v1: the timestamp is part of what is signed.
    _, v1 = sign(BODY, ["s"], NOW).split(",")
    with pytest.raises(SignatureError, match="no signature matches"):
        verify_signature(BODY, f"t={NOW + 1000},{v1}", "s", now=NOW + 1000)


def test_during_rotation_either_secret_verifies() -> None:
    header = sign(BODY, ["new", "old"], NOW)
    for secret in ("new", "old"):
        verify_signature(BODY, header, secret, now=NOW)


def test_the_verifier_needs_nothing_beyond_the_standard_library() -> None:
    tree = ast.parse(Path(signing.__file__).read_text())
    imported = {
        ((node.module or "") if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported - {"__future__"} <= set(sys.stdlib_module_names)
