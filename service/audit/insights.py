"""Decisions in plain words and in figures: feature definitions, one decision's summary,
and how a model version decided overall.

A feature's definition is read off its declaration in the catalogue (entity,
aggregation, window, source column), so it cannot drift from what is computed.
The global view of a version is its mean |SHAP| per feature, its tiers and
actions per UTC day, and its review overturn rate: of the cases a reviewer
closed, the share approved. Cases that expired were closed by the clock, not by
a reviewer, so they neither uphold nor overturn a freeze and are counted apart.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import Engine

from features.catalog import current
from features.spec import HOUR, Agg, Aggregate, Stream
from service.persistence.audit_search import case_outcomes, daily_outcomes, mean_abs_shap
from service.persistence.records import CaseAction, DecisionRecord, StockTransition
from service.review.codes import REASON_CODES

OF_WORDS = {
    "customer_id": "accounts",
    "device_id": "devices",
    "payment_id": "payment accounts",
    "shipping_address_id": "shipping addresses",
    "amount": "order amount",
    "limited_quantity": "limited-stock units",
    "ip_is_hosting": "datacenter-or-proxy flag (0 or 1)",
}
STREAM_WORDS = {
    Stream.ORDERS: "orders",
    Stream.DECLINES: "declined payments",
    Stream.FRAUD: "orders confirmed as fraud",
    Stream.LABELS: "orders that got a label",
}
OUTCOMES = {
    "approve": "approved",
    "review": "held for a reviewer with its stock frozen",
    "decline": "declined",
}
CLOSING = ("approve", "reject", "expire")
CUT_ORDER = ("medium", "high", "critical")


def _window(window: timedelta | None) -> str:
    if window is None:
        return "over all its earlier history"
    hours = window / HOUR
    span = f"{hours:g} hour{'s' if hours != 1 else ''}" if hours < 48 else f"{hours / 24:g} days"
    return f"in the {span} before the order"


def definition(name: str) -> str:
    """Return what a feature measures, in plain words, from its declaration."""
    feature = current().by_name.get(name)
    if feature is None:
        return "an input of the archived model that the running feature catalogue no longer has"
    if isinstance(feature, Aggregate):
        entity, when = feature.entity.description, _window(feature.window)
        of = OF_WORDS.get(feature.of or "", (feature.of or "").replace("_", " "))
        events = f"earlier {STREAM_WORDS[feature.stream]} of {entity}"
        return {
            Agg.COUNT: f"number of {events} {when}",
            Agg.DISTINCT: f"number of distinct {of} among the {events} {when}",
            Agg.SUM: f"total {of} of the {events} {when}",
            Agg.MEAN: f"average {of} of the {events} {when}",
            Agg.MAX: f"largest {of} among the {events} {when}",
            Agg.HOURS_SINCE_FIRST: f"hours since {entity} was first seen",
            Agg.HOURS_SINCE_LAST: f"hours since the previous order of {entity}",
        }[feature.agg]
    sources = ", ".join(need.replace("_", " ") for need in feature.needs)
    if feature.text_when_false:
        return f"1 when {feature.text}, 0 when {feature.text_when_false} (from {sources})"
    template = re.sub(r"\{value[^}]*\}", "N", re.sub(r"\{value:[^}]*%\}", "N%", feature.text))
    return f"{template} (from {sources})"


def _position(score: float, thresholds: dict[str, Any]) -> str:
    """Return where a score lies among the cut points."""
    # Equal cut points leave the higher tier's in force: ties go by tier, not by key order.
    cuts = sorted(
        ((str(n), float(v)) for n, v in thresholds.items() if isinstance(v, int | float)),
        key=lambda cut: (cut[1], CUT_ORDER.index(cut[0]) if cut[0] in CUT_ORDER else -1),
    )
    above = [cut for cut in cuts if score >= cut[1]]
    below = [cut for cut in cuts if score < cut[1]]
    parts = [f"at or above the {n} cut point {v:.4f}" for n, v in above[-1:]]
    parts += [f"below the {n} cut point {v:.4f}" for n, v in below[:1]]
    return " and ".join(parts) or "with no cut points to compare it with"


def _review(review: Sequence[CaseAction], stock: Sequence[StockTransition]) -> str:
    """Return what the review made of the order, in words."""
    if not review and not stock:
        return ""
    closing = [step for step in review if step.action in CLOSING]
    state = stock[-1].to_state if stock else None
    if not closing:
        escalated = any(step.action == "escalate" for step in review)
        return "The review case is still open" + (
            ", escalated to a senior reviewer." if escalated else "."
        )
    last = closing[-1]
    when = last.at.strftime("%Y-%m-%d %H:%M UTC")
    if last.action == "expire":
        return f"No reviewer decided in time: the case expired on {when} and the stock was {state}."
    why = REASON_CODES.get(last.action, {}).get(last.reason_code or "", last.reason_code or "")
    because = f" because {why}" if why else ""
    verdict = "overturning the freeze" if last.action == "approve" else "upholding the freeze"
    then = f"; the stock was {state}" if state else ""
    who = f"{last.actor} ({last.actor_role})"
    return f"On {when}, {who} {last.action}d the order{because}, {verdict}{then}."


def summary(
    record: DecisionRecord,
    reasons: Sequence[Any],
    review: Sequence[CaseAction],
    stock: Sequence[StockTransition],
) -> str:
    """Return why the order was approved, frozen or declined, and what review then decided."""
    when = record.decided_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    outcome = OUTCOMES.get(record.action, record.action)
    parts = [
        f"Order {record.order_id} was decided on {when} by model {record.model_name} "
        f"version {record.model_version}. Its fraud score was {record.score:.4f}, "
        f"{_position(record.score, record.thresholds)}, so it fell in the {record.tier} tier "
        f"and was {outcome}."
    ]
    if record.degraded:
        parts.append("Some inputs could not be read in time: it was decided in degraded mode.")
    raised = [
        f"{r.get('text')} ({float(r.get('contribution', 0.0)):+.2f})"
        for r in reasons
        if isinstance(r, dict) and float(r.get("contribution", 0.0)) > 0
    ][:3]
    parts.append(
        f"What raised the score most: {'; '.join(raised)}."
        if raised
        else "No input raised the score above the model's base value."
    )
    parts.append(_review(review, stock))
    return " ".join(part for part in parts if part)


@dataclass(frozen=True)
class Importance:
    """One feature's mean |SHAP| over a version's decisions."""

    name: str
    definition: str
    mean_abs: float


@dataclass(frozen=True)
class DayRow:
    """One UTC day of a version's decisions, counted by tier and by action."""

    day: str
    tiers: dict[str, int]
    actions: dict[str, int]

    @property
    def total(self) -> int:
        """Return the day's decisions."""
        return sum(self.tiers.values())


