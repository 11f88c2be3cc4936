"""Tables of the decisions database as SQLAlchemy 2 declarative models.

The audit log's tables live in `audit_rows`; importing this module registers
them on `Base.metadata` too, so migrations and tests see every table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.persistence import audit_rows  # noqa: F401  (registers the audit tables)
from service.persistence.base import Base


class DecisionRow(Base):
    """One scored order, as the audit log commits to it.

    `order_payload` is the order as it was sent, without its personal values:
    those live in `personal_values`, and `personal` holds, per attribute path,
    the salted hash that commits to each of them.
    """

    __tablename__ = "decisions"
    __table_args__ = (Index("ix_decisions_decided_at", "decided_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    order_id: Mapped[str] = mapped_column(unique=True)
    customer_id: Mapped[str | None] = mapped_column(index=True)
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime]
    order_payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    personal: Mapped[dict[str, str]] = mapped_column(JSON)
    features: Mapped[dict[str, float | None]] = mapped_column(JSON)
    score: Mapped[float]
    raw_score: Mapped[float]
    tier: Mapped[str]
    action: Mapped[str]
    freeze: Mapped[bool]
    freeze_reason: Mapped[str | None]
    reasons: Mapped[list[Any]] = mapped_column(JSON)
    shap_values: Mapped[dict[str, float]] = mapped_column(JSON)
    base_value: Mapped[float]
    model_name: Mapped[str]
    model_version: Mapped[str]
    thresholds: Mapped[dict[str, Any]] = mapped_column(JSON)
    spec_hash: Mapped[str]
    rules_version: Mapped[str | None]
    rules: Mapped[list[Any]] = mapped_column(JSON)
    degraded: Mapped[bool]
    latency_ms: Mapped[float]
    # Null for decisions stored before revision 0006, and then left out of the committed content.
    request_sha256: Mapped[str | None] = mapped_column(String(64))


class ReviewCaseRow(Base):
    """A high-risk decision waiting for, or closed by, a reviewer.

    The order's score, amount and top reason are copied in when the case opens,
    so the queue orders and filters on the case table alone.
    """

    __tablename__ = "review_cases"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'approved', 'rejected', 'expired')", name="status"),
        CheckConstraint("level IN ('reviewer', 'senior_reviewer')", name="level"),
        Index("ix_review_cases_status_opened_at", "status", "opened_at"),
        Index("ix_review_cases_status_expected_loss", "status", "expected_loss"),
        Index("ix_review_cases_status_sla_due_at", "status", "sla_due_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    decision_id: Mapped[str] = mapped_column(String(32), ForeignKey("decisions.id"), unique=True)
    order_id: Mapped[str] = mapped_column(index=True)
    status: Mapped[str]
    opened_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    reviewer: Mapped[str | None]
    note: Mapped[str | None]
    tier: Mapped[str]
    score: Mapped[float]
    amount: Mapped[float]
    currency: Mapped[str] = mapped_column(String(3))
    expected_loss: Mapped[float]
    top_reason: Mapped[str | None]
    top_family: Mapped[str | None]
    sla_due_at: Mapped[datetime]
    level: Mapped[str]
    claimed_by: Mapped[str | None] = mapped_column(index=True)
    claim_expires_at: Mapped[datetime | None]
    reason_code: Mapped[str | None]
    scenario: Mapped[str | None]


class CaseActionRow(Base):
    """One thing a person (or the system) did to a review case: the case history."""

    __tablename__ = "case_actions"
    __table_args__ = (Index("ix_case_actions_case_id_id", "case_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(32), ForeignKey("review_cases.id"))
    order_id: Mapped[str]
    action: Mapped[str]
    actor: Mapped[str]
    actor_role: Mapped[str]
    reason_code: Mapped[str | None]
    note: Mapped[str | None]
    scenario: Mapped[str | None]
    at: Mapped[datetime] = mapped_column(index=True)


class StockHoldRow(Base):
    """The stock of a frozen order: its current state in the freeze lifecycle."""

    __tablename__ = "stock_holds"
    __table_args__ = (
        CheckConstraint("state IN ('frozen', 'released', 'cancelled', 'expired')", name="state"),
    )

    order_id: Mapped[str] = mapped_column(primary_key=True)
    decision_id: Mapped[str] = mapped_column(String(32), ForeignKey("decisions.id"), unique=True)
    state: Mapped[str]
    outcome: Mapped[str | None]
    updated_at: Mapped[datetime]


class StockTransitionRow(Base):
    """One step of a stock hold's lifecycle, written once."""

    __tablename__ = "stock_transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(index=True)
    from_state: Mapped[str | None]
    to_state: Mapped[str]
    outcome: Mapped[str | None]
    at: Mapped[datetime]
    actor: Mapped[str]
    reason: Mapped[str | None]


