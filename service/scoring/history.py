"""The decided orders as an order log: canonical rows with their labels and declines."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine

from service.persistence.history import decided_orders
from service.scoring.schemas import canonical_of

LABELS = {"fraud": 1, "legit": 0}
MS_COLUMNS = ("created_at", "customer_created_at")


def decided_frame(engine: Engine) -> pd.DataFrame:
    """Return the decided orders as canonical rows with their latest labels."""
    rows = []
    for order in decided_orders(engine):
        canonical = canonical_of(order.order, order.decided_at)
        if canonical is None:
            continue  # an erased order no longer holds what training reads
        rows.append(
            {
                **canonical,
                "payment_declined": order.declined,
                "label": LABELS.get(order.label or ""),
                "scenario": order.reason,
                "label_known_at": order.label_known_at,
                "fraud_known_at": order.fraud_known_at,
                "labelled_at": order.labelled_at,
            }
        )
    frame = pd.DataFrame(rows)
    for column in MS_COLUMNS:  # the canonical record keeps times as epoch milliseconds
        if column in frame:
            frame[column] = pd.to_datetime(frame[column], unit="ms", utc=True)
    return frame
