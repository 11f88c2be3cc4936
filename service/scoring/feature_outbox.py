"""Drain the feature-update outbox: apply each owed update to the online store, once.

Every decision stores the update it owes in its own transaction
(`service.persistence.feature_updates`), and the scoring path applies it at
once. This drainer claims owed rows a little later (`SETTLE`, past any
order's own write), asks the store in one read which were applied already
(each write records its event id), applies the others through the online path
and marks all of them done. So an update is applied at least once (a crash
between the decision's commit and the store write leaves the row) and counted
once (the event id); claims keep drainers in other processes off the rows.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any
from uuid import uuid4

from sqlalchemy import Engine

from features.online import OnlineFeatures, event_id
from features.order_row import order_columns
from features.spec import Stream
from features.state_stores import OnlineStoreUnavailable
from service.persistence import (
    claim_feature_updates,
    decision_by_order,
    finish_feature_updates,
)
from service.scoring.schemas import canonical_of

log = logging.getLogger(__name__)
# An owed update is left to its order's own write for this long.
SETTLE = timedelta(seconds=2)
# A claim outlives any drain of one batch (each store call is bounded).
LEASE = timedelta(seconds=60)


class FeatureOutbox:
    """One process's drainer of owed feature updates."""

    def __init__(self, engine: Engine, features: OnlineFeatures) -> None:
        self._engine = engine
        self._features = features
        self.owner = f"drainer-{uuid4().hex[:12]}"

    def drain(self, batch: int = 500, settle: timedelta = SETTLE, batches: int = 20) -> int:
        """Apply owed updates, a claimed batch at a time, until none are due; return how many.

        At most `batches` batches per call, so a long backlog never holds the caller.
        """
        applied = 0
        if self._features.breaker.state == "open":
            return 0  # nothing could be applied: leave the rows, and the database, alone
        for _ in range(batches):
            claimed, count = self._drain_batch(batch, settle)
            applied += count
            if claimed < batch:
                break
        return applied

    def _drain_batch(self, limit: int, settle: timedelta) -> tuple[int, int]:
        """Apply one claimed batch; return how many rows it claimed and how many it applied."""
        claimed = claim_feature_updates(self._engine, self.owner, settle, LEASE, limit)
        if not claimed:
            return 0, 0
        done: list[int] = []
        error: str | None = None
        applied = 0
        try:
            ids = [_event_of(payload) for _, payload in claimed]
            present = self._features.applied(ids)
            for (update_id, payload), is_in in zip(claimed, present, strict=True):
                if is_in or self._apply(payload):
                    applied += not is_in
                done.append(update_id)
        except OnlineStoreUnavailable as unavailable:
            log.warning("online store unavailable, feature updates wait: %s", unavailable)
            error = str(unavailable)
        failed = [id for id, _ in claimed if id not in done]
        finish_feature_updates(self._engine, self.owner, done, failed, error)
        return (0 if failed else len(claimed)), applied

    def _apply(self, payload: dict[str, Any]) -> bool:
        """Apply one owed update; False if its order was erased meanwhile (nothing to apply)."""
        decision = decision_by_order(self._engine, str(payload["order_id"]))
        canonical = None if decision is None else canonical_of(decision.order, decision.decided_at)
        if canonical is None:
            return False
        self._features.record(
            order_columns(canonical),
            Stream(payload["stream"]),
            int(payload["time_ms"]),
            payload.get("key"),
            payload.get("withdraws_ms"),
        )
        return True


def _event_of(payload: dict[str, Any]) -> str:
    """Return the event id an owed update is recorded under in the store."""
    return event_id(
        str(payload["order_id"]),
        Stream(payload["stream"]),
        int(payload["time_ms"]),
        payload.get("key"),
        payload.get("withdraws_ms"),
    )
