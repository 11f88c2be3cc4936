"""Warm start: the first order after a start, or after a new champion, as fast as the rest.

What the scoring path builds on first use is built before `/readyz` says
ready (`ScoringService.warm_up` runs a made-up order through the whole path,
storing nothing): the IP database, the online store's connection, the
features' cached plans, the order's validators and the country and currency
tables they load, the booster's exact-SHAP tables and their compiled kernels,
and the decision's SQL statements. A new champion gets its SHAP tables before
it is swapped in (the `ModelHolder` is given `warm_scorer`), so no scoring
thread builds them while it holds its order's entities.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np

from explain.contributions import explain
from features.catalog import current
from features.spec import Stream
from features.state import stream_plan
from models.scorer import Scorer
from service.scoring.schemas import Order

# An address from the documentation range (RFC 5737): looking it up loads the IP database.
WARM_UP_IP = "192.0.2.1"
# Every optional part set, so that every validator and every feature runs once.
WARM_UP_ORDER: dict[str, Any] = {
    "customer": {
        "id": "warm-up",
        "email": "warm-up@example.com",
        "phone": "+49 30 1234567",
        "account_created_at": "2020-01-01T00:00:00Z",
    },
    "device": {"fingerprint": "warm-up", "user_agent": "warm-up", "emulator": False},
    "ip": WARM_UP_IP,
    "payment": {
        "account_id": "warm-up",
        "method": "card",
        "card_bin": "400000",
        "last4": "0000",
        "card_country": "DE",
    },
    "shipping_address": {
        "name": "Warm Up",
        "lines": ["1 Example Street"],
        "city": "Berlin",
        "postal_code": "10115",
        "country": "DE",
        "latitude": 52.5,
        "longitude": 13.4,
    },
    "billing_address": {"id": "warm-up", "country": "DE"},
    "items": [{"sku": "warm-up", "quantity": 1, "unit_price": "1.00", "limited_stock": True}],
    "amount": "1.00",
    "currency": "EUR",
}


def warm_order(order_id: str, created_at: datetime) -> Order:
    """Return the made-up order of the warm-up, validated as a request's body is."""
    return Order.model_validate(
        {**WARM_UP_ORDER, "order_id": order_id, "created_at": created_at.isoformat()}
    )


def warm_plans() -> None:
    """Build the features' cached plan of every entity and stream."""
    for entity in current().entities:
        for stream in Stream:
            stream_plan(current().aggregates_of[entity], stream)


def warm_scorer(scorer: Scorer) -> None:
    """Build the booster's exact-SHAP tables (and compile their kernels, the first time)."""
    explain(scorer.booster, np.full((1, len(scorer.card.features)), np.nan))
