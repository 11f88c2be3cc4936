"""Changes of keys, people, webhook endpoints, the masking policy and the champion are logged."""

from __future__ import annotations

from sqlalchemy import Engine

from service.audit.changes import record_policy, record_promotion
from service.auth.keys import create_key, revoke_key
from service.auth.people import create_user, disable_user
from service.auth.policy import load_policy
from service.persistence.audit_log import entries_about, sequence_all
from service.persistence.audit_verify import verify_log
from service.settings import ServiceSettings
from service.webhooks.service import add_endpoint, remove, rotate_secret


def _kinds(engine: Engine, subject: str) -> list[str]:
    return [entry.kind for entry in entries_about(engine, subject)]


def test_key_and_user_changes_are_logged_with_who_did_them(engine: Engine) -> None:
    key, token = create_key(engine, "orders", ["score"], actor="cli:ops")
    assert revoke_key(engine, key.id, actor="cli:ops")
    create_user(engine, "ann", "reviewer", "a long enough password", actor="cli:ops")
    assert disable_user(engine, "ann", actor="cli:dpo")
    [created, revoked] = entries_about(engine, f"key:{key.id}")
    assert (created.kind, created.actor, created.body["scopes"]) == (
        "key.created",
        "cli:ops",
        ["score"],
    )
    assert token not in str(created.body)  # the secret never enters the log
    assert revoked.kind == "key.revoked"
    user = entries_about(engine, "user:ann")
    assert [(e.kind, e.actor) for e in user] == [
        ("user.created", "cli:ops"),
        ("user.updated", "cli:dpo"),
    ]
    assert "password" not in str(user[0].body) and user[1].body["changes"].keys() == {"disabled_at"}


def test_webhook_endpoint_changes_are_logged_without_their_secret(engine: Engine) -> None:
    endpoint, secret = add_endpoint(
        engine, "https://orders.example/hooks?token=t0p", actor="cli:ops"
    )
    _, rotated = rotate_secret(engine, ServiceSettings(), endpoint.id, actor="cli:ops")
    remove(engine, endpoint.id, actor="cli:ops")
    entries = entries_about(engine, f"webhook:{endpoint.id}")
    assert [e.kind for e in entries] == [
        "webhook.added",
        "webhook.secret_rotated",
        "webhook.removed",
    ]
    assert entries[0].body["url"] == "https://orders.example/hooks?…"
    assert secret not in str(entries) and rotated not in str(entries) and "t0p" not in str(entries)


def test_the_policy_in_force_is_logged_once_per_change(engine: Engine) -> None:
    policy = load_policy()
    assert record_policy(engine, policy, "service:startup")
    assert not record_policy(engine, policy, "service:startup")  # the same policy again
    changed = type(policy)(policy.source, {**policy.table, "admin": {}})
    assert record_policy(engine, changed, "service:startup")
    entries = entries_about(engine, "masking-policy")
    assert [e.kind for e in entries] == ["policy.in_force", "policy.in_force"]
    assert entries[1].body["previous"] == entries[0].body["hash"] != entries[1].body["hash"]


def test_promotions_and_rollbacks_are_logged_with_their_thresholds(engine: Engine) -> None:
    cuts = {"medium": 0.2, "high": 0.5, "critical": 0.9}
    record_promotion(engine, "ordershield", "3", "2", cuts, "cli:ops")
    record_promotion(engine, "ordershield", "2", "3", cuts, "cli:ops")
    entries = entries_about(engine, "model:ordershield")
    assert [e.kind for e in entries] == ["model.promoted", "model.rolled_back"]
    assert entries[0].body == {"version": "3", "previous": "2", "thresholds": cuts}
    sequence_all(engine)
    assert verify_log(engine).ok
    assert _kinds(engine, "model:ordershield") == ["model.promoted", "model.rolled_back"]
