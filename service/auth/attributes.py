"""Every attribute of an order and its decision that a caller can be shown.

This is the whole list: what is not here is never rendered. Each attribute
says whether it is personal data (an unmasked view of it is logged), how it
looks when masked (None: it can be shown or hidden, not masked), and, for
personal data the model reads, its column in the canonical order: a feature
computed from that column could give the value back (the local hour and the
order time give the exact longitude), so the masking layer withholds such
features from a role that may not see the attribute. A test checks that
every field of the order schema has an entry.
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
    column: str | None = None


def _address(kind: str, label: str, columns: str | None = None) -> list[Attribute]:
    """Return an address's attributes; `columns` prefixes its coordinates' canonical columns."""
    latitude = f"{columns}_lat" if columns else None
    longitude = f"{columns}_lon" if columns else None
    return [
        Attribute(f"{kind}.id", f"{label} address id", mask="prefix"),
        Attribute(f"{kind}.name", f"{label} name", personal=True, mask="initials"),
        Attribute(f"{kind}.lines", f"{label} street", personal=True),
        Attribute(f"{kind}.city", f"{label} city"),
        Attribute(f"{kind}.postal_code", f"{label} postal code"),
        Attribute(f"{kind}.country", f"{label} country"),
        Attribute(f"{kind}.latitude", f"{label} latitude", True, "coarse_coordinate", latitude),
        Attribute(f"{kind}.longitude", f"{label} longitude", True, "coarse_coordinate", longitude),
    ]


ORDER_ATTRIBUTES = [
    Attribute("order_id", "order"),
    Attribute("created_at", "created at"),
    Attribute("amount", "amount"),
    Attribute("currency", "currency"),
    Attribute("items", "items"),
    # The feature pack's columns: declared as not personal (a terminal, a channel).
    Attribute("attributes", "pack attributes"),
    Attribute("customer.id", "customer id", mask="prefix"),
    Attribute("customer.email", "e-mail", personal=True, mask="email", column="email"),
    Attribute("customer.phone", "phone", personal=True, mask="last_two_digits", column="phone"),
    Attribute("customer.account_created_at", "account created at"),
    Attribute("customer.time_zone", "time zone"),
    Attribute("device.fingerprint", "device fingerprint", mask="prefix"),
    Attribute("device.user_agent", "user agent"),
    Attribute("device.emulator", "emulator"),
    Attribute("ip", "IP address", personal=True, mask="network", column="ip"),
    Attribute("payment.account_id", "payment account", mask="prefix"),
    Attribute("payment.method", "payment method"),
    Attribute("payment.card_bin", "card BIN"),
    Attribute("payment.last4", "card last 4", personal=True, column="card_last4"),
    Attribute("payment.card_country", "card country"),
    *_address("shipping_address", "shipping", columns="shipping"),
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
# Where personal values sit in a stored order: kept outside the audit log's bytes.
PERSONAL_PATHS: tuple[str, ...] = tuple(a.path for a in ORDER_ATTRIBUTES if a.personal)
# Personal attributes by the canonical column the model's features are computed from.
BY_COLUMN: dict[str, Attribute] = {a.column: a for a in ORDER_ATTRIBUTES if a.column}
