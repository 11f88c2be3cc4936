"""A feature pack's features are computed offline, joined through Feast and trained on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from features.build import build_offline_sources
from features.store import apply
from models.settings import ModelSettings
from tests.packs import pack_in_use
from tests.trained import HISTORY, MAPPING
from training.sources.history import load_history
from training.train import train

PACK = """
columns: {sales_channel: text}
entities:
  channel: {key: sales_channel, description: the sales channel, family: order}
aggregates:
  - name: "channel_orders_{window}"
    entity: channel
    agg: count
    windows: [1d]
    text: "this channel took {value:.0f} orders in the last {window}"
  - name: "customer_channels_{window}"
    entity: customer
    agg: distinct
    of: sales_channel
    windows: [30d]
    text: "this account ordered through {value:.0f} channels in the last {window}"
  - name: customer_amount_sum_7d
    entity: customer
    agg: sum
    of: amount_reporting
    windows: [null]
    text: "this account spent {value:.2f} in all"
ratios:
  - name: items_per_channel_order
    numerator: item_count
    denominator: channel_orders_1d
    text: "the order has {value:.2f} items per order of its channel today"
"""


@pytest.fixture
def channel_pack(tmp_path: Path) -> Iterator[Path]:
    pack = tmp_path / "pack.yaml"
    pack.write_text(PACK)
    with pack_in_use(pack):
        yield pack


def test_a_pack_feature_is_trained_on(tmp_path: Path, channel_pack: Path) -> None:
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(
        MAPPING.read_text().replace("columns:\n", "columns:\n  sales_channel: sales_channel\n")
    )
    settings = ModelSettings(data_dir=tmp_path / "data")
    orders = load_history(HISTORY, mapping)
    assert orders["sales_channel"].notna().all()
    settings.data_dir.mkdir(parents=True)
    orders.to_parquet(settings.orders_path, index=False)
    build_offline_sources(orders, settings)
    apply(settings)
    result = train(settings)
    features = result.card.features
    for name in ("channel_orders_1d", "customer_channels_30d", "items_per_channel_order"):
        assert name in features, name
    # The history is in USD and no rate table is given: amounts in the reporting currency
    # are unknown, so a pack feature over them is left out like a built-in one.
    assert "customer_amount_sum_7d" not in features
    assert "customer_amount_mean" not in features
