"""Coded values an order carries: countries, currencies and time zones.

Declared once, and checked the same way wherever an order comes in: by the
scoring API (`service.scoring.schemas`) and by a history import
(`training.sources.history`), so that a model never learns from a code the
API would refuse (a country spelled out, a time zone that does not exist).
"""

from __future__ import annotations

from typing import Annotated, Literal

import pycountry
from pydantic import TypeAdapter, ValidationError, WithJsonSchema
from pydantic_extra_types.country import CountryAlpha2
from pydantic_extra_types.currency_code import Currency
from pydantic_extra_types.timezone_name import TimeZoneName

# Codes ISO 4217 withdrew recently but order systems still send (the libraries follow ISO).
WithdrawnCurrency = Literal["ANG", "BGN", "ZWL"]
# Kosovo: user-assigned in ISO 3166-1, but used by card networks and shops alike.
UserAssignedCountry = Literal["XK"]
COUNTRIES = sorted({country.alpha_2 for country in pycountry.countries} | {"XK"})
Country = Annotated[
    CountryAlpha2 | UserAssignedCountry, WithJsonSchema({"type": "string", "enum": COUNTRIES})
]
OrderCurrency = Currency | WithdrawnCurrency

# The order columns that hold a code, and what each must be (`as_taken`).
CODED_COLUMNS: dict[str, tuple[TypeAdapter[str], str]] = {
    "currency": (TypeAdapter(OrderCurrency), "an ISO 4217 currency code (EUR)"),
    "time_zone": (TypeAdapter(TimeZoneName), "an IANA time zone name (Europe/Berlin)"),
    **{
        column: (TypeAdapter(Country), "an ISO 3166-1 alpha-2 country code (DE)")
        for column in ("card_country", "shipping_country", "billing_country")
    },
}


def as_taken(column: str, value: str) -> str | None:
    """Return a coded column's value as the scoring API takes it ('eur' is EUR), None if refused."""
    adapter, _ = CODED_COLUMNS[column]
    try:
        return str(adapter.validate_python(value))
    except ValidationError:
        return None
