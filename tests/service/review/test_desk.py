"""The review desk through the app: a high order's case is worked on the API and on the pages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import select

from features.build import build_offline_sources
from features.store import apply, materialize
from models.scorer import Thresholds
from service.app import create_app
from service.persistence import decision_by_order, make_engine
from service.persistence.cases import Actor, QueueFilter, queue
from service.persistence.outcomes import decide_case
from service.persistence.tables import FeatureUpdateRow
from service.settings import ServiceSettings
from tests.service.clients import create_people, new_key, sign_in
from tests.tiny_model import tiny_champion
from training.sources.payloads import order_payload


@pytest.fixture(scope="module")
def desk_settings(
    tmp_path_factory: pytest.TempPathFactory, stream: pd.DataFrame
) -> ServiceSettings:
    """A data dir whose champion sends every order to review (high from score 0)."""
    settings = ServiceSettings(data_dir=Path(tmp_path_factory.mktemp("desk")))
    build_offline_sources(stream.iloc[:200], settings)
    apply(settings)
    materialize(settings)
    tiny_champion(settings, Thresholds(0.0, 0.0, 1.0))
    create_people(settings)
    return settings


@pytest.fixture(scope="module")
def app(desk_settings: ServiceSettings) -> Iterator[TestClient]:
    with TestClient(create_app(desk_settings)) as client:
        yield client


HOSTILE = "<script>alert(1)</script>"


def score(
    client: TestClient,
    settings: ServiceSettings,
    row: pd.Series,
    order_id: str,
    now: bool = False,
) -> dict[str, Any]:
    order = order_payload(row)
    order["order_id"] = order_id
    if now:  # created when it arrives: after every label already known
        order.pop("created_at", None)
    order["device"] = {**(order.get("device") or {}), "user_agent": HOSTILE}
    headers = {"Authorization": f"Bearer {new_key(settings)}"}
    answer = client.post("/v1/orders/score", json=order, headers=headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_a_case_is_claimed_decided_and_the_stock_follows_on_the_api(
    app: TestClient, desk_settings: ServiceSettings, stream: pd.DataFrame
) -> None:
    decided = score(app, desk_settings, stream.iloc[300], "desk-api-1")
    assert decided["tier"] == "high" and decided["stock"]["state"] == "frozen"
    ann = {"Authorization": f"Bearer {new_key(desk_settings, ['review'], 'reviewer')}"}
    bo = {"Authorization": f"Bearer {new_key(desk_settings, ['review'], 'reviewer')}"}
    claimed = app.post("/v1/review/cases/next", headers=ann).json()
    assert claimed["order_id"] == "desk-api-1"
    case = f"/v1/review/cases/{claimed['id']}"
    refused = app.post(f"{case}/approve", json={"reason_code": "customer_verified"}, headers=bo)
    assert refused.status_code == 409 and refused.json()["error"] == "conflict"
    bad = app.post(f"{case}/reject", json={"reason_code": "confirmed_fraud"}, headers=ann)
    assert bad.status_code == 422 and "scenario" in bad.text
    done = app.post(f"{case}/approve", json={"reason_code": "customer_verified"}, headers=ann)
    assert done.status_code == 200 and done.json()["status"] == "approved"
    again = app.post(f"{case}/approve", json={"reason_code": "customer_verified"}, headers=ann)
    assert again.status_code == 409
    service = {"Authorization": f"Bearer {new_key(desk_settings)}"}
    stored = app.get("/v1/orders/desk-api-1/decision", headers=service).json()
    assert stored["stock"]["state"] == "released"
    assert [step["state"] for step in stored["stock"]["history"]] == ["frozen", "released"]
    history = app.get(case, headers=ann).json()["history"]
    assert [step["action"] for step in history] == ["claim", "approve"]


def test_a_reviewer_works_a_case_on_the_pages(
    app: TestClient, desk_settings: ServiceSettings, stream: pd.DataFrame
) -> None:
    score(app, desk_settings, stream.iloc[301], "desk-page-1")
    app.cookies.clear()
    token = sign_in(app, "reviewer")
    queue = app.get("/review")
    assert queue.status_code == 200 and "desk-page-1" in queue.text
    assert "script-src 'self'" in queue.headers["content-security-policy"]
    assert app.get("/review/rows").status_code == 200
    opened = app.post("/review/next", data={"csrf_token": token}, follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"].startswith("/review/cases/")
    page = app.get(opened.headers["location"])
    assert page.status_code == 200
    assert 'data-testid="waterfall"' in page.text and 'data-testid="ring"' in page.text
    assert HOSTILE not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    action = opened.headers["location"] + "/act"
    form = {"csrf_token": token, "action": "reject", "reason_code": "confirmed_fraud"}
    done = app.post(action, data={**form, "scenario": "card_testing"}, follow_redirects=False)
    assert done.status_code == 303, done.text
    again = app.post(action, data={**form, "scenario": "card_testing"})
    assert again.status_code == 409 and "already rejected" in again.text


def test_a_rejection_reaches_the_next_order_on_the_device_at_once(
    app: TestClient, desk_settings: ServiceSettings, stream: pd.DataFrame
) -> None:
    row = stream.iloc[302]
    first = score(app, desk_settings, row, "desk-fraud-1", now=True)
    reviewer = {"Authorization": f"Bearer {new_key(desk_settings, ['review'], 'reviewer')}"}
    cases = app.get("/v1/review/cases", headers=reviewer).json()
    case_id = next(c["id"] for c in cases if c["order_id"] == first["order_id"])
    rejected = app.post(
        f"/v1/review/cases/{case_id}/reject",
        json={"reason_code": "confirmed_fraud", "scenario": "account_takeover"},
        headers=reviewer,
    )
    assert rejected.status_code == 200, rejected.text
    score(app, desk_settings, row, "desk-fraud-2", now=True)
    engine = make_engine(desk_settings.db_url)
    try:
        before = decision_by_order(engine, "desk-fraud-1")
        after = decision_by_order(engine, "desk-fraud-2")
    finally:
        engine.dispose()
    assert before is not None and after is not None
    assert after.features["device_fraud_30d"] == (before.features["device_fraud_30d"] or 0) + 1


def test_a_rejection_owes_its_feature_update_in_its_own_transaction(
    app: TestClient, desk_settings: ServiceSettings, stream: pd.DataFrame
) -> None:
    # As if the process died right after the outcome committed: the update waits in the
    # outbox, and the service's drainer applies it (once) later.
    score(app, desk_settings, stream.iloc[303], "desk-crash-1", now=True)
    engine = make_engine(desk_settings.db_url)
    try:
        case = next(c for c in queue(engine, QueueFilter()) if c.order_id == "desk-crash-1")
        actor = Actor("u-x", "ann", "reviewer")
        decide_case(engine, case.id, actor, "reject", "confirmed_fraud", None, "card_testing")
        with engine.connect() as connection:  # applied already by the drainer, or not yet
            rows = connection.execute(select(FeatureUpdateRow.payload)).scalars()
            owed = [p for p in rows if p["order_id"] == "desk-crash-1"]
        assert [p["stream"] for p in owed] == ["orders", "labels", "fraud"]
    finally:
        engine.dispose()


def test_review_forms_need_the_sessions_csrf_token(
    app: TestClient, desk_settings: ServiceSettings, stream: pd.DataFrame
) -> None:
    score(app, desk_settings, stream.iloc[304], "desk-csrf-1")
    app.cookies.clear()
    token = sign_in(app, "reviewer")
    case = app.post("/review/next", data={"csrf_token": token}, follow_redirects=False)
    target = case.headers["location"]
    form = {"action": "approve", "reason_code": "customer_verified"}
    for path, data in (("/review/next", {}), (f"{target}/act", form), (f"{target}/release", {})):
        for wrong in ({}, {"csrf_token": "x" * 43}):
            refused = app.post(path, data={**data, **wrong}, follow_redirects=False)
            assert refused.status_code == 403, (path, refused.status_code)
    assert 'status <strong data-testid="status">open' in app.get(target).text


def test_a_reviewers_note_is_shown_as_text_in_the_history(
    app: TestClient, desk_settings: ServiceSettings, stream: pd.DataFrame
) -> None:
    score(app, desk_settings, stream.iloc[305], "desk-note-1")
    app.cookies.clear()
    token = sign_in(app, "reviewer")
    case = app.post("/review/next", data={"csrf_token": token}, follow_redirects=False)
    target = case.headers["location"]
    note = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    form = {"csrf_token": token, "action": "approve", "reason_code": "other", "note": note}
    assert app.post(f"{target}/act", data=form, follow_redirects=False).status_code == 303
    page = app.get(target).text
    assert note not in page and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page


def test_order_ids_the_policy_hides_stay_hidden_on_the_desk(
    tmp_path: Path, desk_settings: ServiceSettings, stream: pd.DataFrame
) -> None:
    shipped = Path(__file__).parents[3] / "service" / "auth" / "policy.yaml"
    policy = yaml.safe_load(shipped.read_text())
    policy["roles"]["reviewer"]["hidden"].append("order_id")
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy))
    hiding = desk_settings.model_copy(update={"masking_policy": path})
    with TestClient(create_app(hiding)) as client:
        score(client, hiding, stream.iloc[306], "SECRET-ORDER-1", now=True)
        score(client, hiding, stream.iloc[306], "SECRET-ORDER-2", now=True)  # a linked order
        reviewer = {"Authorization": f"Bearer {new_key(hiding, ['review'], 'reviewer')}"}
        listed = client.get("/v1/review/cases", headers=reviewer).json()
        assert listed and all(case["order_id"] is None for case in listed)
        token = sign_in(client, "reviewer")
        queue_page = client.get("/review").text
        case = client.post("/review/next", data={"csrf_token": token}, follow_redirects=False)
        case_page = client.get(case.headers["location"]).text
        for shown in (queue_page, case_page, client.get("/review/rows").text):
            assert "SECRET-ORDER" not in shown


def test_outcomes_reach_the_order_log_training_reads(
    app: TestClient,
    desk_settings: ServiceSettings,
    stream: pd.DataFrame,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from service.cli import app as cli

    reviewer = {"Authorization": f"Bearer {new_key(desk_settings, ['review'], 'reviewer')}"}
    outcomes = {
        "log-legit": ("approve", {"reason_code": "customer_verified"}),
        "log-fraud": ("reject", {"reason_code": "confirmed_fraud", "scenario": "reshipping"}),
        "log-open": (None, {}),
    }
    for number, (order_id, (action, body)) in enumerate(outcomes.items()):
        score(app, desk_settings, stream.iloc[310 + number], order_id)
        cases = app.get("/v1/review/cases", headers=reviewer).json()
        case_id = next(c["id"] for c in cases if c["order_id"] == order_id)
        if action:
            decided = app.post(f"/v1/review/cases/{case_id}/{action}", json=body, headers=reviewer)
            assert decided.status_code == 200, decided.text
    monkeypatch.setenv("ORDERSHIELD_DATA_DIR", str(desk_settings.data_dir))
    done = CliRunner().invoke(cli, ["history", "sync"], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    log = pd.read_parquet(desk_settings.orders_path).set_index("order_id")
    assert log.at["log-legit", "label"] == 0, "approved: legit"
    assert (log.at["log-fraud", "label"], log.at["log-fraud", "scenario"]) == (1, "reshipping")
    assert log["label_known_at"].notna()["log-fraud"]
    assert log["label"].isna()["log-open"], "still open: no label yet"
    again = CliRunner().invoke(cli, ["history", "sync"], catch_exceptions=False)
    assert again.exit_code == 0
    assert len(pd.read_parquet(desk_settings.orders_path)) == len(log), "a second sync adds none"
