"""The review API's bodies: a case as the queue shows it, and a reviewer's action."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from service.inputs import RequestModel

ShortNote = Annotated[str, Field(max_length=2000)]
CaseId = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[0-9a-f]+$")]


class CaseOut(BaseModel):
    """A review case: the order it holds, its priority, its claim and its outcome."""

    id: str
    order_id: str | None = Field(description="None where the caller's role may not see it")
    status: Literal["open", "approved", "rejected", "expired"]
    tier: str
    score: float
    amount: float
    currency: str
    expected_loss: float = Field(
        description="score times amount: the queue's order after cases near their SLA"
    )
    top_reason: str | None
    top_family: str | None
    opened_at: datetime
    sla_due_at: datetime
    level: Literal["reviewer", "senior_reviewer"]
    claimed_by: str | None
    claim_expires_at: datetime | None
    reviewer: str | None
    reason_code: str | None
    scenario: str | None
    closed_at: datetime | None


class HistoryOut(BaseModel):
    """One action on a case."""

    action: str
    actor: str
    actor_role: str
    reason_code: str | None
    note: str | None
    scenario: str | None
    at: datetime


class CaseDetailOut(CaseOut):
    """A case and its history."""

    history: list[HistoryOut]


class ActionIn(RequestModel):
    """A reviewer's reason for an action (and, for a rejection, the fraud scenario)."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")
    multiline = frozenset({"note"})

    reason_code: Annotated[str, Field(min_length=1, max_length=64)]
    note: ShortNote | None = None
    scenario: Annotated[str, Field(max_length=64)] | None = None


class BulkIn(ActionIn):
    """One outcome for several cases, each recorded as its own decision."""

    action: Literal["approve", "reject"]
    case_ids: Annotated[list[CaseId], Field(min_length=1, max_length=100)]


class BulkResultOut(BaseModel):
    case_id: str
    ok: bool
    message: str


class StatsOut(BaseModel):
    """The review desk's figures over the last day."""

    open_cases: int
    oldest_open_seconds: float | None
    past_sla: int
    expired: int
    decided: int
    decisions_per_reviewer_per_hour: dict[str, float]
    overturned_share: float | None = Field(
        description="approved cases a later chargeback proved fraud, of all approved"
    )