@dataclass(frozen=True)
class VersionInsights:
    """How one model version decided, over every stored decision it made."""

    model_name: str
    version: str
    decisions: int
    importance: tuple[Importance, ...]
    days: tuple[DayRow, ...]
    cases: dict[str, int]

    @property
    def reviewed(self) -> int:
        """Return the cases a reviewer closed (approved or rejected)."""
        return self.cases.get("approved", 0) + self.cases.get("rejected", 0)

    @property
    def overturn_rate(self) -> float | None:
        """Return the share of reviewer-closed cases approved; None before any."""
        return self.cases.get("approved", 0) / self.reviewed if self.reviewed else None


def version_insights(engine: Engine, model_name: str, version: str) -> VersionInsights:
    """Return the global view of a model version from its stored decisions."""
    count, means = mean_abs_shap(engine, model_name, version)
    importance = tuple(
        Importance(name, definition(name), value)
        for name, value in sorted(means.items(), key=lambda item: (-item[1], item[0]))
    )
    days: dict[str, DayRow] = {}
    for line in daily_outcomes(engine, model_name, version):
        row = days.setdefault(line.day, DayRow(line.day, {}, {}))
        row.tiers[line.tier] = row.tiers.get(line.tier, 0) + line.count
        row.actions[line.action] = row.actions.get(line.action, 0) + line.count
    cases = case_outcomes(engine, model_name, version)
    return VersionInsights(model_name, version, count, importance, tuple(days.values()), cases)


BAR_WIDTH, BAR_LABEL, BAR_X0, BAR_X1, BAR_ROW = 720, 300, 312, 650, 22


def importance_chart(importance: Sequence[Importance], top: int = 15) -> Markup:
    """Draw the mean |SHAP| of the `top` features as horizontal bars (an `<svg>`, no styles)."""
    shown = [item for item in importance[:top] if math.isfinite(item.mean_abs)]
    height = BAR_ROW * (len(shown) + 1) + 16
    largest = max((item.mean_abs for item in shown), default=0.0) or 1.0
    label = f"mean |SHAP| of the {len(shown)} most influential features"
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" class="chart importance" '
        f'viewBox="0 0 {BAR_WIDTH} {height}" width="{BAR_WIDTH}" height="{height}" '
        f'role="img" aria-label="{escape(label)}"><title>{escape(label)}</title>'
    ]
    for row, item in enumerate(shown):
        y = 8 + BAR_ROW * row
        width = (BAR_X1 - BAR_X0) * item.mean_abs / largest
        parts.append(
            f'<g class="step"><title>{escape(item.name)}: {escape(item.definition)}</title>'
            f'<text x="{BAR_LABEL}" y="{y + 15}" class="label" text-anchor="end">'
            f"{escape(item.name)}</text>"
            f'<rect class="bar importance" x="{BAR_X0}" y="{y + 4}" width="{width:.2f}" '
            f'height="{BAR_ROW - 8}" data-value="{item.mean_abs:.6f}"/>'
            f'<text x="{BAR_X0 + width + 4:.2f}" y="{y + 15}" class="muted">'
            f"{item.mean_abs:.3f}</text></g>"
        )
    bottom = 8 + BAR_ROW * len(shown) + 12
    parts.append(
        f'<text x="{(BAR_X0 + BAR_X1) / 2}" y="{bottom}" class="muted" text-anchor="middle">'
        "mean |SHAP| (log-odds)</text></svg>"
    )
    return Markup("".join(parts))
