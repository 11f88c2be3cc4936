"""Ed25519 keys, signed checkpoints and their files."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from service.audit import signing
from service.audit.signing import Checkpoint, SigningKeyError

ROOT = hashlib.sha256(b"a tree").digest()
SIGNED_AT = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


def raw(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def private_pem(key: Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def checkpoint(key: Ed25519PrivateKey) -> Checkpoint:
    return signing.sign_checkpoint(key, "ordershield", 9, ROOT, SIGNED_AT)


def test_a_generated_key_is_private_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "audit.pem"
    public = signing.generate_signing_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert text.startswith("-----BEGIN PRIVATE KEY-----")
    assert signing.public_pem(signing.load_signing_key(str(path))) == signing.public_pem(public)
    with pytest.raises(FileExistsError):
        signing.generate_signing_key(path)
    assert path.read_text() == text


def test_a_signing_key_loads_from_a_file_or_its_pem_text(
    tmp_path: Path, key: Ed25519PrivateKey
) -> None:
    pem = private_pem(key)
    path = tmp_path / "key.pem"
    path.write_text(pem)
    for source in (str(path), pem, f"\n{pem}"):
        assert raw(signing.load_signing_key(source)) == raw(key)


def test_unreadable_signing_keys_are_named_without_their_content(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    with pytest.raises(SigningKeyError, match="not found"):
        signing.load_signing_key(str(missing))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    with pytest.raises(SigningKeyError, match=r"garbage\.pem"):
        signing.load_signing_key(str(garbage))
    other = private_pem(ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(SigningKeyError, match="not an Ed25519") as caught:
        signing.load_signing_key(other)
    assert other.splitlines()[1] not in str(caught.value)  # no key material in the message
    encrypted = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    with pytest.raises(SigningKeyError, match="the PEM text"):
        signing.load_signing_key(encrypted.decode())
    with pytest.raises(SigningKeyError):
        signing.load_signing_key("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    assert issubclass(SigningKeyError, ValueError)


def test_a_public_key_loads_from_pem_hex_base64_or_a_file(
    tmp_path: Path, key: Ed25519PrivateKey
) -> None:
    pem = signing.public_pem(key)
    raw_bytes = raw(key)
    texts = [
        pem,
        raw_bytes.hex(),
        raw_bytes.hex().upper(),
        base64.b64encode(raw_bytes).decode(),
        base64.urlsafe_b64encode(raw_bytes).decode(),
    ]
    sources = [*texts]
    for number, text in enumerate(texts):
        path = tmp_path / f"key-{number}.pub"
        path.write_text(text + "\n")
        sources.append(str(path))
    for source in sources:
        assert raw(signing.load_public_key(source)) == raw_bytes
    assert len(sources) == 10


def test_unreadable_public_keys_are_refused(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    garbage = tmp_path / "garbage.pub"
    garbage.write_text("no key here")
    sources = [
        str(tmp_path / "missing.pub"),
        str(garbage),
        raw(key).hex()[:-2],
        base64.b64encode(raw(key) + b"x").decode(),
        private_pem(key),
        signing.public_pem(key).replace("MC", "XX"),
    ]
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    sources.append(
        other.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()
    )
    for source in sources:
        with pytest.raises(SigningKeyError):
            signing.load_public_key(source)
    assert len(sources) == 7


def test_key_id_is_the_start_of_the_raw_keys_hash(key: Ed25519PrivateKey) -> None:
    expected = hashlib.sha256(raw(key)).hexdigest()[:16]
    assert signing.key_id(key.public_key()) == expected
    assert signing.public_pem(key) == signing.public_pem(key.public_key())
    assert signing.public_pem(key).startswith("-----BEGIN PUBLIC KEY-----")


def test_the_signed_text_is_one_field_per_line(checkpoint: Checkpoint) -> None:
    assert (
        signing.checkpoint_bytes(checkpoint)
        == (
            "ordershield-audit-checkpoint/1\n"
            "ordershield\n"
            "9\n"
            f"{ROOT.hex()}\n"
            "2024-05-06T07:08:09.123456+00:00\n"
            f"{checkpoint.key_id}\n"
        ).encode()
    )


def test_a_checkpoint_verifies_with_its_key_only(
    key: Ed25519PrivateKey, checkpoint: Checkpoint
) -> None:
    public = key.public_key()
    assert checkpoint.signature
    assert signing.verify_checkpoint(checkpoint, public)
    assert checkpoint.key_id == signing.key_id(public)
    other = Ed25519PrivateKey.generate()
    assert not signing.verify_checkpoint(checkpoint, other.public_key())
    # Signed by another key that claims this key's id.
    forged = signing.sign_checkpoint(other, "ordershield", 9, ROOT, SIGNED_AT)
    assert not signing.verify_checkpoint(
        dataclasses.replace(forged, key_id=checkpoint.key_id), public
    )


def test_a_key_id_that_names_another_key_fails(key: Ed25519PrivateKey) -> None:
    unsigned = Checkpoint("ordershield", 9, ROOT.hex(), SIGNED_AT, "0" * 16, "")
    signature = signing.sign_bytes(key, signing.checkpoint_bytes(unsigned))
    signed = dataclasses.replace(unsigned, signature=signature)
    assert signing.verify_bytes(key.public_key(), signing.checkpoint_bytes(signed), signature)
    assert not signing.verify_checkpoint(signed, key.public_key())


@pytest.mark.parametrize(
    "change",
    [
        {"size": 10},
        {"size": 8},
        {"root": hashlib.sha256(b"another tree").hexdigest()},
        {"signed_at": SIGNED_AT + timedelta(microseconds=1)},
        {"log": "elsewhere"},
        {"key_id": "0" * 16},
        {"signature": ""},
        {"signature": "not base64!"},
        {"signature": base64.b64encode(b"\x00" * 64).decode()},
        {"signature": base64.b64encode(b"\x00" * 10).decode()},
    ],
)
def test_a_changed_checkpoint_fails(
    key: Ed25519PrivateKey, checkpoint: Checkpoint, change: dict[str, object]
) -> None:
    changed = dataclasses.replace(checkpoint, **change)  # type: ignore[arg-type]
    assert not signing.verify_checkpoint(changed, key.public_key())


def test_signing_times_are_kept_in_utc(key: Ed25519PrivateKey, checkpoint: Checkpoint) -> None:
    paris = SIGNED_AT.astimezone(timezone(timedelta(hours=2)))
    again = signing.sign_checkpoint(key, "ordershield", 9, ROOT, paris)
    assert again.signed_at.utcoffset() == timedelta(0)
    assert signing.checkpoint_bytes(again) == signing.checkpoint_bytes(checkpoint)


def test_sign_checkpoint_refuses_what_the_text_cannot_hold(key: Ed25519PrivateKey) -> None:
    with pytest.raises(ValueError, match="signed_at"):
        signing.sign_checkpoint(key, "ordershield", 9, ROOT, datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="32-byte"):
        signing.sign_checkpoint(key, "ordershield", 9, ROOT[:31], SIGNED_AT)
    with pytest.raises(ValueError, match="log"):
        signing.sign_checkpoint(key, "two\nlines", 9, ROOT, SIGNED_AT)
    with pytest.raises(ValueError, match="size"):
        signing.sign_checkpoint(key, "ordershield", -1, ROOT, SIGNED_AT)


def test_checkpoint_json_round_trip(key: Ed25519PrivateKey, checkpoint: Checkpoint) -> None:
    data = signing.checkpoint_to_json(checkpoint)
    assert data["signed_at"] == "2024-05-06T07:08:09.123456+00:00"
    again = signing.checkpoint_from_json(data)
    assert again == checkpoint
    assert signing.verify_checkpoint(again, key.public_key())


@pytest.mark.parametrize("field", signing.CHECKPOINT_FIELDS)
def test_checkpoint_json_names_a_missing_field(checkpoint: Checkpoint, field: str) -> None:
    data = signing.checkpoint_to_json(checkpoint)
    del data[field]
    with pytest.raises(ValueError, match=f"'{field}' is missing"):
        signing.checkpoint_from_json(data)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("log", 7),
        ("log", ""),
        ("size", "9"),
        ("size", -1),
        ("size", True),
        ("root", "zz" * 32),
        ("root", ROOT.hex().upper()),
        ("signed_at", "yesterday"),
        ("signed_at", "2024-05-06T07:08:09"),
        ("signed_at", 1715000000),
        ("signed_at", "0001-01-01T00:00:00+01:00"),
        ("key_id", "abc"),
        ("signature", None),
    ],
)
def test_checkpoint_json_names_a_bad_field(
    checkpoint: Checkpoint, field: str, value: object
) -> None:
    data = signing.checkpoint_to_json(checkpoint)
    data[field] = value
    with pytest.raises(ValueError, match=f"'{field}'"):
        signing.checkpoint_from_json(data)


def test_checkpoint_json_must_be_an_object() -> None:
    with pytest.raises(ValueError, match="JSON object"):
        signing.checkpoint_from_json(["not", "a", "checkpoint"])


def test_checkpoint_files(tmp_path: Path, key: Ed25519PrivateKey, checkpoint: Checkpoint) -> None:
    directory = tmp_path / "checkpoints"
    path = signing.write_checkpoint(checkpoint, directory)
    assert path.name == "checkpoint-000000000009-20240506T070809123456Z.json"
    assert [p.name for p in directory.iterdir()] == [path.name]  # no temporary file left
    again = signing.read_checkpoint(path)
    assert again == checkpoint
    assert signing.verify_checkpoint(again, key.public_key())
    # Writing the same checkpoint again replaces the file.
    assert signing.write_checkpoint(checkpoint, directory) == path
    assert len(list(directory.iterdir())) == 1
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ValueError, match=r"broken\.json"):
        signing.read_checkpoint(broken)


def test_bytes_signatures(key: Ed25519PrivateKey) -> None:
    public = key.public_key()
    signature = signing.sign_bytes(key, b"evidence")
    assert len(base64.b64decode(signature)) == 64
    assert signing.verify_bytes(public, b"evidence", signature)
    assert not signing.verify_bytes(public, b"evidencE", signature)
    stranger = Ed25519PrivateKey.generate().public_key()
    assert not signing.verify_bytes(stranger, b"evidence", signature)
    for garbage in ("", "!!!", signature[:-4], signature.replace("=", "")):
        assert not signing.verify_bytes(public, b"evidence", garbage)
    assert not signing.verify_bytes(public, b"evidence", None)  # type: ignore[arg-type]
