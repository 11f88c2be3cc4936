"""The audit log: every stored byte verified, rewrites caught by checkpoints, the log guarded."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from service.audit.log import LOG_NAME, CheckpointRefused, take_checkpoint, verify
from service.audit.signing import generate_signing_key, sign_checkpoint
from service.auth.attributes import PERSONAL_PATHS
from service.persistence import (
    decision_by_order,
    save_decision,
    save_label,
    save_payment_outcome,
)
from service.persistence.audit_log import entries_about, head, sequence_all
from service.persistence.audit_rows import AuditEntryRow
from service.persistence.audit_verify import verify_log
from service.persistence.chain import canonical_json, entry_bytes
from service.persistence.merkle import Frontier, leaf_hash
from service.persistence.personal import erase_customer
from service.persistence.roles import create_service_role
from service.settings import ServiceSettings
from tests.service.persistence.samples import log_verifies, sample_decision

ORDERS = 6  # six decisions, the even ones with a review case: 9 entries with their holds


@pytest.fixture
def logged(engine: Engine) -> Engine:
    """Return the engine with decisions, stock holds and a label in the log, sequenced."""
    for i in range(ORDERS):
        save_decision(
            engine, sample_decision(f"ord-{i}"), open_case=i % 2 == 0, personal=PERSONAL_PATHS
        )
    save_label(engine, "ord-1", "fraud", "chargeback", datetime.now(UTC), "api")
    sequence_all(engine)
    assert head(engine).size == ORDERS + ORDERS // 2 + 1
    return engine


@pytest.fixture
def unguarded(logged: Engine) -> Iterator[Engine]:
    """Return the engine with the log's guard off, as for someone with the owner's rights."""
    _guard(logged, on=False)
    yield logged
    _guard(logged, on=True)


def _guard(engine: Engine, on: bool) -> None:
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            state = "ENABLE" if on else "DISABLE"
            connection.execute(text(f"ALTER TABLE audit_log {state} TRIGGER USER"))
            return
        for operation in ("update", "delete"):
            if on:
                message = f"audit_log is append-only: {operation.upper()} refused"
                connection.execute(
                    text(
                        f"CREATE TRIGGER IF NOT EXISTS audit_log_no_{operation} BEFORE "
                        f"{operation.upper()} ON audit_log "
                        f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
                    )
                )
            else:
                connection.execute(text(f"DROP TRIGGER audit_log_no_{operation}"))


def _run(engine: Engine, statement: str, **values: object) -> None:
    with engine.begin() as connection:
        connection.execute(text(statement), values)


def test_an_intact_log_verifies_and_covers_every_change(logged: Engine) -> None:
    verdict = verify_log(logged)
    assert verdict.ok and verdict.size == 10 and verdict.broken_seq is None
    kinds = [entry.kind for entry in entries_about(logged, "ord-0")]
    assert kinds == ["decision.created", "stock.frozen"]
    assert [e.kind for e in entries_about(logged, "ord-1")] == ["decision.created", "label.fraud"]


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("kind", "decision.deleted"),
        ("subject", "ord-9"),
        ("actor", "someone"),
        # As text: a datetime bound to raw SQL is up to whichever sqlite3 adapter is registered.
        ("at", "2020-01-01 00:00:00"),
        ("leaf", "0" * 64),
        ("root", "0" * 64),
    ],
)
def test_changing_a_stored_field_of_an_entry_names_that_entry(
    unguarded: Engine, column: str, value: object
) -> None:
    _run(unguarded, f"UPDATE audit_log SET {column} = :value WHERE seq = 4", value=value)
    verdict = verify_log(unguarded)
    assert (verdict.ok, verdict.broken_seq) == (False, 4)


@pytest.mark.parametrize("seq", [1, 5, 10])
def test_changing_one_byte_of_any_entry_body_names_that_entry(unguarded: Engine, seq: int) -> None:
    with unguarded.connect() as connection:
        body = connection.execute(
            select(AuditEntryRow.body).where(AuditEntryRow.seq == seq)
        ).scalar_one()
    position = body.index(":") + 3  # a byte inside the first value
    changed = body[:position] + chr(ord(body[position]) ^ 1) + body[position + 1 :]
    assert len(changed) == len(body) and changed != body
    _run(unguarded, "UPDATE audit_log SET body = :body WHERE seq = :seq", body=changed, seq=seq)
    verdict = verify_log(unguarded)
    assert (verdict.ok, verdict.broken_seq) == (False, seq)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE decisions SET score = 0.01 WHERE order_id = 'ord-2'",
        # FREEZE is a reserved word in PostgreSQL, hence the quotes.
        'UPDATE decisions SET "freeze" = NOT "freeze" WHERE order_id = \'ord-2\'',
        "UPDATE decisions SET features = '{\"amount\": 1.0}' WHERE order_id = 'ord-2'",
        "UPDATE decisions SET personal = '{}' WHERE order_id = 'ord-2'",
        "UPDATE decisions SET customer_id = 'cust-2' WHERE order_id = 'ord-2'",
    ],
    ids=["score", "freeze", "features", "commitments", "customer"],
)
def test_a_changed_decision_is_named_by_its_entry(logged: Engine, statement: str) -> None:
    seq = next(e.seq for e in entries_about(logged, "ord-2") if e.kind == "decision.created")
    _run(logged, statement)
    verdict = verify_log(logged)
    assert (verdict.ok, verdict.broken_seq) == (False, seq)
    assert "ord-2" in (verdict.problem or "")


def test_a_deleted_entry_is_named_as_missing(unguarded: Engine) -> None:
    _run(unguarded, "DELETE FROM audit_log WHERE seq = 3")
    verdict = verify_log(unguarded)
    assert (verdict.ok, verdict.broken_seq) == (False, 4)
    assert "entry 3 is missing" in (verdict.problem or "")


def test_a_decision_outside_the_log_is_found(logged: Engine) -> None:
    save_decision(logged, sample_decision("ord-late"), open_case=False)
    _run(logged, "DELETE FROM audit_pending")
    verdict = verify_log(logged)
    assert not verdict.ok and "ord-late" in (verdict.problem or "")


def _rewrite(engine: Engine, seq: int | None, body: Mapping[str, object]) -> None:
    """Change one entry and recompute every leaf and tree head after it, as a forger would."""
    with engine.begin() as connection:
        rows = connection.execute(select(AuditEntryRow.__table__).order_by("seq")).fetchall()
        frontier = Frontier()
        for row in rows:
            entry = dict(row._mapping)
            if row.seq == seq:
                entry["body"] = canonical_json(body)
            parsed = {**entry, "body": orjson.loads(entry["body"])}
            leaf = leaf_hash(entry_bytes(parsed))
            frontier.append(leaf)
            connection.execute(
                text("UPDATE audit_log SET body = :b, leaf = :l, root = :r WHERE seq = :s"),
                {"b": entry["body"], "l": leaf.hex(), "r": frontier.root().hex(), "s": row.seq},
            )
        connection.execute(
            text("UPDATE audit_head SET frontier = :f WHERE id = 1"),
            {"f": orjson.dumps(frontier.to_json()).decode()},
        )


def test_a_rewrite_that_recomputes_every_hash_is_caught_by_an_earlier_checkpoint(
    unguarded: Engine,
) -> None:
    key = Ed25519PrivateKey.generate()
    now = head(unguarded)
    earlier = sign_checkpoint(key, LOG_NAME, now.size, bytes.fromhex(now.root), datetime.now(UTC))
    label_seq = next(e.seq for e in entries_about(unguarded, "ord-1") if e.kind == "label.fraud")
    known = "2024-01-01T00:00:00.000000+00:00"
    forged = {"label": "legit", "reason": None, "source": "api", "known_at": known}
    _rewrite(unguarded, label_seq, forged)
    # The forger rewrites the label's row to match, so that nothing disagrees but the signature.
    _run(
        unguarded,
        "UPDATE labels SET label = 'legit', reason = NULL, known_at = :known",
        known=datetime(2024, 1, 1, tzinfo=UTC)
        if unguarded.dialect.name != "sqlite"
        else "2024-01-01 00:00:00.000000",
    )
    assert verify_log(unguarded).ok  # on its own, the forged log is self-consistent
    result = verify(unguarded, key.public_key(), [(earlier, "file")])
    assert not result.ok
    assert "history was rewritten" in (result.checks[0].problem or "")
    assert "entries 1 to 10" in result.summary()
    # The same checkpoint, held against the untouched log, agrees (the check can pass).
    assert verify(unguarded, Ed25519PrivateKey.generate().public_key(), []).ok


def test_removing_the_newest_entries_is_caught_by_a_checkpoint(unguarded: Engine) -> None:
    key = Ed25519PrivateKey.generate()
    now = head(unguarded)
    signed = sign_checkpoint(key, LOG_NAME, now.size, bytes.fromhex(now.root), datetime.now(UTC))
    assert verify(unguarded, key.public_key(), [(signed, "file")]).ok
    # The newest entry is the label: its row goes with it, so nothing else disagrees.
    _run(unguarded, "DELETE FROM audit_log WHERE seq = 10")
    _run(unguarded, "DELETE FROM labels")
    result = verify(unguarded, key.public_key(), [(signed, "file")])
    assert result.log.ok and not result.ok
    assert "entries were removed" in (result.checks[0].problem or "")


def test_a_checkpoint_signed_by_another_key_does_not_vouch(logged: Engine) -> None:
    now = head(logged)
    other = Ed25519PrivateKey.generate()
    signed = sign_checkpoint(other, LOG_NAME, now.size, bytes.fromhex(now.root), datetime.now(UTC))
    result = verify(logged, Ed25519PrivateKey.generate().public_key(), [(signed, "file")])
    assert not result.ok and "not among the keys given" in (result.checks[0].problem or "")


def test_checkpoints_of_a_rotated_key_verify_with_every_key_given(logged: Engine) -> None:
    old, new = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    at = head(logged)
    before = sign_checkpoint(old, LOG_NAME, at.size, bytes.fromhex(at.root), datetime.now(UTC))
    save_decision(logged, sample_decision("ord-rotated"), open_case=False)
    sequence_all(logged)
    at = head(logged)
    after = sign_checkpoint(new, LOG_NAME, at.size, bytes.fromhex(at.root), datetime.now(UTC))
    held = [(before, "old key"), (after, "new key")]
    assert verify(logged, [new.public_key(), old.public_key()], held).ok
    only_new = verify(logged, [new.public_key()], held)
    assert [c.problem is None for c in only_new.checks] == [False, True]
    # A checkpoint whose signature is forged under a key that is given is still refused.
    forged = dataclasses.replace(before, size=before.size, root="0" * 64)
    refused = verify(logged, [old.public_key()], [(forged, "forged")])
    assert "signature does not verify" in (refused.checks[0].problem or "")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET actor = 'x' WHERE seq = 1",
        "DELETE FROM audit_log WHERE seq = 1",
        "UPDATE audit_pending SET actor = 'x'",
    ],
)
def test_the_database_refuses_to_change_the_log(logged: Engine, statement: str) -> None:
    save_decision(logged, sample_decision("ord-pending"), open_case=False)  # one pending entry
    with pytest.raises(DBAPIError, match="append-only"):
        _run(logged, statement)
    assert log_verifies(logged)


def test_postgres_refuses_truncate_and_the_service_role_has_no_rights_to_change(
    logged: Engine, tmp_path: Path
) -> None:
    if logged.dialect.name != "postgresql":
        pytest.skip("roles and TRUNCATE triggers are PostgreSQL's")
    with pytest.raises(DBAPIError, match="append-only"):
        _run(logged, "TRUNCATE audit_log")
    role = f"os_service_{tmp_path.name[-6:].lower().replace('-', '_')}"
    create_service_role(logged, role, "service-password")
    url = make_url(str(logged.url)).set(username=role, password="service-password")
    service = create_engine(url)
    try:
        with service.begin() as connection:
            assert connection.execute(text("SELECT count(*) FROM audit_log")).scalar() == 10
            connection.execute(text("UPDATE decisions SET latency_ms = latency_ms"))
        for statement in (
            "UPDATE audit_log SET actor = 'x'",
            "DELETE FROM audit_log",
            "TRUNCATE audit_log",
        ):
            with (
                pytest.raises(DBAPIError, match="permission denied"),
                service.begin() as connection,
            ):
                connection.execute(text(statement))
    finally:
        service.dispose()
        _run(logged, f"DROP OWNED BY {role}")
        _run(logged, f"DROP ROLE {role}")


def test_erasure_removes_the_values_logs_itself_and_keeps_the_log_valid(logged: Engine) -> None:
    before = decision_by_order(logged, "ord-3")
    assert before is not None and before.order["customer"]["email"] == "zoë@example.com"
    done = erase_customer(logged, "cust-1", "dpo@example.com")
    assert (done.orders, done.values) == (ORDERS, 2 * ORDERS)
    after = decision_by_order(logged, "ord-3")
    assert after is not None
    assert after.order["customer"]["email"] is None and after.order["ip"] is None
    assert after.personal == before.personal  # the commitments stay: nothing chained changed
    erased = after.erasures["customer.email"]
    assert erased.erased_by == "dpo@example.com" and erased.erased_at is not None
    with logged.connect() as connection:
        stored = connection.execute(
            text("SELECT value, salt FROM personal_values WHERE value IS NOT NULL")
        ).all()
        assert stored == [] and "zoë" not in str(
            connection.execute(text("SELECT order_payload FROM decisions")).all()
        )
    assert [e.kind for e in entries_about(logged, "cust-1")] == ["privacy.erased"]
    assert log_verifies(logged)


@pytest.mark.parametrize(
    ("statement", "named"),
    [
        ("UPDATE labels SET label = 'legit'", "label of order 'ord-1'"),
        ("UPDATE labels SET reason = 'friendly fraud'", "label of order 'ord-1'"),
        ("DELETE FROM labels", "logged label of order 'ord-1' is gone"),
        ("UPDATE stock_transitions SET actor = 'someone'", "stock transition"),
        ("UPDATE payment_outcomes SET status = 'authorized'", "payment outcome of order 'ord-1'"),
        (
            "UPDATE personal_values SET value = '\"x@example.com\"' WHERE path = 'customer.email'",
            "is not the value committed to",
        ),
        (
            "UPDATE personal_values SET value = NULL, salt = NULL, erased_at = decided "
            "FROM (SELECT CURRENT_TIMESTAMP AS decided) AS now WHERE path = 'ip'",
            "erased with no erasure logged",
        ),
        ("DELETE FROM personal_values WHERE path = 'ip'", "was deleted, not erased"),
    ],
    ids=[
        "label",
        "label-reason",
        "label-deleted",
        "stock-actor",
        "payment",
        "personal-value",
        "fake-erasure",
        "personal-deleted",
    ],
)
def test_a_changed_evidence_row_is_named(logged: Engine, statement: str, named: str) -> None:
    save_payment_outcome(logged, "ord-1", "declined", datetime.now(UTC))
    assert log_verifies(logged)
    _run(logged, statement)
    verdict = verify_log(logged)
    assert not verdict.ok and named in (verdict.problem or ""), verdict.problem


def test_no_checkpoint_is_signed_over_a_rewritten_log(unguarded: Engine, tmp_path: Path) -> None:
    settings = ServiceSettings(data_dir=tmp_path)
    generate_signing_key(Path(settings.signing_key_source))
    first, _ = take_checkpoint(unguarded, settings)
    save_decision(unguarded, sample_decision("ord-new"), open_case=False)
    assert take_checkpoint(unguarded, settings)[0].size == first.size + 1  # a grown log signs
    forged = {"label": "legit", "reason": None, "source": "api", "known_at": "2024-01-01"}
    label_seq = next(e.seq for e in entries_about(unguarded, "ord-1") if e.kind == "label.fraud")
    _rewrite(unguarded, label_seq, forged)
    save_decision(unguarded, sample_decision("ord-after"), open_case=False)
    with pytest.raises(CheckpointRefused, match="history was rewritten"):
        take_checkpoint(unguarded, settings)
    # Against the file alone too: the copies kept in the database are the intruder's to delete.
    _run(unguarded, "DELETE FROM audit_checkpoints")
    with pytest.raises(CheckpointRefused, match="history was rewritten"):
        take_checkpoint(unguarded, settings)


def test_a_changed_entry_since_the_last_checkpoint_is_not_signed(
    unguarded: Engine, tmp_path: Path
) -> None:
    settings = ServiceSettings(data_dir=tmp_path)
    generate_signing_key(Path(settings.signing_key_source))
    take_checkpoint(unguarded, settings)
    save_decision(unguarded, sample_decision("ord-new"), open_case=False)
    sequence_all(unguarded)
    _run(
        unguarded,
        "UPDATE audit_log SET actor = 'someone' WHERE seq = :seq",
        seq=head(unguarded).size,
    )
    with pytest.raises(CheckpointRefused, match="does not hash to its stored leaf"):
        take_checkpoint(unguarded, settings)
