"""Server-rendered SVG charts for the review desk: a SHAP waterfall and a ring of linked orders.

Each chart is a pure function returning one complete `<svg>` element as
`Markup`, ready for a template. Every value that comes from data (labels, ids,
states) passes `markupsafe.escape`; class names come from fixed tables, never
from data. Colours are CSS classes of `static/app.css`: no inline styles (CSP).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from models.scorer import Tier

SVG = '<svg xmlns="http://www.w3.org/2000/svg" class="chart {kind}" viewBox="0 0 {w} {h}" '
SVG += 'width="{w}" height="{h}" role="img" aria-label="{label}">'
ENTITY_KINDS = ("device", "ip_cluster", "payment", "address")
TIERS = frozenset(tier.value for tier in Tier)


def _text(x: float, y: float, content: str, cls: str = "", anchor: str = "start") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" class="{cls}" text-anchor="{anchor}">'
        f"{escape(content)}</text>"
    )


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _finite(*values: float) -> None:
    if not all(math.isfinite(v) for v in values):
        raise ValueError("chart values must be finite numbers")


# --- SHAP waterfall ----------------------------------------------------------------------

W_WIDTH, W_LABEL, W_X0, W_X1, W_ROW, W_TOP = 720, 292, 304, 630, 24, 10


def waterfall(
    base_value: float, contributions: Sequence[tuple[str, float]], score: float, top: int = 10
) -> Markup:
    """Draw a horizontal SHAP waterfall in log-odds, from the base value to the raw score.

    One bar per feature, the `top` largest |contribution| first, the rest summed
    into one "N other features" bar; red pushes towards fraud, blue away. The
    last row marks the raw score (base + sum) and prints the probability `score`.
    """
    if top < 1:
        raise ValueError("top must be at least 1")
    _finite(base_value, score, *(c for _, c in contributions))
    ranked = sorted(contributions, key=lambda item: -abs(item[1]))
    steps = [(str(label), float(c)) for label, c in ranked[:top]]
    if rest := ranked[top:]:
        noun = "feature" if len(rest) == 1 else "features"
        steps.append((f"{len(rest)} other {noun}", math.fsum(c for _, c in rest)))
    ends = [base_value]
    for _, contribution in steps:
        ends.append(ends[-1] + contribution)
    final = base_value + math.fsum(c for _, c in contributions)
    low, high = min(*ends, final), max(*ends, final)
    if high - low < 1e-9:
        low, high = low - 0.5, high + 0.5
    scale = (W_X1 - W_X0) / (high - low)

    def x(value: float) -> float:
        return W_X0 + (value - low) * scale

    height = W_TOP + W_ROW * (len(steps) + 2) + 28
    bottom = height - 24
    label = f"SHAP waterfall: base {base_value:.3f}, raw score {final:.3f}, probability {score:.3f}"
    parts = [SVG.format(kind="waterfall", w=W_WIDTH, h=height, label=escape(label))]
    parts.append(f"<title>{escape(label)}</title>")
    for cls, value in (("guide base", base_value), ("guide final", final)):
        parts.append(
            f'<line class="{cls}" x1="{x(value):.2f}" y1="{W_TOP}" x2="{x(value):.2f}" '
            f'y2="{bottom}" data-value="{value:.6f}"/>'
        )
    mid = W_TOP + W_ROW / 2 + 4
    parts.append(_text(W_LABEL, mid, "base value (log-odds)", "muted", "end"))
    parts.append(_text(x(base_value) + 4, mid, f"{base_value:.3f}", "muted"))
    for row, (name, contribution) in enumerate(steps, start=1):
        start, end = ends[row - 1], ends[row]
        cls = "push-fraud" if contribution > 0 else "push-legit"
        y = W_TOP + W_ROW * row
        left, right = sorted((x(start), x(end)))
        signed = f"{contribution:+.3f}"
        parts.append(
            f'<g class="step"><title>{escape(name)}: {signed}</title>'
            f'<rect class="bar {cls}" x="{left:.2f}" y="{y + 4}" width="{right - left:.2f}" '
            f'height="{W_ROW - 8}" data-from="{start:.6f}" data-to="{end:.6f}"/>'
            + _text(W_LABEL, y + W_ROW / 2 + 4, _short(name, 46), "label", "end")
            + _text(right + 4, y + W_ROW / 2 + 4, signed, cls)
            + "</g>"
        )
    last = W_TOP + W_ROW * (len(steps) + 1) + W_ROW / 2 + 4
    parts.append(_text(W_LABEL, last, "raw score f(x)", "", "end"))
    ending = f"{final:.3f} → probability {score:.3f}"
    right_half = x(final) > (W_X0 + W_X1) / 2  # keep the text inside the chart
    parts.append(
        _text(
            x(final) + (-4 if right_half else 4),
            last,
            ending,
            "score",
            "end" if right_half else "start",
        )
    )
    parts.append(f'<line class="axis" x1="{W_X0}" y1="{bottom}" x2="{W_X1}" y2="{bottom}"/>')
    for value, anchor in ((low, "start"), (high, "end")):
        parts.append(_text(x(value), bottom + 14, f"{value:.2f}", "muted", anchor))
    parts.append(_text((W_X0 + W_X1) / 2, bottom + 14, "log-odds", "muted", "middle"))
    return Markup("".join(parts) + "</svg>")


# --- Ring of linked orders ---------------------------------------------------------------


@dataclass(frozen=True)
class RingOrder:
    """An order of the ring: its id, a short label, its risk tier and its review state."""

    id: str
    label: str
    tier: str
    state: str
    href: str | None = None
    """Where the node links to (a case or an order page); None draws no link."""


@dataclass(frozen=True)
class RingEntity:
    """An entity orders share: a device, an IP cluster, a payment account or an address."""

    id: str
    kind: str
    label: str

    def __post_init__(self) -> None:
        if self.kind not in ENTITY_KINDS:
            raise ValueError(f"unknown entity kind {self.kind!r}")


MAX_NODES, MAX_ENTITIES, LABELLED_ORDERS = 60, 20, 16
R_SIZE, R_INNER, R_OUTER, R_NODE = 640, 130, 262, 9
SHAPES = {
    "device": '<rect class="shape" x="{l}" y="{t}" width="18" height="18"/>',
    "ip_cluster": '<polygon class="shape" points="{x},{t0} {r0},{y} {x},{b0} {l0},{y}"/>',
    "payment": '<rect class="shape" x="{l1}" y="{t1}" width="24" height="15" rx="3"/>',
    "address": '<polygon class="shape" points="{x},{t0} {r},{t2} {r},{b} {l},{b} {l},{t2}"/>',
}


def _entity_shape(kind: str, x: float, y: float) -> str:
    return SHAPES[kind].format(
        x=f"{x:.1f}", y=f"{y:.1f}", l=f"{x - 9:.1f}", r=f"{x + 9:.1f}", t=f"{y - 9:.1f}",
        b=f"{y + 9:.1f}", t0=f"{y - 11:.1f}", b0=f"{y + 11:.1f}", l0=f"{x - 11:.1f}",
        r0=f"{x + 11:.1f}", l1=f"{x - 12:.1f}", t1=f"{y - 7.5:.1f}", t2=f"{y - 2:.1f}",
    )  # fmt: skip


def _point(angle: float, radius: float) -> tuple[float, float]:
    return R_SIZE / 2 + radius * math.cos(angle), R_SIZE / 2 + radius * math.sin(angle)


def _spread(wanted: list[float]) -> list[float]:
    """Return angles near the wanted (sorted) ones, kept apart enough to tell nodes apart."""
    if not wanted:
        return []
    gap = min(2 * math.pi / len(wanted), 0.26)
    placed = [wanted[0]]
    for angle in wanted[1:]:
        placed.append(max(angle, placed[-1] + gap))
    if placed[-1] - placed[0] > 2 * math.pi - gap:
        placed = [wanted[0] + i * 2 * math.pi / len(wanted) for i in range(len(wanted))]
    return placed


def ring_graph(
    center: str,
    orders: Sequence[RingOrder],
    entities: Sequence[RingEntity],
    links: Sequence[tuple[str, str]],
) -> Markup:
    """Draw the case's order, the entities it shares and the other orders linked through them.

    The layout is radial and deterministic: the case's order in the middle, the
    entities on an inner ring (grouped by kind), the other orders on an outer ring
    next to the entities they share. `links` are (order id, entity id) pairs;
    unknown ids are ignored. At most 60 nodes: beyond 20 entities (the center's
    own first, then the most shared) the rest are dropped, then the orders sharing
    fewest kept entities (ties by id), and orders sharing none; a caption counts them.
    """
    by_order = {o.id: o for o in reversed(orders)}  # the first of a repeated id wins
    by_entity = {e.id: e for e in reversed(entities)}
    hub = by_order.get(center, RingOrder(center, center, "unknown", "unknown"))
    pairs = sorted({(o, e) for o, e in links if (o in by_order or o == center) and e in by_entity})
    own = {e for o, e in pairs if o == center}
    shared = {e: sum(1 for _, pe in pairs if pe == e) for e in by_entity}
    ranked = sorted(by_entity, key=lambda e: (e not in own, -shared[e], e))
    kept = sorted(ranked[:MAX_ENTITIES], key=lambda e: (ENTITY_KINDS.index(by_entity[e].kind), e))
    angle = {e: -math.pi / 2 + 2 * math.pi * i / len(kept) for i, e in enumerate(kept)}
    reach: dict[str, list[str]] = {}
    for o, e in pairs:
        if o != center and e in angle:
            reach.setdefault(o, []).append(e)
    others = sorted(reach, key=lambda o: (-len(reach[o]), o))[: MAX_NODES - 1 - len(kept)]

    def wanted(order_id: str) -> float:
        sin = math.fsum(math.sin(angle[e]) for e in reach[order_id])
        cos = math.fsum(math.cos(angle[e]) for e in reach[order_id])
        first = angle[min(reach[order_id])]
        return first if math.hypot(sin, cos) < 1e-6 else math.atan2(sin, cos) % (2 * math.pi)

    outer = sorted(others, key=lambda o: (wanted(o), o))
    at = {e: _point(angle[e], R_INNER) for e in kept}
    spread = _spread([wanted(o) for o in outer])
    at |= {o: _point(a, R_OUTER) for o, a in zip(outer, spread, strict=True)}
    at[center] = _point(0.0, 0.0)
    label = f"Orders linked to order {center}: {len(outer)} orders through {len(kept)} entities"
    parts = [SVG.format(kind="ring", w=R_SIZE, h=R_SIZE, label=escape(label))]
    parts.append(f"<title>{escape(label)}</title>")
    for o, e in pairs:
        if o in at and e in at:
            (x1, y1), (x2, y2) = at[o], at[e]
            parts.append(
                f'<line class="edge" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}"/>'
            )
    for e in kept:
        entity, (x, y) = by_entity[e], at[e]
        parts.append(
            f'<g class="node entity kind-{entity.kind}" data-id="{escape(e)}">'
            f"<title>{escape(entity.kind.replace('_', ' '))}: {escape(entity.label)}</title>"
            + _entity_shape(entity.kind, x, y)
            + _text(x, y + 24, _short(entity.label, 16), "muted", "middle")
            + "</g>"
        )
    for o in [center, *outer]:
        order, (x, y) = (hub if o == center else by_order[o]), at[o]
        tier = order.tier if order.tier in TIERS else "unknown"
        role, radius = (" center", R_NODE + 4) if o == center else ("", R_NODE)
        hover = f"order {order.label}: tier {order.tier}, {order.state}"
        text = _text(x, y + 22, _short(order.label, 14), "", "middle")
        circle = f'<circle class="shape" cx="{x:.1f}" cy="{y:.1f}" r="{radius}"/>'
        if order.href:
            circle = f'<a href="{escape(order.href)}">{circle}</a>'
        parts.append(
            f'<g class="node order tier-{tier}{role}" data-id="{escape(o)}">'
            f"<title>{escape(hover)}</title>{circle}"
            f"{text if role or len(outer) <= LABELLED_ORDERS else ''}</g>"
        )
    dropped_orders = len(set(by_order) - {center}) - len(outer)
    dropped_entities = len(by_entity) - len(kept)
    if dropped_orders or dropped_entities:
        note = f"not shown: {dropped_orders} orders, {dropped_entities} entities"
        parts.append(_text(8, R_SIZE - 8, note, "muted"))
    return Markup("".join(parts) + "</svg>")
