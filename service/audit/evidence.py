"""A decision's evidence: what it was decided on and what followed, masked for the viewer.

`build_evidence` gathers one order's decision as stored (the features, SHAP
values, thresholds, rules and model it was decided with), the registry's facts
of that model version, and everything that happened to the order afterwards.
Order attributes pass the masking policy through `show_order`, which also logs
an unmasked view of personal data; features computed from an attribute the
role may not see are withheld the way the masking layer withholds them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Engine

from explain.reasons import describe
from features.catalog import current
from models.registry import version_details
from service.audit.insights import definition, summary
from service.auth.attributes import ATTRIBUTES, ORDER_ATTRIBUTES
from service.auth.control import AccessControl, access_control
from service.auth.masking import WITHHELD_TEXT, MaskedRecord, derived_visibility
from service.auth.principal import Principal
from service.errors import NotFound
from service.orders.service import Channel, show_order
from service.persistence import (
    DecisionRecord,
    Label,
    PaymentOutcome,
    case_for_order,
    decision_by_order,
    labels_for_order,
    payment_outcomes_for_order,
)
from service.persistence.audit_log import entries_about
from service.persistence.audit_search import WebhookLine, webhooks_of
from service.persistence.cases import case_history
from service.persistence.records import CaseAction, StockTransition
from service.persistence.stock import stock_of
from service.settings import ServiceSettings

NO_RULES = "no rules were in force"
REGISTRY_UNAVAILABLE = "registry unavailable"
Visibility = Literal["visible", "masked", "hidden", "erased"]


@dataclass(frozen=True)
class OrderAttribute:
    """One attribute of the order as the viewer's role may see it."""

    path: str
    label: str
    shown: str
    visibility: Visibility


@dataclass(frozen=True)
class FeatureRow:
    """One model input: what it means, its value, its SHAP contribution and its sentence."""

    name: str
    definition: str
    value: float | None
    contribution: float
    reason: str
    withheld: bool


@dataclass(frozen=True)
class ModelFacts:
    """The model version that decided, as its registry knows it."""

    name: str
    version: str
    available: bool
    note: str
    run_id: str | None
    training_ranges: dict[str, str]
    metrics: dict[str, float]


@dataclass(frozen=True)
class EntryLine:
    """One audit log entry about the order; `seq` is None until the sequencer places it."""

    seq: int | None
    kind: str
    actor: str
    at: datetime

    @property
    def position(self) -> str:
        """Return the entry's place in the log, or "pending"."""
        return "pending" if self.seq is None else str(self.seq)


@dataclass(frozen=True)
class TimelineItem:
    """One thing that happened to the order after its decision."""

    at: datetime
    source: Literal["review", "stock", "webhook", "label", "payment"]
    what: str
    who: str
    detail: str


@dataclass(frozen=True)
class Evidence:
    """Everything a decision's evidence page shows, as it stood at decision time."""

    order_id: str
    decision_id: str
    created_at: datetime
    decided_at: datetime
    role: str
    summary: str
    order: tuple[OrderAttribute, ...]
    features: tuple[FeatureRow, ...]
    base_value: float
    raw_score: float
    score: float
    tier: str
    action: str
    freeze: bool
    freeze_reason: str | None
    degraded: bool
    thresholds: dict[str, float]
    rules_version: str | None
    rules: tuple[Any, ...]
    model: ModelFacts
    case_status: str | None
    review: tuple[CaseAction, ...]
    stock: tuple[StockTransition, ...]
    webhooks: tuple[WebhookLine, ...]
    labels: tuple[Label, ...]
    payments: tuple[PaymentOutcome, ...]
    entries: tuple[EntryLine, ...]

    @property
    def rules_text(self) -> str:
        """Return the rules in force in words."""
        if not self.rules:
            return NO_RULES
        version = f" (rules version {self.rules_version})" if self.rules_version else ""
        said = (rule.get("text", rule) if isinstance(rule, dict) else rule for rule in self.rules)
        return "; ".join(str(text) for text in said) + version

    @property
    def timeline(self) -> list[TimelineItem]:
        """Return what followed the decision, oldest first."""
        items = [
            TimelineItem(a.at, "review", a.action, f"{a.actor} ({a.actor_role})", _joined(a))
            for a in self.review
        ]
        items += [
            TimelineItem(s.at, "stock", f"stock {s.to_state}", s.actor, _joined(s))
            for s in self.stock
        ]
        items += [
            TimelineItem(w.created_at, "webhook", w.kind, "outbox", _delivery(w))
            for w in self.webhooks
        ]
        items += [
            TimelineItem(x.known_at, "label", f"labelled {x.label}", x.source, x.reason or "")
            for x in self.labels
        ]
        items += [
            TimelineItem(p.known_at, "payment", f"payment {p.status}", "payments", "")
            for p in self.payments
        ]
        return sorted(items, key=lambda item: item.at)


def _joined(step: CaseAction | StockTransition) -> str:
    """Return the why of a review action or stock transition."""
    if isinstance(step, CaseAction):
        parts: tuple[str | None, ...] = (step.reason_code, step.scenario, step.note)
    else:
        parts = (step.outcome, step.reason)
    return " · ".join(part for part in parts if part)


def _delivery(line: WebhookLine) -> str:
    if line.status is None:
        return "no endpoint was registered to receive it"
    tried = f"{line.attempts} attempt{'s' if line.attempts != 1 else ''}"
    answer = f", last answer HTTP {line.last_status}" if line.last_status else ""
    return f"{line.status} to {line.url} after {tried}{answer}"


