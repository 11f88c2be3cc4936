"""The `ordershield` command line end to end on the embedded defaults, as a user runs it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pandas as pd
import pytest
from typer.testing import CliRunner

from service.cli import app
from service.cli.server import running_server
from service.settings import ServiceSettings
from training.sources.payloads import order_payload

runner = CliRunner()


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.slow
def test_simulate_features_train_promote_serve_and_label(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERSHIELD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    assert "ORDERSHIELD_DATA_DIR" in invoke("config")
    assert "fraud" in invoke("simulate", "--orders", "6000", "--days", "10", "--seed", "5")
    assert "applied the Feast repo" in invoke("features", "apply")
    assert "materialized" in invoke("features", "materialize")
    trained = invoke("train", "--fp-budget", "0.01")
    assert "roc_auc" in trained and "recall_high_" in trained
    assert "challenger" in invoke("models", "list")
    assert "champion" in invoke("models", "promote", "1")
    assert "champion" in invoke("models", "list")

    orders = pd.read_parquet(tmp_path / "orders.parquet")
    order = order_payload(orders.iloc[-1])
    order["order_id"] = "cli-live-1"
    created = runner.invoke(app, ["keys", "create", "--name", "shop", "--scopes", "score,labels"])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert token.startswith("osk_") and "\n" not in token
    key_id = created.stderr.split()[1]  # "key <id> (shop): scopes …"
    with running_server(ServiceSettings(data_dir=tmp_path)) as server:
        url = server.url
        anonymous = httpx.post(f"{url}/v1/orders/score", json=order, timeout=30)
        assert anonymous.status_code == 401
        headers = {"Authorization": f"Bearer {token}"}
        decision = httpx.post(f"{url}/v1/orders/score", json=order, headers=headers, timeout=30)
        assert decision.status_code == 200, decision.text
        labels = tmp_path / "labels.csv"
        labels.write_text(
            "order_id,label,reason,known_at\n"
            "cli-live-1,fraud,chargeback,2026-12-01T00:00:00+00:00\n"
            "unknown-order,fraud,,\n"
        )
        command = ["labels", "import", str(labels), "--url", url, "--api-key", token]
        result = runner.invoke(app, command)
        assert result.exit_code == 1
        assert (
            "1 of 2 labels recorded" in result.output and "row 2 (unknown-order)" in result.output
        )
        listed = invoke("keys", "list")
        assert key_id in listed and listed.count(":") >= 4, "created and last used times"

        assert "revoked" in invoke("keys", "revoke", key_id)
        again = httpx.get(f"{url}/v1/orders/cli-live-1/decision", headers=headers, timeout=30)
        assert again.status_code == 401, "a revoked key must stop working at once"


def test_a_missing_order_log_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERSHIELD_DATA_DIR", str(tmp_path))
    result = runner.invoke(app, ["features", "apply"])
    assert result.exit_code != 0 and "ordershield simulate" in result.output


def test_train_with_data_needs_a_mapping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERSHIELD_DATA_DIR", str(tmp_path))
    result = runner.invoke(app, ["train", "--data", str(tmp_path / "x.csv")])
    assert result.exit_code != 0 and "--mapping" in result.output


def test_users_are_created_listed_and_disabled_from_the_shell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERSHIELD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    create = ["users", "create", "--username", "ann", "--role", "reviewer"]
    prompted = runner.invoke(app, create, input="a long password\na long password\n")
    assert prompted.exit_code == 0 and "created ann (reviewer)" in prompted.output
    again = runner.invoke(app, [*create, "--password-stdin"], input="another long one\n")
    assert again.exit_code == 1 and "taken" in again.output
    short = ["users", "create", "--username", "bo", "--role", "legal", "--password-stdin"]
    refused = runner.invoke(app, short, input="short\n")
    assert refused.exit_code == 1 and "12 characters" in refused.output
    wrong_role = ["users", "create", "--username", "cy", "--role", "owner", "--password-stdin"]
    assert "role must be one of" in runner.invoke(app, wrong_role, input="long enough pw\n").output
    assert "ann" in invoke("users", "list") and "bo" not in invoke("users", "list")
    assert "disabled ann" in invoke("users", "disable", "ann")
    assert runner.invoke(app, ["users", "disable", "nobody"]).exit_code == 1


def test_the_demo_creates_every_person_role_and_the_order_systems_scopes(tmp_path: Path) -> None:
    from service.auth.keys import key_principal
    from service.auth.people import PasswordIdentities
    from service.auth.roles import PERSON_ROLES, SCOPES, SERVICE_SCOPES
    from service.cli.db import database
    from service.cli.demo import create_access

    settings = ServiceSettings(data_dir=tmp_path)
    token, passwords = create_access(settings)
    assert set(passwords) == set(PERSON_ROLES)
    with database(settings) as engine:
        key = key_principal(engine, token)
        assert key is not None and set(key.scopes) == set(SERVICE_SCOPES)
        assert set(SCOPES) - set(SERVICE_SCOPES) == {"review"}, "a reviewer's scope only"
        people = PasswordIdentities(engine)
        for role, password in passwords.items():
            identity = people.authenticate(role, password)
            assert identity is not None and identity.role == role


def test_config_prints_every_setting_with_secrets_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setenv("ORDERSHIELD_REDIS_URL", "redis://:hun@ter22@cache.internal:6380/2")
    monkeypatch.setenv("ORDERSHIELD_DATABASE_URL", "postgresql://os:s3cret@db/os?password=q9#t=x1")
    monkeypatch.setenv("ORDERSHIELD_MLFLOW_TRACKING_URI", "https://ghp_tok3n@mlflow.example.com")
    shown = invoke("config")
    for secret in ("hun", "ter22", "s3cret", "q9", "x1", "ghp_tok3n", "os:"):
        assert secret not in shown
    assert "redis://***@cache.internal:6380/2" in shown and "postgresql://***@db/os" in shown
    assert "https://***@mlflow.example.com" in shown
    monkeypatch.setenv("ORDERSHIELD_MLFLOW_TRACKING_URI", "not a url, but a secret-42")
    assert "secret-42" not in invoke("config")
    for name in ServiceSettings.model_fields:
        assert f"ORDERSHIELD_{name.upper()}" in shown


def test_help_lists_every_command_group_from_one_place() -> None:
    shown = invoke("--help")
    groups = ("features", "models", "labels", "keys", "users", "webhooks", "review", "history")
    for group in groups:
        assert group in shown
    for command in ("simulate", "train", "demo", "config", "serve"):
        assert command in shown


def test_review_stats_prints_the_queue_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.cli.db import database
    from service.persistence import save_decision
    from tests.service.persistence.samples import sample_decision

    monkeypatch.setenv("ORDERSHIELD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    with database(ServiceSettings(data_dir=tmp_path)) as engine:
        for number in range(3):
            save_decision(engine, sample_decision(f"ord-{number}"), open_case=True)
    shown = invoke("review", "stats")
    assert "open cases" in shown and "│ 3 " in shown
