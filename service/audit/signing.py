"""Ed25519 keys and signed checkpoints (tree heads) of the audit log.

A checkpoint's signed text is pinned here, one field per line as in a
Certificate Transparency signed note, so that old checkpoints keep verifying
whatever else changes in how the service writes its times.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

CHECKPOINT_HEADER = "ordershield-audit-checkpoint/1"
CHECKPOINT_FIELDS = ("log", "size", "root", "signed_at", "key_id", "signature")
_PEM_START = "-----BEGIN"
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
_HEX_KEY_ID = re.compile(r"[0-9a-f]{16}")


class SigningKeyError(ValueError):
    """A key cannot be read: missing file, bad PEM, or not an Ed25519 key."""


def generate_signing_key(path: Path) -> Ed25519PublicKey:
    """Write a new private key to `path` as PKCS8 PEM, readable by its owner only.

    Creates the parent directory; an existing file is never overwritten
    (FileExistsError). Returns the public key.
    """
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as file:
            os.fchmod(file.fileno(), 0o600)
            file.write(pem)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return key.public_key()


def _is_pem(text: str) -> bool:
    return text.lstrip().startswith(_PEM_START)


def _read_source(source: str, what: str) -> bytes:
    """Return the bytes of `source`: the PEM text itself, or the file it names."""
    if _is_pem(source):
        return source.encode()
    try:
        return Path(source).read_bytes()
    except FileNotFoundError:
        raise SigningKeyError(f"{what} file not found: {source}") from None
    except OSError as exc:
        raise SigningKeyError(f"{what} file cannot be read: {source} ({exc.strerror})") from None


def _describe(source: str) -> str:
    """Name a key source in an error message without ever quoting key material."""
    return "the PEM text" if _is_pem(source) else source


def load_signing_key(source: str) -> Ed25519PrivateKey:
    """Return the Ed25519 private key in `source`: a PEM file's path, or the PEM text itself."""
    data = _read_source(source, "signing key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise SigningKeyError(
            f"{_describe(source)} is not an unencrypted PEM private key ({exc})"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(
            f"{_describe(source)} holds a {type(key).__name__}, not an Ed25519 private key"
        )
    return key


def _raw_public_key(text: str) -> Ed25519PublicKey | None:
    """Return the key of 32 raw bytes written in hex or base64, or None if `text` is neither."""
    text = text.strip()
    raw: bytes | None
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = _base64(text)
    if raw is None or len(raw) != 32:
        return None
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        return None


def _base64(text: str) -> bytes | None:
    """Return the bytes of standard or URL-safe base64 text, or None if it is neither."""
    for altchars in (None, b"-_"):
        try:
            return base64.b64decode(text, altchars=altchars, validate=True)
        except (binascii.Error, ValueError):
            continue
    return None


def _pem_public_key(text: str, described: str) -> Ed25519PublicKey:
    """Return the Ed25519 public key of PEM text; `described` names it in errors."""
    try:
        key = serialization.load_pem_public_key(text.encode())
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise SigningKeyError(f"{described} is not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"{described} holds a {type(key).__name__}, not an Ed25519 key")
    return key


def load_public_key(source: str) -> Ed25519PublicKey:
    """Return the Ed25519 public key in `source`.

    `source` is PEM text, the 32 raw key bytes in hex or base64, or the path of
    a file holding any of those.
    """
    if _is_pem(source):
        return _pem_public_key(source, "the PEM text")
    key = _raw_public_key(source)
    if key is not None:
        return key
    if not Path(source).is_file():
        raise SigningKeyError(
            f"{source!r} is neither a key file, PEM text, nor 32 key bytes in hex or base64"
        )
    text = _read_source(source, "public key").decode(errors="replace")
    if _is_pem(text):
        return _pem_public_key(text, source)
    key = _raw_public_key(text)
    if key is None:
        raise SigningKeyError(f"{source} holds no PEM, hex or base64 Ed25519 public key")
    return key


def public_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """Return the public half of `key` as SubjectPublicKeyInfo PEM text."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def key_id(public_key: Ed25519PublicKey) -> str:
    """Return the key's short name: the first 16 hex digits of SHA-256 of its 32 raw bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def sign_bytes(key: Ed25519PrivateKey, data: bytes) -> str:
    """Return the Ed25519 signature of `data` in base64."""
    return base64.b64encode(key.sign(data)).decode()


def verify_bytes(public_key: Ed25519PublicKey, data: bytes, signature_b64: str) -> bool:
    """Return whether `signature_b64` is the key's signature of `data`; never raises."""
    try:
        signature = base64.b64decode(signature_b64.encode(), validate=True)
        public_key.verify(signature, data)
    except (InvalidSignature, binascii.Error, ValueError, TypeError, AttributeError):
        return False
    return True


@dataclass(frozen=True)
class Checkpoint:
    """A signed tree head: the log's size and Merkle root at one moment.

    `signed_at` is kept in UTC; `signature` is base64, empty before signing.
    """

    log: str
    size: int
    root: str
    signed_at: datetime
    key_id: str
    signature: str

    def __post_init__(self) -> None:
        """Refuse fields the signed text could not hold unambiguously."""
        if not isinstance(self.log, str) or not self.log or "\n" in self.log:
            raise ValueError("checkpoint field 'log' must be a non-empty name on one line")
        if not isinstance(self.size, int) or isinstance(self.size, bool) or self.size < 0:
            raise ValueError(f"checkpoint field 'size' must be an integer >= 0, got {self.size!r}")
        if not isinstance(self.root, str) or not _HEX_DIGEST.fullmatch(self.root):
            raise ValueError("checkpoint field 'root' must be 64 lowercase hex digits")
        if not isinstance(self.signed_at, datetime) or self.signed_at.tzinfo is None:
            raise ValueError("checkpoint field 'signed_at' must be a timezone-aware time")
        if not isinstance(self.key_id, str) or not _HEX_KEY_ID.fullmatch(self.key_id):
            raise ValueError("checkpoint field 'key_id' must be 16 lowercase hex digits")
        if not isinstance(self.signature, str):
            raise ValueError("checkpoint field 'signature' must be base64 text")
        try:
            object.__setattr__(self, "signed_at", self.signed_at.astimezone(UTC))
        except OverflowError:
            raise ValueError("checkpoint field 'signed_at' is out of range") from None


def _signed_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def checkpoint_bytes(checkpoint: Checkpoint) -> bytes:
    """Return the exact text a checkpoint's signature covers, one field per line."""
    lines = (
        CHECKPOINT_HEADER,
        checkpoint.log,
        str(checkpoint.size),
        checkpoint.root,
        _signed_time(checkpoint.signed_at),
        checkpoint.key_id,
    )
    return "".join(f"{line}\n" for line in lines).encode()


def sign_checkpoint(
    key: Ed25519PrivateKey, log: str, size: int, root: bytes, signed_at: datetime
) -> Checkpoint:
    """Return the checkpoint of the tree `root` of `size` leaves, signed by `key`."""
    if not isinstance(root, bytes) or len(root) != 32:
        raise ValueError("a checkpoint's root must be a 32-byte hash")
    unsigned = Checkpoint(
        log=log,
        size=size,
        root=root.hex(),
        signed_at=signed_at,
        key_id=key_id(key.public_key()),
        signature="",
    )
    return replace(unsigned, signature=sign_bytes(key, checkpoint_bytes(unsigned)))


def verify_checkpoint(checkpoint: Checkpoint, public_key: Ed25519PublicKey) -> bool:
    """Return whether `public_key` signed this checkpoint; False, never an error, otherwise."""
    try:
        if checkpoint.key_id != key_id(public_key):
            return False
        return verify_bytes(public_key, checkpoint_bytes(checkpoint), checkpoint.signature)
    except (AttributeError, TypeError, ValueError):
        return False


def checkpoint_to_json(checkpoint: Checkpoint) -> dict[str, Any]:
    """Return the checkpoint as a JSON object (its time as ISO 8601 UTC text)."""
    return {
        "log": checkpoint.log,
        "size": checkpoint.size,
        "root": checkpoint.root,
        "signed_at": _signed_time(checkpoint.signed_at),
        "key_id": checkpoint.key_id,
        "signature": checkpoint.signature,
    }


def checkpoint_from_json(data: Any) -> Checkpoint:
    """Return the checkpoint `checkpoint_to_json` wrote; ValueError names a missing or bad field."""
    if not isinstance(data, Mapping):
        raise ValueError("a checkpoint must be a JSON object")
    missing = [name for name in CHECKPOINT_FIELDS if name not in data]
    if missing:
        raise ValueError(f"checkpoint field {missing[0]!r} is missing")
    signed_at = data["signed_at"]
    try:
        moment = datetime.fromisoformat(signed_at)
    except (TypeError, ValueError):
        raise ValueError(f"checkpoint field 'signed_at' is not a time: {signed_at!r}") from None
    if moment.tzinfo is None:
        raise ValueError("checkpoint field 'signed_at' has no time zone")
    return Checkpoint(
        log=data["log"],
        size=data["size"],
        root=data["root"],
        signed_at=moment,
        key_id=data["key_id"],
        signature=data["signature"],
    )


def write_checkpoint(checkpoint: Checkpoint, directory: Path) -> Path:
    """Write the checkpoint as JSON into `directory` atomically and return the file's path.

    The name holds the size and the signing time, so files sort by both.
    """
    directory.mkdir(parents=True, exist_ok=True)
    stamp = checkpoint.signed_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = directory / f"checkpoint-{checkpoint.size:012d}-{stamp}.json"
    text = json.dumps(checkpoint_to_json(checkpoint), indent=2, sort_keys=True) + "\n"
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".checkpoint-", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def read_checkpoint(path: Path) -> Checkpoint:
    """Return the checkpoint in a file `write_checkpoint` wrote; ValueError if it is malformed."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path.name} is not JSON: {exc}") from None
    return checkpoint_from_json(data)
