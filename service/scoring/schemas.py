"""The order the order system sends, and the decision OrderShield answers with."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from ipaddress import IPv4Address, IPv6Address
from typing import Annotated, Any, Literal

from annotated_types import MaxLen
from email_validator import EmailNotValidError, validate_email
from fastapi import Path
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_extra_types.timezone_name import TimeZoneName

from features.catalog import current
from features.codes import Country, OrderCurrency
from features.columns import moment_ms
from features.currency import TooManyDecimals, check_minor_units
from service.inputs import STORED, EventTime, PastTime, RequestModel, has_control
from service.scoring.order_forms import OrderForms, request_hash

Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@/+=-]+$")]
# No "/": an order id is a path segment of /v1/orders/{order_id}/… and of the order page.
ORDER_ID = r"^[A-Za-z0-9._:@+=-]+$"
OrderId = Annotated[str, Field(min_length=1, max_length=128, pattern=ORDER_ID)]
# The same, as the {order_id} of a route: a text no order id can be is a 422 naming it.
OrderIdPath = Annotated[str, Path(min_length=1, max_length=128, pattern=ORDER_ID)]
ShortText = Annotated[str, Field(max_length=256)]
# Up to 10 digits before the point and 4 after: a decimal string (a JSON number is taken too).
DECIMAL_TEXT = r"^(0|[1-9][0-9]{0,9})(\.[0-9]{1,4})?$"
Money = Annotated[
    Decimal,
    Field(ge=0, max_digits=14, decimal_places=4),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": DECIMAL_TEXT,
            "examples": ["499.00"],
            "description": "a decimal string (a JSON number is accepted too)",
        }
    ),
]


def _email(value: str) -> str:
    """Check the address's syntax (no DNS); keep it as sent, test and local domains included."""
    try:
        validate_email(
            value, check_deliverability=False, globally_deliverable=False, test_environment=True
        )
    except EmailNotValidError as error:
        raise ValueError(str(error)) from error
    return value


Email = Annotated[
    str, Field(max_length=254, json_schema_extra={"format": "email"}), AfterValidator(_email)
]


FiniteNumber = Annotated[float, Field(allow_inf_nan=False, ge=-1e15, le=1e15)]
AttributeValue = StrictBool | FiniteNumber | ShortText
AttributeName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
# What an attribute of each kind of pack column must be, in the words of an error.
KIND_WORDS = {"text": "text", "number": "a number", "flag": "true or false"}


def _is_kind(value: object, kind: str) -> bool:
    if kind == "text":
        return isinstance(value, str)
    if kind == "flag":
        return isinstance(value, bool)
    return isinstance(value, float)  # a JSON true is taken as a flag (StrictBool), never here


