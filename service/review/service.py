"""The review desk: reviewers claim frozen orders, decide them, and the outcome becomes a label.

Both the JSON API (`/v1/review/…`) and the pages (`/review…`) call this one
service, so a refusal (a case another reviewer holds, one already decided) is
the same `409` / page message everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import Engine

from service.auth.principal import Principal
from service.persistence import decision_by_order
from service.persistence.cases import (
    Actor,
    QueueFilter,
    case_history,
    claim,
    claim_next,
    due_for_expiry,
    get_case,
    levels_for,
    queue,
    queue_counts,
    release_claim,
)
from service.persistence.errors import CaseClosed, PersistenceError
from service.persistence.outcomes import decide_case, escalate_case, expire_case
from service.persistence.records import CaseAction, ReviewCase
from service.persistence.review_stats import ReviewStats, review_stats
from service.review.codes import check_reason
from service.scoring.service import ScoringService
from service.settings import ServiceSettings

Action = Literal["approve", "reject", "escalate"]
REVIEWER_ROLES = ("reviewer", "senior_reviewer")


@dataclass(frozen=True)
class BulkResult:
    """What one case of a bulk action came to."""

    case_id: str
    ok: bool
    message: str


def actor_of(principal: Principal) -> Actor:
    """Return the case history's actor for an authenticated caller."""
    return Actor(principal.id, principal.name, principal.role)


class ReviewDesk:
    """Queue, claims, outcomes and expiry of review cases."""

    def __init__(self, engine: Engine, scoring: ScoringService, settings: ServiceSettings) -> None:
        self._engine = engine
        self._scoring = scoring
        self._claim_for = timedelta(seconds=settings.review_claim_seconds)
        self._expiry_outcome = settings.review_expiry_outcome

    def queue(
        self, principal: Principal, wanted: QueueFilter, now: datetime | None = None
    ) -> list[ReviewCase]:
        """Return the open cases that match, highest priority first.

        A reviewer sees the cases they may work (no escalated ones for a plain
        reviewer); the roles that only look see every open case.
        """
        if principal.role in REVIEWER_ROLES:
            wanted = replace(wanted, levels=levels_for(principal.role))
        return queue(self._engine, wanted, now)

    def counts(self) -> dict[str, dict[str, int]]:
        """Return open cases per tier and per top reason."""
        return queue_counts(self._engine)

    def case(self, case_id: str) -> ReviewCase:
        """Return one case."""
        return get_case(self._engine, case_id)

    def history(self, case_id: str) -> list[CaseAction]:
        """Return every action on a case, oldest first."""
        return case_history(self._engine, case_id)

    def next_case(self, principal: Principal) -> ReviewCase | None:
        """Claim the highest-priority free case for the caller."""
        return claim_next(self._engine, actor_of(principal), self._claim_for)

    def claim(self, principal: Principal, case_id: str) -> ReviewCase:
        """Claim one case (or renew the caller's claim)."""
        return claim(self._engine, case_id, actor_of(principal), self._claim_for)

    def release(self, principal: Principal, case_id: str) -> None:
        """Give the caller's claimed case back to the queue."""
        release_claim(self._engine, case_id, actor_of(principal))

    def act(
        self,
        principal: Principal,
        case_id: str,
        action: Action,
        reason_code: str,
        note: str | None = None,
        scenario: str | None = None,
    ) -> ReviewCase:
        """Approve, reject or escalate a case; the outcome's label feeds the features."""
        check_reason(action, reason_code, scenario)
        actor = actor_of(principal)
        if action == "escalate":
            return escalate_case(self._engine, case_id, actor, reason_code, note)
        closed, steps = decide_case(
            self._engine, case_id, actor, action, reason_code, note, scenario
        )
        # The label's feature updates (labelled, fraud counted or withdrawn) were owed with
        # the outcome; applying them now lets the next order on these entities see the label.
        decision = decision_by_order(self._engine, closed.order_id) if steps else None
        if decision is not None:
            self._scoring.record_steps(decision, steps)
        return closed

    def bulk(
        self,
        principal: Principal,
        case_ids: Sequence[str],
        action: Literal["approve", "reject"],
        reason_code: str,
        note: str | None = None,
        scenario: str | None = None,
    ) -> list[BulkResult]:
        """Apply one outcome to several cases, each its own decision; report each."""
        check_reason(action, reason_code, scenario)
        results = []
        for case_id in dict.fromkeys(case_ids):
            try:
                self.act(principal, case_id, action, reason_code, note, scenario)
            except PersistenceError as error:
                results.append(BulkResult(case_id, False, str(error)))
            else:
                results.append(BulkResult(case_id, True, f"{action}d"))
        return results

    def expire_due(self, now: datetime | None = None) -> int:
        """Close every case whose SLA ran out, with the configured stock outcome."""
        now = now or datetime.now(UTC)
        expired = 0
        for case_id in due_for_expiry(self._engine, now):
            try:
                expired += expire_case(self._engine, case_id, self._expiry_outcome, now)
            except CaseClosed:
                continue  # decided, or expired by another process, meanwhile
        return expired

    def stats(self, window: timedelta = timedelta(days=1)) -> ReviewStats:
        """Return the queue's figures over the last `window`."""
        return review_stats(self._engine, window)
