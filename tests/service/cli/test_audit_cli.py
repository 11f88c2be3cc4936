"""`ordershield audit …` and `ordershield privacy erase` on a SQLite data dir, end to end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import cast

import orjson
import pytest
from sqlalchemy import Engine, Table, delete, select, text, update
from typer.testing import CliRunner

from service.cli import app
from service.persistence import make_engine, migrate, save_label
from service.persistence.audit_log import AuditEntry, sequence_all
from service.persistence.audit_rows import AuditCheckpointRow, AuditEntryRow, AuditHeadRow
from service.persistence.chain import canonical_json, entry_bytes
from service.persistence.merkle import Frontier, leaf_hash
from service.persistence.personal import salted_values
from service.settings import ServiceSettings
from tests.service.audit.test_export import DECIDED, decided, keyed_settings

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ORDERSHIELD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path


@pytest.fixture
def engine(data_dir: Path) -> Iterator[Engine]:
    """A database with three decisions and a label, every entry sequenced, and a signing key."""
    settings = keyed_settings(data_dir)
    engine = make_engine(settings.db_url)
    migrate(engine)
    for n in range(3):
        decided(engine, f"cli-{n}", customer=f"cust-{n}")
    save_label(engine, "cli-1", "fraud", "chargeback", DECIDED, "api")
    sequence_all(engine)
    yield engine
    engine.dispose()


def run(*args: str) -> tuple[int, str]:
    """Run a command; return its exit code and its output with line wrapping undone."""
    result = runner.invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())


def seq_of(engine: Engine, kind: str) -> int:
    with engine.connect() as connection:
        query = text("SELECT seq FROM audit_log WHERE kind = :kind ORDER BY seq LIMIT 1")
        return int(connection.execute(query, {"kind": kind}).scalar_one())


def allow_updates(engine: Engine) -> None:
    """Do what an intruder with the database file can: drop the append-only trigger."""
    with engine.begin() as connection:
        connection.execute(text("DROP TRIGGER audit_log_no_update"))


def test_verify_is_green_then_names_the_entry_whose_body_changed_by_one_byte(
    engine: Engine,
) -> None:
    code, output = run("audit", "verify")
    assert code == 0, output
    assert "verified" in output and "all 4 entries verify" in output
    seq = seq_of(engine, "label.fraud")
    allow_updates(engine)
    with engine.begin() as connection:
        body = connection.execute(
            text("SELECT body FROM audit_log WHERE seq = :seq"), {"seq": seq}
        ).scalar_one()
        changed = body.replace("chargeback", "chargebacc")
        assert len(changed) == len(body) and changed != body
        connection.execute(
            text("UPDATE audit_log SET body = :body WHERE seq = :seq"),
            {"body": changed, "seq": seq},
        )
    code, output = run("audit", "verify")
    assert code == 1, output
    assert f"entry {seq} does not verify" in output
    assert "leaf hash" in output


def rewrite_history(engine: Engine, seq: int) -> None:
    """Change one entry and recompute every leaf, root and the head, as a careful intruder would."""
    allow_updates(engine)
    log = cast(Table, AuditEntryRow.__table__)
    with engine.begin() as connection:
        rows = connection.execute(select(log).order_by(log.c.seq)).fetchall()
        frontier = Frontier()
        for row in rows:
            body = orjson.loads(row.body)
            if row.seq == seq:
                body["reason"] = "friendly fraud"
            entry = AuditEntry(row.seq, row.kind, row.subject, row.actor, row.at, body)
            leaf = leaf_hash(entry_bytes(entry.as_dict()))
            frontier.append(leaf)
            connection.execute(
                update(log)
                .where(log.c.seq == row.seq)
                .values(body=canonical_json(body), leaf=leaf.hex(), root=frontier.root().hex())
            )
        connection.execute(update(AuditHeadRow).values(frontier=frontier.to_json()))
        # The label's row is rewritten to match the forged entry, so the tables agree too.
        connection.execute(text("UPDATE labels SET reason = 'friendly fraud'"))
        # The intruder removes the checkpoints kept in the database; the files are out of reach.
        connection.execute(delete(AuditCheckpointRow))


def test_a_full_recompute_is_caught_by_an_earlier_checkpoint_file(engine: Engine) -> None:
    code, output = run("audit", "checkpoint")
    assert code == 0, output
    assert "checkpoint of 4 entries" in output
    [kept] = sorted(ServiceSettings().checkpoint_dir.glob("checkpoint-*.json"))
    rewrite_history(engine, seq_of(engine, "label.fraud"))
    code, output = run("audit", "verify")
    assert code == 0, "every hash was recomputed: the database alone cannot tell"
    code, output = run("audit", "verify", "--from-checkpoint", str(kept))
    assert code == 1, output
    assert "history was rewritten" in output
    assert "the change lies in entries 1 to 4" in output


def test_checkpoint_writes_a_signed_file_and_needs_a_key(engine: Engine, data_dir: Path) -> None:
    code, output = run("audit", "checkpoint")
    assert code == 0, output
    files = list(ServiceSettings().checkpoint_dir.glob("checkpoint-*.json"))
    assert len(files) == 1
    written = orjson.loads(files[0].read_bytes())
    assert written["size"] == 4 and written["log"] == "ordershield"
    Path(ServiceSettings().signing_key_source).unlink()
    code, output = run("audit", "checkpoint")
    assert code == 1
    assert "ordershield audit keygen" in output


def test_privacy_erase_removes_the_values_and_the_log_still_verifies(engine: Engine) -> None:
    code, output = run("privacy", "erase", "--customer", "cust-1", "--by", "dpo")
    assert code == 0, output
    assert "erased" in output and "across 1 decision(s)" in output
    with engine.connect() as connection:
        decision_id = connection.execute(
            text("SELECT id FROM decisions WHERE order_id = 'cli-1'")
        ).scalar_one()
    values = salted_values(engine, decision_id)
    assert values and all(value is None and salt is None for value, salt in values.values())
    code, output = run("audit", "verify")
    assert code == 0, output


def test_pdf_and_bundle_commands_write_their_files(engine: Engine, data_dir: Path) -> None:
    pdf = data_dir / "evidence.pdf"
    code, output = run("audit", "pdf", "cli-1", "--out", str(pdf))
    assert code == 0, output
    assert pdf.read_bytes().startswith(b"%PDF-")
    bundle = data_dir / "bundle.json"
    code, output = run("audit", "bundle", "cli-1", "--out", str(bundle), "--role", "admin")
    assert code == 1 and not bundle.exists(), output  # admin's masking cannot hold in a bundle
    code, output = run("audit", "bundle", "cli-1", "--out", str(bundle))
    assert code == 0, output
    assert orjson.loads(bundle.read_bytes())["decision"]["order_id"] == "cli-1"
    admin_pdf = data_dir / "admin.pdf"
    code, output = run("audit", "pdf", "cli-1", "--out", str(admin_pdf), "--role", "admin")
    assert code == 0 and admin_pdf.read_bytes().startswith(b"%PDF-"), output
    code, output = run("audit", "bundle", "nope", "--out", str(data_dir / "nope.json"))
    assert code == 1 and "no decision for order 'nope'" in output
    assert not (data_dir / "nope.json").exists()
    code, output = run("audit", "pdf", "nope", "--out", str(data_dir / "nope.pdf"))
    assert code == 1 and "no decision for order 'nope'" in output
