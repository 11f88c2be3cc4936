"""Plain frozen records the repository hands out instead of ORM rows."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar

CaseStatus = Literal["open", "approved", "rejected", "expired"]
CaseLevel = Literal["reviewer", "senior_reviewer"]
StockState = Literal["frozen", "released", "cancelled", "expired"]
LabelValue = Literal["fraud", "legit"]
LabelSource = Literal["api", "file", "review"]
PaymentStatus = Literal["declined", "authorized"]
T = TypeVar("T")


def from_row(kind: type[T], row: object) -> T:
    """Return the record `kind` built from the row's attributes of the same names."""
    names = (field.name for field in dataclasses.fields(kind))  # type: ignore[arg-type]
    return kind(**{name: getattr(row, name) for name in names})


@dataclass(frozen=True)
class NewDecision:
    """A decision as the scoring path produces it, before it joins the chain."""

    order_id: str
    customer_id: str | None
    created_at: datetime
    decided_at: datetime
    order_payload: dict[str, Any]
    features: dict[str, float | None]
    score: float
    raw_score: float
    tier: str
    action: str
    freeze: bool
    freeze_reason: str | None
    reasons: list[Any]
    shap_values: dict[str, float]
    base_value: float
    model_name: str
    model_version: str
    thresholds: dict[str, Any]
    spec_hash: str
    rules_version: str | None
    rules: list[Any]
    degraded: bool
    latency_ms: float
    # SHA-256 of the validated request: a repeated order id with another body is refused.
    request_sha256: str | None = None


@dataclass(frozen=True)
class PersonalValue:
    """One personal value of an order, or the record of its erasure."""

    value: Any
    erased_at: datetime | None = None
    erased_by: str | None = None


@dataclass(frozen=True, kw_only=True)
class DecisionRecord(NewDecision):
    """A stored decision: `order_payload` without personal values, as the log commits to it.

    `personal` holds the commitment of each personal value, `personal_values`
    the values themselves (or their erasure); `order` puts them back together.
    """

    id: str
    personal: dict[str, str]
    personal_values: dict[str, PersonalValue] = dataclasses.field(default_factory=dict)

    @property
    def order(self) -> dict[str, Any]:
        """Return the order as it was sent, erased values as None."""
        whole = copy.deepcopy(self.order_payload)
        for path, item in self.personal_values.items():
            *parents, leaf = path.split(".")
            node: Any = whole
            for part in parents:
                node = node.setdefault(part, {}) if isinstance(node, dict) else None
            if isinstance(node, dict):
                node[leaf] = item.value
        return whole

    @property
    def erasures(self) -> dict[str, PersonalValue]:
        """Return the erased personal values by path."""
        return {p: v for p, v in self.personal_values.items() if v.erased_at is not None}


@dataclass(frozen=True)
class ReviewCase:
    """A manual review case of one decision, with what the queue orders and filters on."""

    id: str
    decision_id: str
    order_id: str
    status: CaseStatus
    opened_at: datetime
    closed_at: datetime | None
    reviewer: str | None
    note: str | None
    tier: str
    score: float
    amount: float
    currency: str
    expected_loss: float
    top_reason: str | None
    top_family: str | None
    sla_due_at: datetime
    level: CaseLevel
    claimed_by: str | None
    claim_expires_at: datetime | None
    reason_code: str | None
    scenario: str | None


@dataclass(frozen=True)
class CaseAction:
    """One entry of a case's history: who did what, when and why."""

    id: int
    case_id: str
    order_id: str
    action: str
    actor: str
    actor_role: str
    reason_code: str | None
    note: str | None
    scenario: str | None
    at: datetime


@dataclass(frozen=True)
class StockTransition:
    """One step of an order's stock hold."""

    id: int
    order_id: str
    from_state: StockState | None
    to_state: StockState
    outcome: str | None
    at: datetime
    actor: str
    reason: str | None


@dataclass(frozen=True)
class Label:
    """A fraud/legit label of an order and when it became known."""

    id: int
    order_id: str
    label: LabelValue
    reason: str | None
    known_at: datetime
    received_at: datetime
    source: LabelSource
    event_key: str | None = None
    request_sha256: str | None = None


@dataclass(frozen=True)
class PaymentOutcome:
    """The payment result of an order and when it became known."""

    id: int
    order_id: str
    status: PaymentStatus
    known_at: datetime
    received_at: datetime
    event_key: str | None = None
    request_sha256: str | None = None


@dataclass(frozen=True)
class ApiKey:
    """A machine client's key, without its secret."""

    id: str
    name: str
    scopes: list[str]
    role: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class User:
    """A person who signs in, with the hash of their password."""

    id: str
    username: str
    role: str
    password_hash: str
    created_at: datetime
    disabled_at: datetime | None


@dataclass(frozen=True)
class SignedInSession:
    """A live browser session and the person it belongs to."""

    digest: str
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime
    user: User


@dataclass(frozen=True)
class PersonalDataView:
    """One view of unmasked personal attributes, an entry of the audit log."""

    at: datetime
    actor: str
    role: str
    record_type: str
    record_id: str
    attributes: list[str]
    channel: str
