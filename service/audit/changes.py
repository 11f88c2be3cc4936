"""Changes made outside the database that the audit log must still hold.

The masking policy is a file and the champion model an alias in MLflow: the
service logs the policy in force when it starts, and `models promote` logs
each promotion with the thresholds it brings.
"""

from __future__ import annotations

from sqlalchemy import Engine

from service.auth.policy import MaskingPolicy
from service.persistence.audit_log import recent_entries, record_entry
from service.persistence.chain import content_hash

POLICY_SUBJECT = "masking-policy"
POLICY_IN_FORCE = "policy.in_force"


def record_policy(engine: Engine, policy: MaskingPolicy, actor: str) -> bool:
    """Log the masking policy when it differs from the last one logged; return whether it did."""
    digest = content_hash(policy.table)
    last = recent_entries(engine, POLICY_IN_FORCE, subject=POLICY_SUBJECT, limit=1)
    if last and last[0].body.get("hash") == digest:
        return False
    body = {
        "hash": digest,
        "source": policy.source,
        "previous": last[0].body.get("hash") if last else None,
        "roles": policy.table,
    }
    record_entry(engine, POLICY_IN_FORCE, POLICY_SUBJECT, actor, body)
    return True


def record_promotion(
    engine: Engine,
    model_name: str,
    version: str,
    previous: str | None,
    thresholds: dict[str, float],
    actor: str,
) -> None:
    """Log that `version` became the champion (a rollback is a promotion of an older one)."""
    kind = "model.rolled_back" if previous and int(version) < int(previous) else "model.promoted"
    body = {"version": version, "previous": previous, "thresholds": thresholds}
    record_entry(engine, kind, f"model:{model_name}", actor, body)