class Strict(RequestModel):
    """Base: unknown fields are ignored, strings are trimmed, no control characters."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="ignore")


def _no_zone(address: IPv4Address | IPv6Address) -> IPv4Address | IPv6Address:
    """Refuse an IPv6 zone id (`%eth0`): it names a local interface, never a client."""
    if isinstance(address, IPv6Address) and address.scope_id is not None:
        raise ValueError("an IPv6 zone id (after %) is not a client address")
    return address


IpAddress = Annotated[IPv4Address | IPv6Address, AfterValidator(_no_zone)]


class Customer(Strict):
    id: Identifier
    email: Email | None = None
    phone: Annotated[str, Field(max_length=32, pattern=r"^\+?[0-9 ()-]{4,31}$")] | None = None
    account_created_at: PastTime | None = Field(
        None, description="ISO 8601 with its zone, from 1970 to now (plus the clock skew)"
    )
    time_zone: TimeZoneName | None = Field(
        None, description="the customer's IANA time zone (Europe/Berlin): local time features"
    )


class Device(Strict):
    fingerprint: Identifier | None = None
    user_agent: Annotated[str, Field(max_length=512)] | None = None
    emulator: bool = False


class Payment(Strict):
    account_id: Identifier
    method: Literal["card", "wallet", "bank_transfer", "bnpl", "other"] = "card"
    card_bin: Annotated[str, Field(pattern=r"^[0-9]{6,8}$")] | None = None
    last4: Annotated[str, Field(pattern=r"^[0-9]{4}$")] | None = None
    card_country: Country | None = None


class Address(Strict):
    id: Identifier | None = Field(
        None, description="your address id; derived from the address if absent"
    )
    name: ShortText | None = None
    lines: Annotated[list[ShortText], Field(max_length=4)] = Field(default_factory=list)
    city: ShortText | None = None
    postal_code: Annotated[str, Field(max_length=16)] | None = None
    country: Country
    latitude: Annotated[float, Field(ge=-90, le=90)] | None = None
    longitude: Annotated[float, Field(ge=-180, le=180)] | None = None

    def key(self) -> str:
        """Return the address id, or a stable id derived from the normalised address."""
        if self.id:
            return self.id
        normal = "|".join(
            " ".join(part.lower().split())
            for part in [*self.lines, self.city or "", self.postal_code or "", self.country]
        )
        return "addr_" + hashlib.sha256(normal.encode()).hexdigest()[:16]


class Item(Strict):
    sku: Identifier
    quantity: Annotated[int, Field(ge=1, le=1000)]
    unit_price: Money
    limited_stock: bool = False


class Order(Strict):
    """An order at creation, as the order system knows it."""

    order_id: OrderId
    created_at: EventTime | None = Field(
        None,
        description="ISO 8601 with its zone, from `earliest_event_time` to now (plus the "
        "clock skew); default: when OrderShield receives it",
    )
    customer: Customer
    device: Device | None = None
    ip: IpAddress | None = None
    payment: Payment | None = None
    shipping_address: Address | None = None
    billing_address: Address | None = None
    items: Annotated[list[Item], Field(min_length=1, max_length=500)]
    amount: Money
    currency: OrderCurrency = Field(description="ISO 4217 code of the order's currency")
    attributes: Annotated[dict[AttributeName, AttributeValue], MaxLen(64)] = Field(
        default_factory=dict,
        description="the extra columns the feature pack declares (a terminal, a channel), "
        "by name: text, number or flag as declared",
    )

    @model_validator(mode="after")
    def _attributes_declared(self, info: ValidationInfo) -> Order:
        """Refuse an attribute the feature pack does not declare, or of another kind.

        A stored order is read under today's pack: what it no longer declares is left out.
        """
        kinds = current().extra_kinds
        if isinstance(info.context, dict) and info.context.get("stored"):
            self.attributes = {
                name: value
                for name, value in self.attributes.items()
                if name in kinds and _is_kind(value, kinds[name])
            }
            return self
        problems: list[tuple[str, object, str]] = []
        for name, value in self.attributes.items():
            kind = kinds.get(name)
            if isinstance(value, str) and has_control(value):
                problems.append((name, value, "must not hold control characters"))
            elif kind is None:
                known = ", ".join(kinds) or "none: no feature pack is in use"
                problems.append((name, value, f"not a declared attribute (declared: {known})"))
            elif not _is_kind(value, kind):
                problems.append((name, value, f"must be {KIND_WORDS[kind]}"))
        if problems:
            raise ValidationError.from_exception_data(
                type(self).__name__,
                [
                    InitErrorDetails(
                        type=PydanticCustomError("attribute", "{reason}", {"reason": reason}),
                        loc=("attributes", name),
                        input=value,
                    )
                    for name, value, reason in problems
                ],
            )
        return self

    @model_validator(mode="after")
    def _amount_fits_currency(self, info: ValidationInfo) -> Order:
        """Refuse an amount finer than its currency's minor units (JPY 1.5), naming `amount`."""
        if isinstance(info.context, dict) and info.context.get("stored"):
            return self  # a stored order is read as it came, even from before this rule
        try:
            check_minor_units(self.amount, self.currency)
        except TooManyDecimals as error:
            problem = PydanticCustomError("minor_units", "{reason}", {"reason": str(error)})
            detail = InitErrorDetails(type=problem, loc=("amount",), input=str(self.amount))
            raise ValidationError.from_exception_data(type(self).__name__, [detail]) from error
        return self

    def sha256(self) -> str:
        """Return the request hash of `RequestModel.sha256`, taken from the order's JSON form."""
        return request_hash(self.model_dump(mode="json"))

    def forms(self, received_at: datetime) -> OrderForms:
        """Return what scoring needs of the order: its stored form, hash and canonical record."""
        payload = self.model_dump(mode="json")
        return OrderForms(payload, request_hash(payload), self.canonical(received_at))

    def canonical(self, received_at: datetime) -> dict[str, Any]:
        """Return the order as a canonical record (times in epoch milliseconds)."""
        created = self.created_at or received_at
        ship, bill, pay, device = (
            self.shipping_address,
            self.billing_address,
            self.payment,
            self.device,
        )
        return {
            "order_id": self.order_id,
            "created_at": _ms(created),
            "customer_id": self.customer.id,
            "customer_created_at": _ms(self.customer.account_created_at),
            "time_zone": self.customer.time_zone,
            "email": self.customer.email,
            "phone": self.customer.phone,
            "device_id": device.fingerprint if device else None,
            "user_agent": device.user_agent if device else None,
            "is_emulator": device.emulator if device else None,
            "ip": str(self.ip) if self.ip else None,
            "payment_id": pay.account_id if pay else None,
            "payment_method": pay.method if pay else None,
            "card_bin": pay.card_bin if pay else None,
            "card_last4": pay.last4 if pay else None,
            "card_country": pay.card_country if pay else None,
            "shipping_address_id": ship.key() if ship else None,
            "shipping_country": ship.country if ship else None,
            "shipping_lat": ship.latitude if ship else None,
            "shipping_lon": ship.longitude if ship else None,
            "billing_address_id": bill.key() if bill else None,
            "billing_country": bill.country if bill else None,
            "amount": float(self.amount),
            "currency": self.currency,
            "item_count": sum(i.quantity for i in self.items),
            "limited_quantity": sum(i.quantity for i in self.items if i.limited_stock),
            "max_item_quantity": max(i.quantity for i in self.items),
            **{c.name: self.attributes.get(c.name) for c in current().extra_columns},
        }


