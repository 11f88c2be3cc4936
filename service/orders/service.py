"""Show a stored order and its decision to one caller: masked, and logged when personal data shows.

Both the JSON API and the order page get their order data from `show_order`,
so both show exactly what the masking policy allows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from service.auth.attributes import ORDER_ATTRIBUTES
from service.auth.control import AccessControl
from service.auth.masking import MaskedRecord, mask
from service.auth.principal import Principal
from service.errors import NotFound
from service.orders.schemas import OrderView
from service.persistence import DecisionRecord, decision_by_order
from service.persistence.access import record_personal_data_view
from service.persistence.records import PersonalDataView

Channel = Literal["api", "page"]


def record_attributes(record: DecisionRecord) -> dict[str, Any]:
    """Return a decision record's showable attributes by path."""
    attributes: dict[str, Any] = {}
    for attribute in ORDER_ATTRIBUTES:
        node: Any = record.order
        for part in attribute.path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        attributes[attribute.path] = node
    attributes.update(
        {
            "decision.score": record.score,
            "decision.tier": record.tier,
            "decision.action": record.action,
            "decision.stock": {"freeze": record.freeze, "reason": record.freeze_reason},
            "decision.reasons": record.reasons,
            "decision.explanation": {
                "base_value": record.base_value,
                "features": record.features,
                "shap_values": record.shap_values,
            },
            "decision.model": {"name": record.model_name, "version": record.model_version},
            "decision.decided_at": record.decided_at.isoformat(),
        }
    )
    return attributes


def show_order(
    access: AccessControl, principal: Principal, order_id: str, channel: Channel
) -> MaskedRecord:
    """Return what the caller may see of an order; log any unmasked personal data first."""
    record = decision_by_order(access.engine, order_id)
    if record is None:
        raise NotFound(f"no decision for order {order_id!r}")
    shown = mask(access.policy, principal.role, record_attributes(record))
    if shown.personal_unmasked:
        record_personal_data_view(
            access.engine,
            PersonalDataView(
                at=datetime.now(UTC),
                actor=principal.actor,
                role=principal.role,
                record_type="order",
                record_id=order_id,
                attributes=shown.personal_unmasked,
                channel=channel,
            ),
        )
    return shown


def order_view(access: AccessControl, principal: Principal, order_id: str) -> OrderView:
    """Return the API answer: the order as the key's role may see it."""
    shown = show_order(access, principal, order_id, "api")
    nested = shown.nested()
    return OrderView(
        order_id=shown.values.get("order_id"),
        role=principal.role,
        order={k: v for k, v in nested.items() if k != "decision"},
        decision=nested.get("decision", {}),
        masked=shown.masked,
        hidden=shown.hidden,
    )
