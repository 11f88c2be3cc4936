"""What the shop sends for a stream of orders: each order, its decline, its labels, in time order.

Built from the order rows alone (not from the feature code's event times), so the tests that
replay a stream through the API check the service against an independent account of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import pandas as pd
from fastapi.testclient import TestClient
from httpx import Response

from features.schema import DECLINE_DELAY
from training.sources.payloads import order_payload

# (when, tie: an order before the outcomes of its moment, kind, row)
Event = tuple[pd.Timestamp, int, str, int]


def shop_events(orders: pd.DataFrame) -> list[Event]:
    """Return every order, decline and label up to the last order, in time order.

    A label later withdrawn is sent as a fraud label at its flag time, then the
    legitimate label at its known time.
    """
    created = cast(list[pd.Timestamp], orders["created_at"].tolist())
    declined = orders["payment_declined"].fillna(False).tolist()
    labels = orders["label"].tolist()
    known = cast(list[pd.Timestamp], orders["label_known_at"].tolist())
    flagged = cast(list[pd.Timestamp], orders["fraud_known_at"].tolist())
    out: list[Event] = []
    for i, moment in enumerate(created):
        out.append((moment, 0, "order", i))
        if declined[i]:
            out.append((moment + DECLINE_DELAY, 1, "decline", i))
        if pd.isna(labels[i]):
            continue
        if pd.notna(flagged[i]):
            out.append((flagged[i], 1, "fraud", i))
        out.append((known[i], 2, "fraud" if labels[i] == 1 else "legit", i))
    return sorted((e for e in out if e[0] <= max(created)), key=lambda e: (e[0], e[1]))


def post(client: TestClient, orders: pd.DataFrame, event: Event) -> Response:
    """Send one event of the stream to the API as the shop would; return the response."""
    moment, _, kind, row = event
    order_id = cast(str, orders.at[row, "order_id"])
    if kind == "order":
        response: Response = client.post("/v1/orders/score", json=order_payload(orders.iloc[row]))
    elif kind == "decline":
        response = client.post(
            f"/v1/orders/{order_id}/payment",
            json={"status": "declined", "known_at": moment.isoformat()},
        )
    else:
        reason = orders.at[row, "scenario"]
        label = {
            "order_id": order_id,
            "label": kind,
            "reason": reason if isinstance(reason, str) else None,
            "known_at": moment.isoformat(),
        }
        response = client.post("/v1/labels", json=label)
    return response


def replay(client: TestClient, orders: pd.DataFrame) -> Iterator[tuple[Event, Response]]:
    """Send the whole stream, each event answered 200; yield each event with its answer.

    The stream holds every kind of event (order, decline, fraud, legit), or the
    replay would prove less than it claims.
    """
    events = shop_events(orders)
    assert {kind for _, _, kind, _ in events} == {"order", "decline", "fraud", "legit"}
    for event in events:
        response = post(client, orders, event)
        assert response.status_code == 200, response.text
        yield event, response
