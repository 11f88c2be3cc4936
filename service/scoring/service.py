"""Scoring one order: features, model, explanation, durable decision, real-time update."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Engine

from explain.contributions import explain
from explain.reasons import top_reasons
from features.columns import event_time_ms
from features.ipclusters import lookup
from features.online import OnlineFeatures, ServedFeatures, order_columns
from features.spec import Stream
from features.state_stores import OnlineStoreUnavailable
from models.scorer import ACTIONS, FREEZES_STOCK, Action, Scorer, Tier
from service.auth.attributes import PERSONAL_PATHS
from service.errors import Unavailable
from service.models import ModelHolder
from service.persistence import (
    DecisionRecord,
    NewDecision,
    decision_by_order,
    save_decision,
)
from service.persistence.db import within
from service.persistence.errors import DatabaseUnavailable
from service.persistence.feature_updates import queue_feature_update
from service.persistence.records import StockState, StockTransition
from service.persistence.repository import same_request
from service.persistence.stock import stock_of
from service.scoring.fail_policy import degraded_parts, fall_back
from service.scoring.feature_outbox import SETTLE, FeatureOutbox
from service.scoring.schemas import (
    Decision,
    ModelRef,
    Order,
    ReasonOut,
    SpecRef,
    Stock,
    StockStep,
    canonical_of,
)
from service.scoring.stopwatch import Stopwatch
from service.settings import ServiceSettings

log = logging.getLogger(__name__)
# An address from the documentation range (RFC 5737): looking it up loads the IP database.
WARM_UP_IP = "192.0.2.1"
FREEZE_REASONS = {
    Tier.HIGH: "high risk: stock held until a reviewer decides",
    Tier.CRITICAL: "critical risk: order declined, stock not allocated",
}


class ScoringService:
    """Decides orders: one decision per order id, written before the answer leaves."""

    def __init__(
        self,
        model: ModelHolder,
        features: OnlineFeatures,
        engine: Engine,
        settings: ServiceSettings,
    ) -> None:
        self._model = model
        self._features = features
        self._engine = engine
        self._sla = timedelta(seconds=settings.review_sla_seconds)
        self._reviewed = {Tier.HIGH, Tier.CRITICAL} if settings.review_critical else {Tier.HIGH}
        self._fail_policy = settings.fail_policy
        self._deadline_s = settings.decision_deadline_ms / 1000
        self._write_timeout_s = settings.decision_write_timeout_ms / 1000
        # One drain at a time in this process; claims keep other processes off its rows.
        self._replay_lock = threading.Lock()
        self._outbox = FeatureOutbox(engine, features)
        self._in_flight: dict[str, threading.Lock] = {}
        self._in_flight_guard = threading.Lock()

    def warm_up(self) -> None:
        """Load what the first order would otherwise pay for, before the service says ready.

        The IP database loads on its first lookup (about 0.3 s), the store's first
        connection opens on its first call, and the booster's first prediction
        allocates; without this, the first orders after a start wait for all of it.
        """
        lookup(WARM_UP_IP)
        self._features.ping()
        scorer = self._model.current
        if scorer is not None:
            explain(scorer.booster, np.full((1, len(scorer.card.features)), np.nan))

    def decide(self, order: Order, watch: Stopwatch | None = None) -> Decision:
        """Return the decision for an order, computing and storing it the first time only.

        `watch` gets the time of each stage: prepare, read, explain, score, write, update.
        """
        watch = watch or Stopwatch()
        started = time.perf_counter()
        with self._order_lock(order.order_id):
            scorer = self._model.current
            if scorer is None:
                stored = decision_by_order(self._engine, order.order_id)
                if stored is not None:
                    same_request(stored, order.sha256())
                    return to_response(stored)
                raise Unavailable(
                    "no champion model: train one and run `ordershield models promote`"
                )
            # No lookup first: a repeated order id is rare, and the decisions table's
            # unique order id makes `save_decision` hand back the stored decision.
            received = datetime.now(UTC)
            canonical = order.canonical(received)
            # The entities stay held from the read to the update, so the next order on
            # the same device or card waits for this one and then sees it.
            created_ms = int(canonical["created_at"])
            columns = order_columns(canonical)
            watch.lap("prepare")
            with self._features.holding(columns, Stream.ORDERS, created_ms) as held:
                served = held.served(scorer.card.features)
                watch.lap("read")
                new = self._new_decision(order, canonical, received, scorer, served, started, watch)
                watch.lap("score")
                reviewed = new.action == Action.REVIEW.value
                # The durable write cannot be skipped, as a feature read can: it gets what
                # is left of the deadline, and never less than its own timeout (an fsync
                # spike or a starved process would otherwise shed orders it could still
                # keep). Past that: a 503, nothing kept.
                left = self._deadline_s - (time.perf_counter() - started)
                with within(max(left, self._write_timeout_s)):
                    record, created = save_decision(
                        self._engine,
                        new,
                        open_case=reviewed,
                        sla=self._sla,
                        links={entity.name: key for entity, key in held.keys.items()},
                        personal=PERSONAL_PATHS,
                    )
                watch.lap("write")
                if created:
                    self._update_features(record, Stream.ORDERS, created_ms, held.record)
                    watch.lap("update")
        if created:
            return to_response(record, ("frozen", []) if reviewed else None)
        # A repeated order id: its stock may have moved on since the first answer.
        return to_response(record, stock_of(self._engine, record.order_id))

    def _new_decision(
        self,
        order: Order,
        canonical: dict[str, Any],
        received: datetime,
        scorer: Scorer,
        served: ServedFeatures,
        started: float,
        watch: Stopwatch,
    ) -> NewDecision:
        explanation = explain(scorer.booster, served.matrix)
        watch.lap("explain")
        raw_score = float(explanation.values[0].sum() + explanation.base[0])
        score = float(scorer.probability(np.array([raw_score]))[0])
        tier = scorer.card.thresholds.tier(score)
        rules: list[dict[str, Any]] = []
        approve = False
        if served.degraded_part is not None:
            fallback = fall_back(self._fail_policy, scorer, score, served.degraded_part)
            tier, rules, approve = fallback.tier, [fallback.rule], fallback.approve
        action = Action.REVIEW if tier in self._reviewed else ACTIONS[tier]
        if approve:
            action = Action.APPROVE
        freeze = tier in FREEZES_STOCK and action is not Action.APPROVE
        reasons = top_reasons(scorer.card.features, served.matrix[0], explanation.values[0])
        return NewDecision(
            order_id=order.order_id,
            created_at=datetime.fromtimestamp(canonical["created_at"] / 1000, UTC),
            decided_at=received,
            customer_id=order.customer.id,
            order_payload=order.model_dump(mode="json"),
            features=served.as_dict(),
            score=score,
            raw_score=raw_score,
            tier=tier.value,
            action=action.value,
            freeze=freeze,
            freeze_reason=FREEZE_REASONS[Tier.HIGH if tier in self._reviewed else tier]
            if freeze
            else None,
            reasons=[vars(r) for r in reasons],
            shap_values={
                n: float(v)
                for n, v in zip(scorer.card.features, explanation.values[0], strict=True)
            },
            base_value=float(explanation.base[0]),
            model_name=scorer.name,
            model_version=scorer.version,
            thresholds=vars(scorer.card.thresholds),
            spec_hash=scorer.card.spec_hash,
            rules_version=None,
            rules=rules,
            degraded=served.degraded,
            latency_ms=(time.perf_counter() - started) * 1000,
            request_sha256=order.sha256(),
        )

    def record_event(
        self, decision: DecisionRecord, stream: Stream, known_ms: int, key: str | None = None
    ) -> None:
        """Add a later event of a decided order (decline, fraud label) to its entities' features.

        It counts from `event_time_ms` (a label from when it was known, a decline a
        fixed delay after its order); `key` is the stored event's id where one order
        can have several at one moment.
        """
        canonical = canonical_of(decision.order, decision.decided_at)
        if canonical is None:
            return  # an erased order no longer holds its entities
        time_ms = event_time_ms(stream, int(canonical["created_at"]), known_ms)
        record = functools.partial(
            self._features.record, order_columns(canonical), stream, time_ms, key
        )
        self._update_features(decision, stream, time_ms, record, key)

    def _update_features(
        self,
        decision: DecisionRecord,
        stream: Stream,
        time_ms: int,
        write: Callable[[], None],
        key: str | None = None,
    ) -> None:
        """Apply one event with `write`; if the store is out, the outbox has it applied later.

        A decision's update is owed in its own transaction already. A later event's
        is queued now, within the write timeout; the answer does not fail for it.
        """
        try:
            write()
        except OnlineStoreUnavailable as error:
            log.warning("online store unavailable, feature update owed: %s", error)
            if stream is Stream.ORDERS:
                return
            try:
                with within(self._write_timeout_s):
                    queue_feature_update(
                        self._engine, decision.order_id, stream.value, time_ms, key
                    )
            except DatabaseUnavailable:
                # Both stores failed at once: this event is not counted online until the
                # next rebuild, which reads it from the stored decisions and events.
                log.error(
                    "feature update of %s lost to the online store: %s", decision.order_id, error
                )

    def replay_outbox(self, settle: timedelta = SETTLE) -> int:
        """Apply owed feature updates not in the store yet; return how many were applied.

        `settle` leaves the newest to their orders' own writes (0: apply them now too).
        """
        with self._replay_lock:
            return self._outbox.drain(settle=settle)

    def _order_lock(self, order_id: str) -> threading.Lock:
        """Return a lock per order id so that concurrent retries compute one decision."""
        with self._in_flight_guard:
            lock = self._in_flight.setdefault(order_id, threading.Lock())
            if len(self._in_flight) > 10_000:
                for key in [
                    k for k, v in self._in_flight.items() if not v.locked() and k != order_id
                ]:
                    del self._in_flight[key]
            return lock


def to_response(
    record: DecisionRecord,
    stock: tuple[StockState, list[StockTransition]] | None = None,
) -> Decision:
    """Return the API answer for a stored decision (with its stock hold, when given)."""
    state, steps = stock if stock else (None, [])
    parts, policy = degraded_parts(record.rules)
    return Decision(
        order_id=record.order_id,
        decision_id=record.id,
        score=record.score,
        tier=record.tier,
        action=record.action,
        stock=Stock(
            freeze=record.freeze,
            reason=record.freeze_reason,
            state=state,
            history=[
                StockStep(
                    state=step.to_state,
                    previous=step.from_state,
                    outcome=step.outcome,
                    at=step.at,
                    by=step.actor,
                    reason=step.reason,
                )
                for step in steps
            ],
        ),
        reasons=[ReasonOut(**r) for r in record.reasons],
        rules=record.rules,
        model=ModelRef(name=record.model_name, version=record.model_version),
        feature_spec=SpecRef(hash=record.spec_hash),
        degraded=record.degraded,
        degraded_parts=parts,
        fail_policy=policy,
        latency_ms=record.latency_ms,
        decided_at=record.decided_at,
    )
