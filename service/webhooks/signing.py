"""Sign and verify OrderShield webhooks; standard library only, so receivers can copy this file.

Every webhook is a POST whose body is JSON::

    {"id": "evt_42", "type": "decision.created", "created": "2024-03-01T07:30:15+00:00",
     "order_id": "ord-1", "data": {...}}

with the headers ``Content-Type: application/json``, ``OrderShield-Event-Id:
evt_42`` and::

    OrderShield-Signature: t=1709278215,v1=5257a869e7ec…(64 hex digits)

``t`` is the Unix time of signing and each ``v1`` the hex HMAC-SHA256 of
``f"{t}.{body}"`` (the raw body bytes) under an endpoint secret (``whsec_...``,
the whole string is the key). While a secret is being rotated, the header
carries one ``v1`` per valid secret; either verifies.

A receiver checks the raw body before parsing it, then drops events whose
``id`` it has already processed (delivery is at least once)::

    from signing import SignatureError, verify_signature

    try:
        verify_signature(request.body, request.headers["OrderShield-Signature"], SECRET)
    except SignatureError:
        return 400

The timestamp bounds replays: a signature more than ``tolerance_seconds`` away
from the receiver's clock (either way) is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable

SIGNATURE_HEADER = "OrderShield-Signature"
EVENT_ID_HEADER = "OrderShield-Event-Id"
SCHEME = "v1"


class SignatureError(ValueError):
    """A webhook's signature is missing, malformed, wrong or too old."""


def _digest(body: bytes, timestamp: int, secret: str) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(body: bytes, secrets: Iterable[str], timestamp: int) -> str:
    """Return the signature header value: the time, and one `v1` per secret."""
    parts = [f"t={timestamp}", *(f"{SCHEME}={_digest(body, timestamp, s)}" for s in secrets)]
    if len(parts) == 1:
        raise ValueError("sign with at least one secret")
    return ",".join(parts)


def verify_signature(
    body: bytes,
    header: str,
    secret: str,
    tolerance_seconds: int = 300,
    now: float | None = None,
) -> None:
    """Check the `OrderShield-Signature` header of `body` under `secret`; raise `SignatureError`.

    `body` must be the raw request bytes, not re-serialized JSON. `now` (Unix
    seconds) defaults to the current time.
    """
    if not header:
        raise SignatureError("no OrderShield-Signature header")
    timestamp: int | None = None
    given: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            raise SignatureError("malformed OrderShield-Signature header")
        if key == "t":
            # Unix seconds have ten digits for centuries yet: a longer value is no time.
            if not value.isdigit() or len(value) > 12:
                raise SignatureError("the signature's timestamp is not Unix seconds")
            timestamp = int(value)
        elif key == SCHEME:
            given.append(value)
    if timestamp is None:
        raise SignatureError("the signature has no timestamp (t=)")
    if not given:
        raise SignatureError(f"the signature has no {SCHEME}= value")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        raise SignatureError(
            f"the signature's timestamp is {abs(current - timestamp):.0f} s away from now "
            f"(tolerance {tolerance_seconds} s): a replay, or a skewed clock"
        )
    expected = _digest(body, timestamp, secret)
    # Compare against every value, without stopping early, in constant time each.
    matches = [hmac.compare_digest(expected.encode(), value.encode()) for value in given]
    if not any(matches):
        raise SignatureError("no signature matches the body under this secret")
