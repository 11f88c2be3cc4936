"""Every attribute of an order and its decision that a caller can be shown.

This is the whole list: what is not here is never rendered. Each attribute
says whether it is personal data (an unmasked view of it is logged) and how
it looks when masked (None: it can be shown or hidden, not masked). A test
checks that every field of the order schema has an entry.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Attribute:
    """One showable attribute."""

    path: str
    label: str
    personal: bool = False
    mask: str | None = None


def _address(kind: str, label: str) -> list[Attribute]:
    return [
        Attribute(f"{kind}.id", f"{label} address id", mask="prefix"),
        Attribute(f"{kind}.name", f"{label} name", personal=True, mask="initials"),
        Attribute(f"{kind}.lines", f"{label} street", personal=True),
        Attribute(f"{kind}.city", f"{label} city"),
        Attribute(f"{kind}.postal_code", f"{label} postal code"),
        Attribute(f"{kind}.country", f"{label} country"),
        Attribute(f"{kind}.latitude", f"{label} latitude", True, "coarse_coordinate"),
        Attribute(f"{kind}.longitude", f"{label} longitude", True, "coarse_coordinate"),
    ]


ORDER_ATTRIBUTES = [
    Attribute("order_id", "order"),
    Attribute("created_at", "created at"),
    Attribute("amount", "amount"),
    Attribute("currency", "currency"),
    Attribute("items", "items"),
    Attribute("customer.id", "customer id", mask="prefix"),
    Attribute("customer.email", "e-mail", personal=True, mask="email"),
    Attribute("customer.phone", "phone", personal=True, mask="last_two_digits"),
    Attribute("customer.account_created_at", "account created at"),
    Attribute("device.fingerprint", "device fingerprint", mask="prefix"),
    Attribute("device.user_agent", "user agent"),
    Attribute("device.emulator", "emulator"),
    Attribute("ip", "IP address", personal=True, mask="network"),
    Attribute("payment.account_id", "payment account", mask="prefix"),
    Attribute("payment.method", "payment method"),
    Attribute("payment.card_bin", "card BIN"),
    Attribute("payment.last4", "card last 4", personal=True),
    Attribute("payment.card_country", "card country"),
    *_address("shipping_address", "shipping"),
    *_address("billing_address", "billing"),
]
DECISION_ATTRIBUTES = [
    Attribute("decision.score", "score"),
    Attribute("decision.tier", "tier"),
    Attribute("decision.action", "action"),
    Attribute("decision.stock", "stock"),
    Attribute("decision.reasons", "reasons"),
    Attribute("decision.explanation", "feature values and SHAP contributions"),
    Attribute("decision.model", "model"),
    Attribute("decision.decided_at", "decided at"),
]
ATTRIBUTES: dict[str, Attribute] = {a.path: a for a in (*ORDER_ATTRIBUTES, *DECISION_ATTRIBUTES)}