def build_evidence(
    engine: Engine,
    settings: ServiceSettings,
    principal: Principal,
    order_id: str,
    *,
    access: AccessControl | None = None,
    channel: Channel = "page",
) -> Evidence:
    """Return the evidence of an order's decision as the principal's role may see it.

    `access` is the running app's access control (its masking policy); without
    it, one is built from `settings`. Raises `NotFound` for an unknown order.
    """
    access = access or access_control(settings, engine)
    shown = show_order(access, principal, order_id, channel)
    record = decision_by_order(engine, order_id)
    if record is None:
        raise NotFound(f"no decision for order {order_id!r}")
    case = case_for_order(engine, order_id)
    review = tuple(case_history(engine, case.id)) if case else ()
    held = stock_of(engine, order_id)
    stock = tuple(held[1]) if held else ()
    withheld = {
        name
        for name, seen in derived_visibility(access.policy, principal.role).items()
        if seen != "visible"
    }
    features = _features(record, shown, withheld)
    return Evidence(
        order_id=record.order_id,
        decision_id=record.id,
        created_at=record.created_at,
        decided_at=record.decided_at,
        role=principal.role,
        summary=summary(record, shown.values.get("decision.reasons") or [], review, stock),
        order=_order(record, shown),
        features=features,
        base_value=record.base_value,
        raw_score=record.raw_score,
        score=record.score,
        tier=record.tier,
        action=record.action,
        freeze=record.freeze,
        freeze_reason=record.freeze_reason,
        degraded=record.degraded,
        thresholds={k: float(v) for k, v in record.thresholds.items()},
        rules_version=record.rules_version,
        rules=tuple(record.rules),
        model=model_facts(settings, record.model_name, record.model_version),
        case_status=case.status if case else None,
        review=review,
        stock=stock,
        webhooks=tuple(webhooks_of(engine, order_id)),
        labels=tuple(labels_for_order(engine, order_id)),
        payments=tuple(payment_outcomes_for_order(engine, order_id)),
        entries=tuple(
            EntryLine(e.seq, e.kind, e.actor, e.at) for e in entries_about(engine, order_id)
        ),
    )


def model_facts(settings: ServiceSettings, name: str, version: str) -> ModelFacts:
    """Return what the registry knows of a version; say so when it cannot be asked."""
    try:
        details = version_details(settings.model_copy(update={"model_name": name}), version)
    except Exception as error:  # another system: whatever fails there, the evidence still shows
        note = f"{REGISTRY_UNAVAILABLE}: {str(error).splitlines()[0] if str(error) else error!r}"
        return ModelFacts(name, version, False, note, None, {}, {})
    ranges = {k[len("range_") :]: v for k, v in details.params.items() if k.startswith("range_")}
    metrics = {
        k: v for k, v in sorted(details.metrics.items()) if k.startswith(("test_", "valid_"))
    }
    return ModelFacts(name, version, True, "from the registry", details.run_id, ranges, metrics)


def _order(record: DecisionRecord, shown: MaskedRecord) -> tuple[OrderAttribute, ...]:
    """Return the order's attributes as shown: erased values say when and by whom."""
    erased = record.erasures
    rows = []
    for attribute in ORDER_ATTRIBUTES:
        path = attribute.path
        label = ATTRIBUTES[path].label
        if path in shown.hidden:
            rows.append(OrderAttribute(path, label, "hidden for your role", "hidden"))
        elif path in erased:
            gone = erased[path]
            when = gone.erased_at.strftime("%Y-%m-%d %H:%M UTC") if gone.erased_at else "?"
            text = f"erased on {when} by {gone.erased_by or 'unknown'}"
            rows.append(OrderAttribute(path, label, text, "erased"))
        elif shown.values.get(path) not in (None, "", []):
            seen: Visibility = "masked" if path in shown.masked else "visible"
            rows.append(OrderAttribute(path, label, _text(path, shown.values[path]), seen))
    return tuple(rows)


def _text(path: str, value: Any) -> str:
    if path == "items" and isinstance(value, list):
        return "; ".join(
            f"{item.get('quantity')} x {item.get('sku')} at {item.get('unit_price')}"
            + (" (limited stock)" if item.get("limited_stock") else "")
            for item in value
            if isinstance(item, dict)
        )
    if isinstance(value, list):
        return ", ".join(str(part) for part in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _features(
    record: DecisionRecord, shown: MaskedRecord, withheld: set[str]
) -> tuple[FeatureRow, ...]:
    """Return the model's inputs by |contribution|, with the shown values and sentences."""
    explanation = shown.values.get("decision.explanation")
    if not isinstance(explanation, dict):
        return ()
    values = explanation.get("features") or {}
    texts = {
        r["feature"]: str(r.get("text"))
        for r in shown.values.get("decision.reasons") or []
        if isinstance(r, dict) and "feature" in r
    }
    rows = []
    for name, contribution in record.shap_values.items():
        hidden = name in withheld
        value = None if hidden else values.get(name)
        if name in texts:
            reason = texts[name]
        elif hidden:
            reason = WITHHELD_TEXT
        elif name in current().by_name:
            reason = describe(name, math.nan if value is None else float(value))
        else:
            reason = f"{name} = {value}"
        rows.append(FeatureRow(name, definition(name), value, float(contribution), reason, hidden))
    return tuple(sorted(rows, key=lambda row: -abs(row.contribution)))
