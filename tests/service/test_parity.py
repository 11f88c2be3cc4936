"""Training/serving skew: replaying a stream through the API serves the offline vectors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.catalog import current
from features.columns import enrich, to_columns
from features.offline import point_in_time
from features.vector import feature_matrix
from models.registry import load_scorer
from service.persistence import decision_by_order, make_engine
from tests.packs import EXAMPLE_PACK, pack_in_use
from tests.service.clients import api_client
from tests.service.conftest import prepared_settings
from tests.service.shop import replay

REPLAYED = 900


@pytest.fixture(params=["sqlite", "redis", "sqlite+pack"])
def online_store(request: pytest.FixtureRequest) -> Iterator[str]:
    """The online store, and whether the example feature pack (a terminal entity) is in use."""
    store, _, pack = str(request.param).partition("+")
    with pack_in_use(EXAMPLE_PACK if pack else None):
        yield store


def test_replayed_stream_is_served_exactly_the_offline_vectors(
    online_store: str, tmp_path: Path, stream: pd.DataFrame, request: pytest.FixtureRequest
) -> None:
    # A busy slice: the densest window of the stream, with its quiet gaps.
    orders = stream.iloc[1000 : 1000 + REPLAYED].reset_index(drop=True)
    if current().pack is not None:  # the pack's columns, sent as the order's attributes
        orders["terminal_id"] = "t" + (orders["shipping_address_id"].str.len() % 5).astype(str)
        orders["channel"] = np.where(orders.index % 3 == 0, "app", "web")
    # Bring chargebacks forward into the replayed day so label-based features move.
    fraud = (orders["label"] == 1).fillna(False).to_numpy(dtype=bool)
    delays = pd.to_timedelta(
        np.random.default_rng(0).integers(60_000, 6 * 3_600_000, fraud.sum()), unit="ms"
    )
    orders.loc[fraud, "label_known_at"] = orders.loc[fraud, "created_at"] + delays
    # Disputes: orders on devices that order again are charged back within half an hour,
    # half of them won within the next half hour (legitimate from then on).
    rng = np.random.default_rng(1)
    again = (orders["device_id"].duplicated(keep="last") & ~fraud).to_numpy()
    disputed = rng.choice(np.flatnonzero(again), 20, replace=False)
    flagged = orders.loc[disputed, "created_at"] + pd.to_timedelta(
        rng.integers(60_000, 1_800_000, len(disputed)), unit="ms"
    )
    orders.loc[disputed, "label"] = 1
    orders.loc[disputed, "scenario"] = "chargeback"
    orders.loc[disputed, "label_known_at"] = flagged
    won = disputed[::2]
    orders.loc[won, "fraud_known_at"] = orders.loc[won, "label_known_at"]
    orders.loc[won, "label_known_at"] += pd.to_timedelta(
        rng.integers(60_000, 1_800_000, len(won)), unit="ms"
    )
    orders.loc[won, "label"] = 0
    last = orders["created_at"].max()
    assert (orders.loc[won, "label_known_at"] <= last).sum() >= 5
    redis_url = request.getfixturevalue("redis_url") if online_store == "redis" else None
    settings = prepared_settings(tmp_path, orders, online_store, redis_url, empty_store=True)
    with api_client(settings) as client:
        for event, response in replay(client, orders):
            if event[2] in ("fraud", "legit"):
                assert response.json()["applied_to_features"], response.text

    names = load_scorer(settings).card.features
    enriched = enrich(orders)
    columns = to_columns(enriched)
    expected = feature_matrix(columns, point_in_time(columns, current().aggregates), names)
    engine = make_engine(settings.db_url)
    mismatches = []
    for row, order_id in enumerate(orders["order_id"]):
        record = decision_by_order(engine, order_id)
        assert record is not None
        served = np.array(
            [np.nan if record.features[n] is None else record.features[n] for n in names]
        )
        same = np.isclose(served, expected[row], rtol=0, atol=1e-9) | (
            np.isnan(served) & np.isnan(expected[row])
        )
        mismatches += [
            (order_id, names[j], served[j], expected[row][j]) for j in np.flatnonzero(~same)
        ]
    assert not mismatches, mismatches[:10]
    # The replay exercised windows, labels and declines, not just empty states.
    assert np.nanmax(expected[:, names.index("device_orders_1h")]) >= 3
    assert np.nanmax(expected[:, names.index("payment_declines_7d")]) >= 1
    label_based = [names.index(n) for n in names if "fraud" in n]
    assert np.nanmax(expected[:, label_based]) >= 1
    assert np.nanmax(expected[:, names.index("payment_labelled_1d")]) >= 1
    if current().pack is not None:  # the pack's features were served, and moved
        assert np.nanmax(expected[:, names.index("terminal_orders_1d")]) >= 3
        assert np.nanmax(expected[:, names.index("terminal_risk_30d")]) > 0
        assert np.nanmax(expected[:, names.index("terminal_channels_7d")]) == 2
    # ... and withdrawals: without them, some order would have read another fraud count.
    kept = orders.assign(label=orders["label"].where(orders["fraud_known_at"].isna(), 1))
    kept["label_known_at"] = kept["fraud_known_at"].fillna(kept["label_known_at"])
    unwithdrawn = to_columns(enrich(kept.drop(columns="fraud_known_at")))
    counted = feature_matrix(unwithdrawn, point_in_time(unwithdrawn, current().aggregates), names)
    assert (counted[:, label_based] > np.nan_to_num(expected[:, label_based])).any()
