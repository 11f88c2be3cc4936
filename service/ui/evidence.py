"""The case page's charts, drawn from what the reviewer's role may see of the decision."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import quote

from markupsafe import Markup

from service.auth.masking import MaskedRecord
from service.persistence.links import Link, LinkedOrder
from service.ui.charts import RingEntity, RingOrder, ring_graph, waterfall


def waterfall_view(shown: MaskedRecord) -> Markup | None:
    """Return the SHAP waterfall of the shown decision; None where the role may not see it."""
    explanation = shown.values.get("decision.explanation")
    score = shown.values.get("decision.score")
    if not isinstance(explanation, dict) or score is None:
        return None
    texts = {
        reason["feature"]: reason["text"]
        for reason in shown.values.get("decision.reasons") or []
        if isinstance(reason, dict) and "feature" in reason
    }
    contributions = [
        (texts.get(name, name.replace("_", " ")), float(value))
        for name, value in explanation.get("shap_values", {}).items()
    ]
    return waterfall(float(explanation["base_value"]), contributions, float(score))


CENTER = "this-order"


def _short(order_id: str, keep: int = 12) -> str:
    """Return an order id short enough for a node label (its end tells orders apart)."""
    return order_id if len(order_id) <= keep else "…" + order_id[-(keep - 1) :]


def _href(order: LinkedOrder, shown_id: str | None) -> str | None:
    """Return where a linked order's node leads: its case, else its page if its id shows."""
    if order.case_id:
        return f"/review/cases/{quote(order.case_id, safe='')}"
    return f"/orders/{quote(shown_id, safe='')}" if shown_id else None


def _entity_id(link: Link) -> str:
    return f"{link.kind}:{link.key}"


def ring_view(
    own: Sequence[Link], linked: Sequence[LinkedOrder], shown_ids: Mapping[str, str | None]
) -> Markup:
    """Return the ring graph: the case's order, its entities, and the orders sharing them.

    Nodes are numbered rather than named by order id, and labelled with the id as
    the masking policy shows it (`shown_ids`), so the drawing reveals no more than
    the table beside it.
    """
    entities = {
        _entity_id(link): RingEntity(_entity_id(link), link.kind, link.key)
        for link in [*own, *(s for order in linked for s in order.shared)]
    }
    node = {o.order_id: f"order-{number}" for number, o in enumerate(linked, start=1)}
    orders = [
        RingOrder(
            node[o.order_id],
            _short(shown_ids.get(o.order_id) or "hidden"),
            o.tier,
            o.label or o.case_status or o.action,
            _href(o, shown_ids.get(o.order_id)),
        )
        for o in linked
    ]
    links = [(CENTER, _entity_id(link)) for link in own]
    links += [(node[o.order_id], _entity_id(s)) for o in linked for s in o.shared]
    return ring_graph(CENTER, orders, list(entities.values()), links)
