"""Secrets: random tokens kept only as SHA-256 digests, passwords kept as argon2 hashes.

API keys and session cookies are 256-bit random tokens, so one fast hash is
enough to store them and finds them by index. Passwords are chosen by people
and get argon2id, slow on purpose.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

KEY_PREFIX = "osk_"
_HASHER = PasswordHasher()
MIN_PASSWORD_LENGTH = 12


@functools.cache
def _unknown_user_hash() -> str:
    """Return a hash to verify against for an unknown username, so the answer takes as long."""
    return _HASHER.hash(secrets.token_urlsafe(16))


def new_token(prefix: str = "") -> str:
    """Return a fresh random token."""
    return prefix + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    """Return the stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def same(given: str | None, expected: str) -> bool:
    """Compare secrets in constant time."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def hash_password(password: str) -> str:
    """Return the argon2 hash of an acceptable password."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return _HASHER.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    """Return whether the password matches (a missing hash costs the same and fails)."""
    try:
        return _HASHER.verify(password_hash or _unknown_user_hash(), password) and bool(
            password_hash
        )
    except (VerificationError, InvalidHashError):
        return False