def canonical_of(order: Mapping[str, Any], received_at: datetime) -> dict[str, Any] | None:
    """Return a stored order's canonical record as scoring built it at `received_at`.

    The canonical form is derived, never stored: None when the order no longer
    validates, as once an erasure has removed a value it needs.
    """
    try:
        # The request rules (text, time range) held when it came: not applied again.
        return Order.model_validate(order, context=STORED).canonical(received_at)
    except ValidationError:
        return None


def _ms(moment: datetime | None) -> int | None:
    return None if moment is None else moment_ms(moment)


class ReasonOut(BaseModel):
    feature: str
    value: float | None
    contribution: float = Field(description="SHAP contribution in log-odds")
    text: str


class StockStep(BaseModel):
    """One transition of the order's stock hold."""

    state: Literal["frozen", "released", "cancelled", "expired"]
    previous: Literal["frozen", "released", "cancelled", "expired"] | None
    outcome: Literal["release", "cancel"] | None = Field(
        None, description="what an expiry did to the stock"
    )
    at: datetime
    by: str
    reason: str | None


class Stock(BaseModel):
    freeze: bool
    reason: str | None = None
    state: Literal["frozen", "released", "cancelled", "expired"] | None = Field(
        None, description="the hold's state; none when the stock was never held for review"
    )
    history: list[StockStep] = []


class ModelRef(BaseModel):
    name: str
    version: str


class SpecRef(BaseModel):
    hash: str


class Decision(BaseModel):
    """OrderShield's answer for one order."""

    order_id: str
    decision_id: str
    score: float = Field(description="fraud probability")
    tier: Literal["low", "medium", "high", "critical"]
    action: Literal["approve", "review", "decline"]
    stock: Stock
    reasons: list[ReasonOut]
    rules: list[dict[str, Any]] = []
    model: ModelRef
    feature_spec: SpecRef
    degraded: bool = Field(description="whether a part could not answer in time")
    degraded_parts: list[str] = Field(
        [], description="the parts that could not be used: online_store, online_state_lost"
    )
    fail_policy: Literal["open", "review", "model"] | None = Field(
        None, description="the operator's fail policy that decided a degraded order"
    )
    latency_ms: float
    decided_at: datetime
