"""Queue figures: how much is waiting, how fast reviewers decide, how often they were wrong."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select

from service.persistence.db import translate_errors
from service.persistence.tables import CaseActionRow, LabelRow, ReviewCaseRow


@dataclass(frozen=True)
class ReviewStats:
    """The review desk's figures over a recent window."""

    open_cases: int
    oldest_open: timedelta | None
    past_sla: int
    expired: int
    decided: int
    per_reviewer_per_hour: dict[str, float]
    approved: int
    overturned: int

    @property
    def overturned_share(self) -> float | None:
        """Return the share of approved cases a later chargeback proved fraud."""
        return self.overturned / self.approved if self.approved else None


@translate_errors
def review_stats(
    engine: Engine, window: timedelta = timedelta(days=1), now: datetime | None = None
) -> ReviewStats:
    """Return the queue's figures; decisions and outcomes count over the last `window`."""
    now = now or datetime.now(UTC)
    since = now - window
    with engine.connect() as connection:
        open_count, oldest = connection.execute(
            select(func.count(), func.min(ReviewCaseRow.opened_at)).where(
                ReviewCaseRow.status == "open"
            )
        ).one()
        past_sla = connection.execute(
            select(func.count()).where(
                ReviewCaseRow.status == "open", ReviewCaseRow.sla_due_at <= now
            )
        ).scalar_one()
        closed = dict(
            connection.execute(
                select(ReviewCaseRow.status, func.count())
                .where(ReviewCaseRow.closed_at >= since)
                .group_by(ReviewCaseRow.status)
            ).all()
        )
        per_reviewer = connection.execute(
            select(CaseActionRow.actor, func.count())
            .where(CaseActionRow.at >= since, CaseActionRow.action.in_(("approve", "reject")))
            .group_by(CaseActionRow.actor)
        ).all()
        chargeback = (
            select(LabelRow.order_id)
            .where(
                LabelRow.order_id == ReviewCaseRow.order_id,
                LabelRow.label == "fraud",
                LabelRow.source != "review",
                LabelRow.known_at > ReviewCaseRow.closed_at,
            )
            .exists()
        )
        overturned = connection.execute(
            select(func.count()).where(
                ReviewCaseRow.status == "approved", ReviewCaseRow.closed_at >= since, chargeback
            )
        ).scalar_one()
    hours = window / timedelta(hours=1)
    return ReviewStats(
        open_cases=int(open_count),
        oldest_open=now - oldest if oldest else None,
        past_sla=int(past_sla),
        expired=int(closed.get("expired", 0)),
        decided=int(closed.get("approved", 0) + closed.get("rejected", 0)),
        per_reviewer_per_hour={actor: n / hours for actor, n in per_reviewer},
        approved=int(closed.get("approved", 0)),
        overturned=int(overturned),
    )
