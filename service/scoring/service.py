"""Scoring one order: features, model, explanation, durable decision, real-time update."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from sqlalchemy import Engine

from explain.contributions import explain
from features.columns import moment_ms
from features.ipclusters import lookup
from features.online import OnlineFeatures, ServedFeatures
from features.order_row import order_columns
from features.spec import Stream
from features.state_stores import OnlineStoreUnavailable
from models.scorer import Action, Scorer
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
from service.persistence.decision_rows import compile_inserts, prepare, rehearse
from service.persistence.errors import DatabaseUnavailable
from service.persistence.label_walk import LabelStep
from service.persistence.repository import same_request
from service.persistence.stock import stock_of
from service.scoring.answer import Stock, answer_json, to_response
from service.scoring.feature_outbox import SETTLE, FeatureOutbox
from service.scoring.order_forms import OrderForms
from service.scoring.schemas import Order, canonical_of
from service.scoring.stopwatch import Stopwatch
from service.scoring.verdict import judge, reviewed_tiers
from service.scoring.warm import WARM_UP_IP, warm_order, warm_plans
from service.settings import ServiceSettings

log = logging.getLogger(__name__)


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
        self._reviewed = reviewed_tiers(settings.review_critical)
        self._fail_policy = settings.fail_policy
        self._deadline_s = settings.decision_deadline_ms / 1000
        self._write_timeout_s = settings.decision_write_timeout_ms / 1000
        # One drain at a time in this process; claims keep other processes off its rows.
        self._replay_lock = threading.Lock()
        self._outbox = FeatureOutbox(engine, features)
        self._in_flight: dict[str, threading.Lock] = {}
        self._in_flight_guard = threading.Lock()

    def warm_up(self) -> None:
        """Run a made-up order through the whole path before the service says ready.

        Nothing is stored: its decision's statements run in a transaction that
        is rolled back. Without this, the first orders after a start pay for the
        IP database, the store's connection, the validators' tables, the SHAP
        tables and the SQL compilation (see `warm`).
        """
        lookup(WARM_UP_IP)
        self._features.ping()
        warm_plans()
        scorer = self._model.current
        if scorer is None:
            return  # the model holder warms each champion it loads (`warm_scorer`)
        received = datetime.now(UTC)
        order = warm_order(f"warm-up-{uuid4().hex}", received)
        forms = order.forms(received)
        created_ms = int(forms.canonical["created_at"])
        columns = order_columns(forms.canonical)
        with self._features.holding(columns, Stream.ORDERS, created_ms) as held:
            served = held.served(scorer.card.features)
            links = {entity.name: key for entity, key in held.keys.items()}
        watch, started = Stopwatch(), time.perf_counter()
        new = self._new_decision(order, forms, received, scorer, served, started, watch)
        prepared = prepare(new, True, self._sla, links, PERSONAL_PATHS)
        compile_inserts(self._engine)
        try:
            with within(self._write_timeout_s):
                rehearse(self._engine, prepared)
                stock_of(self._engine, new.order_id)
                decision_by_order(self._engine, new.order_id)
        except DatabaseUnavailable as error:
            log.warning("warm-up without the database's statements: %s", error)
        answer_json(prepared.record, ("frozen", []))
        to_response(prepared.record)

    def answer(self, order: Order, watch: Stopwatch | None = None) -> bytes:
        """Return the decision for an order as JSON, computing and storing it the first time only.

        A new decision's answer comes straight from its record. `watch` gets the time of
        each stage: prepare, read, explain, score, write, update.
        """
        record, created, stock = self._decided(order, watch or Stopwatch())
        if created:
            return answer_json(record, stock)
        return to_response(record, stock).model_dump_json().encode()

    def _decided(self, order: Order, watch: Stopwatch) -> tuple[DecisionRecord, bool, Stock | None]:
        """Return the order's decision, whether it is new, and its stock hold."""
        started = time.perf_counter()
        with self._order_lock(order.order_id):
            scorer = self._model.current
            if scorer is None:
                stored = decision_by_order(self._engine, order.order_id)
                if stored is not None:
                    same_request(stored, order.sha256())
                    return stored, False, None
                raise Unavailable(
                    "no champion model: train one and run `ordershield models promote`"
                )
            # No lookup first: a repeated order id is rare, and the decisions table's
            # unique order id makes `save_decision` hand back the stored decision.
            received = datetime.now(UTC)
            # One dump of the order gives the stored payload, the request hash and the
            # canonical record the features read.
            forms = order.forms(received)
            # The entities stay held from the read to the update, so the next order on
            # the same device or card waits for this one and then sees it.
            created_ms = int(forms.canonical["created_at"])
            columns = order_columns(forms.canonical)
            watch.lap("prepare")
            with self._features.holding(columns, Stream.ORDERS, created_ms) as held:
                served = held.served(scorer.card.features)
                watch.lap("read")
                new = self._new_decision(order, forms, received, scorer, served, started, watch)
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
            return record, True, ("frozen", []) if reviewed else None
        # A repeated order id: its stock may have moved on since the first answer.
        return record, False, stock_of(self._engine, record.order_id)

    def _new_decision(
        self,
        order: Order,
        forms: OrderForms,
        received: datetime,
        scorer: Scorer,
        served: ServedFeatures,
        started: float,
        watch: Stopwatch,
    ) -> NewDecision:
        explanation = explain(scorer.booster, served.matrix)
        watch.lap("explain")
        contributions = explanation.values[0]
        verdict = judge(
            scorer,
            served.matrix[0],
            contributions,
            float(explanation.base[0]),
            self._reviewed,
            self._fail_policy,
            served.degraded_part,
        )
        return NewDecision(
            order_id=order.order_id,
            created_at=datetime.fromtimestamp(forms.canonical["created_at"] / 1000, UTC),
            decided_at=received,
            customer_id=order.customer.id,
            order_payload=forms.payload,
            features=served.as_dict(),
            score=verdict.score,
            raw_score=verdict.raw_score,
            tier=verdict.tier.value,
            action=verdict.action.value,
            freeze=verdict.freeze,
            freeze_reason=verdict.freeze_reason,
            reasons=[vars(r) for r in verdict.reasons],
            # `tolist` hands back Python floats in one call, not one `float` per value.
            shap_values=dict(zip(scorer.card.features, contributions.tolist(), strict=True)),
            base_value=float(explanation.base[0]),
            model_name=scorer.name,
            model_version=scorer.version,
            thresholds=vars(scorer.card.thresholds),
            spec_hash=scorer.card.spec_hash,
            rules_version=None,
            rules=verdict.rules,
            degraded=served.degraded,
            latency_ms=(time.perf_counter() - started) * 1000,
            request_sha256=forms.sha256,
        )

    def record_event(
        self, decision: DecisionRecord, stream: Stream, time_ms: int, key: str | None = None
    ) -> None:
        """Apply a later event of a decided order (a decline) now.

        Its update was owed in the event's own transaction already, under the same
        identity: applied here, the drainer finds it done; not (the store is out),
        the drainer applies it later. `time_ms` is when it counts (`event_time_ms`),
        `key` the stored event's id where one order can have several at one moment.
        """
        self._record_all(decision, [(stream, time_ms, key, None)])

    def record_steps(self, decision: DecisionRecord, steps: Sequence[LabelStep]) -> None:
        """Apply what a label did to a decided order's counts (`label_walk`) now, as above."""
        self._record_all(
            decision,
            [
                (
                    step.stream,
                    moment_ms(step.at),
                    step.key,
                    None if step.withdraws is None else moment_ms(step.withdraws),
                )
                for step in steps
            ],
        )

    def _record_all(
        self,
        decision: DecisionRecord,
        events: Sequence[tuple[Stream, int, str | None, int | None]],
    ) -> None:
        """Apply events of one decided order, its stored order read once for all of them."""
        if not events:
            return
        canonical = canonical_of(decision.order, decision.decided_at)
        if canonical is None:
            return  # an erased order no longer holds its entities
        columns = order_columns(canonical)
        for stream, time_ms, key, withdraws_ms in events:
            record = functools.partial(
                self._features.record, columns, stream, time_ms, key, withdraws_ms
            )
            self._update_features(decision, stream, time_ms, record)

    def _update_features(
        self, decision: DecisionRecord, stream: Stream, time_ms: int, write: Callable[[], None]
    ) -> None:
        """Apply one owed event with `write`; if the store is out, the outbox applies it later."""
        try:
            write()
        except OnlineStoreUnavailable as error:
            log.warning(
                "online store unavailable, %s update of %s at %d owed: %s",
                stream.value,
                decision.order_id,
                time_ms,
                error,
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