class DecisionLinkRow(Base):
    """An entity a decided order used (device, IP cluster, payment account, address)."""

    __tablename__ = "decision_links"
    __table_args__ = (Index("ix_decision_links_kind_key_created_at", "kind", "key", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(index=True)
    kind: Mapped[str]
    key: Mapped[str]
    created_at: Mapped[datetime]


class OutboxEventRow(Base):
    """A state change others must hear of, written in the change's own transaction."""

    __tablename__ = "outbox_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str]
    order_id: Mapped[str] = mapped_column(index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]


class LabelRow(Base):
    """What became known about an order: fraud or legit, and when.

    `event_key` is the event's identity, once per order: the event id its
    sender gave, or `#label#known_at` derived from it; null when it had neither.
    """

    __tablename__ = "labels"
    __table_args__ = (
        CheckConstraint("label IN ('fraud', 'legit')", name="label"),
        CheckConstraint("source IN ('api', 'file', 'review')", name="source"),
        Index("uq_labels_order_id_event_key", "order_id", "event_key", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(index=True)
    label: Mapped[str]
    reason: Mapped[str | None]
    known_at: Mapped[datetime]
    received_at: Mapped[datetime]
    source: Mapped[str]
    event_key: Mapped[str | None]
    request_sha256: Mapped[str | None] = mapped_column(String(64))


class PaymentOutcomeRow(Base):
    """The payment result of an order, a label-like signal known early.

    `event_key` as for labels: the provider's event id, or `#status#known_at`.
    """

    __tablename__ = "payment_outcomes"
    __table_args__ = (
        CheckConstraint("status IN ('declined', 'authorized')", name="status"),
        Index("uq_payment_outcomes_order_id_event_key", "order_id", "event_key", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(index=True)
    status: Mapped[str]
    known_at: Mapped[datetime]
    received_at: Mapped[datetime]
    event_key: Mapped[str | None]
    request_sha256: Mapped[str | None] = mapped_column(String(64))


class FeatureUpdateRow(Base):
    """An online-store update owed by a decision or an event (the outbox, `feature_updates`)."""

    __tablename__ = "feature_updates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None]
    done_at: Mapped[datetime | None] = mapped_column(index=True)
    claimed_by: Mapped[str | None]
    claimed_until: Mapped[datetime | None]


class ApiKeyRow(Base):
    """A machine client's key: only the SHA-256 of its token is kept."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str]
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    role: Mapped[str]
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class UserRow(Base):
    """A person who signs in to the web UI."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    username: Mapped[str] = mapped_column(unique=True)
    role: Mapped[str]
    password_hash: Mapped[str]
    created_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None]


class SessionRow(Base):
    """A signed-in browser: only the SHA-256 of its cookie is kept."""

    __tablename__ = "sessions"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), ForeignKey("users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class LoginFailureRow(Base):
    """One failed sign-in, counted for the lockout."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_username_at", "username", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str]
    client: Mapped[str | None]
    at: Mapped[datetime]


class WebhookEndpointRow(Base):
    """A URL of the order system that receives the outbox as signed webhooks.

    The secret is kept in clear: signing needs it (an HMAC key cannot be hashed).
    `fanned_out_through` is the endpoint's outbox cursor: every event up to it
    has its delivery row, so an endpoint added later gets no older events.
    """

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    url: Mapped[str]
    description: Mapped[str | None]
    secret: Mapped[str]
    previous_secret: Mapped[str | None]
    previous_secret_expires_at: Mapped[datetime | None]
    fanned_out_through: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    removed_at: Mapped[datetime | None]


class WebhookDeliveryRow(Base):
    """One outbox event owed to one endpoint: its state, attempts and lease."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status"),
        UniqueConstraint("event_id", "endpoint_id", name="uq_webhook_deliveries_event_endpoint"),
        # The drainer's two questions: what is due, and is an earlier event of the order owed.
        Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint_order", "endpoint_id", "order_id", "event_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(Integer, ForeignKey("outbox_events.id"))
    endpoint_id: Mapped[int] = mapped_column(Integer, ForeignKey("webhook_endpoints.id"))
    order_id: Mapped[str]
    status: Mapped[str]
    attempts: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    give_up_at: Mapped[datetime]
    last_attempt_at: Mapped[datetime | None]
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None]
    delivered_at: Mapped[datetime | None]
    leased_by: Mapped[str | None]
    lease_expires_at: Mapped[datetime | None]
