"""Feature packs: declared in YAML, they join the one spec (hash, offline, online, parity)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from features.catalog import PACK_VARIABLE, Spec, current, spec_hash, use_pack
from features.columns import enrich, to_columns
from features.pack import FeaturePackError, load_pack
from features.schema import conform
from tests.features.eventlog import random_orders, replay_against_offline
from tests.packs import EXAMPLE_PACK, pack_in_use


@pytest.fixture
def terminal_pack() -> Iterator[Spec]:
    """Make the shipped example pack the one in use, for one test."""
    with pack_in_use(EXAMPLE_PACK) as spec:
        yield spec


def test_the_example_pack_adds_its_entity_aggregates_and_ratios(terminal_pack: Spec) -> None:
    names = set(terminal_pack.by_name)
    assert {"terminal_orders_7d", "terminal_labelled_30d", "terminal_channels_7d"} <= names
    assert {"terminal_risk_1d", "terminal_risk_30d", "amount_vs_terminal_mean_7d"} <= names
    assert [e.name for e in terminal_pack.entities][-1] == "terminal"
    risk = terminal_pack.by_name["terminal_risk_7d"]
    assert risk.needs == ("terminal_fraud_7d", "terminal_labelled_7d")
    assert "in the last 7 days" in terminal_pack.by_name["terminal_orders_7d"].text


def test_the_spec_hash_covers_the_pack(tmp_path: Path) -> None:
    without = spec_hash()
    with pack_in_use(EXAMPLE_PACK):
        with_pack = spec_hash()
    edited = tmp_path / "pack.yaml"
    edited.write_text(EXAMPLE_PACK.read_text().replace("[1d, 7d]", "[2d, 7d]"))
    with pack_in_use(edited):
        assert len({without, with_pack, spec_hash()}) == 3
    assert spec_hash() == without


def _terminal_columns(n: int, seed: int) -> dict[str, np.ndarray]:
    orders = random_orders(n, seed)
    rng = np.random.default_rng(seed)
    orders["terminal_id"] = [f"t{k}" for k in rng.integers(0, 5, n)]
    orders["channel"] = np.array(["web", "app", "phone", None], dtype=object)[rng.integers(0, 4, n)]
    return to_columns(enrich(conform(orders, current().extra_columns)))


def test_pack_features_replay_online_exactly_as_offline(terminal_pack: Spec) -> None:
    columns = _terminal_columns(1200, seed=3)
    assert terminal_pack.pack is not None and len(terminal_pack.pack.aggregates) >= 10
    pack_only = Spec(terminal_pack.pack)
    pack_only.__dict__["aggregates"] = terminal_pack.pack.aggregates
    compared = replay_against_offline(columns, pack_only)
    # Every pack aggregate on every order with a terminal (or customer): none skipped.
    assert compared >= 1200 * len(pack_only.aggregates) * 0.9


def test_pack_columns_pass_through_the_canonical_form(terminal_pack: Spec) -> None:
    columns = _terminal_columns(50, seed=1)
    assert columns["terminal_id"][0].startswith("t")
    assert "channel" in columns


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("aggregates: [{name: x_7d, entity: shop, agg: count, text: t}]", "unknown entity 'shop'"),
        (
            "aggregates: [{name: 'x_{window}', entity: device, agg: count, windows: [7y], "
            "text: t}]",
            "window '7y'",
        ),
        ("aggregates: [{name: device_orders_1h, entity: device, agg: count, text: t}]", "built-in"),
        ("aggregates: [{name: x, entity: device, agg: sum, of: email, text: t}]", "numeric"),
        ("aggregates: [{name: x, entity: device, agg: count, of: amount, text: t}]", "takes no"),
        ("aggregates: [{name: x, entity: device, agg: count, text: '{valu}'}]", "template"),
        ("columns: {amount: number}", "canonical"),
        ("entities: {shop: {key: shop_id, description: d}}", "not a text column"),
        ("ratios: [{name: r, numerator: nope, denominator: amount, text: t}]", "'nope'"),
        ("aggregates: [{name: x, entity: device, agg: count, text: t, colour: red}]", "colour"),
        ("- just a list", "YAML mapping"),
        (
            "aggregates: [{name: x, entity: customer, agg: distinct, of: amount_reporting, "
            "text: t}]",
            "both counted distinct and summed",
        ),
        ("values: [{column: label, text: t}]", "not a number or flag column"),
        ("values: [{column: amount, text: t}]", "built-in"),
        ("values: [{column: shipping_lat, text: t}, {column: shipping_lat, text: u}]", "twice"),
        ("aggregates: [{name: x, entity: device, agg: count, text: '{value.x}'}]", "template"),
        ("aggregates: [{name: x, entity: device, agg: count, text: '{value[0]}'}]", "template"),
        ("aggregates: [{name: x, entity: device, agg: sum, of: label, text: t}]", "no column"),
        ("aggregates: [{name: created_at, entity: device, agg: count, text: t}]", "a column"),
        (
            "aggregates: [{name: 'x_{window}', entity: device, agg: count, windows: [99999999d], "
            "text: t}]",
            "99999999d",
        ),
    ],
)
def test_a_bad_pack_is_refused_naming_its_entry(tmp_path: Path, text: str, names: str) -> None:
    path = tmp_path / "pack.yaml"
    path.write_text(text)
    with pytest.raises(FeaturePackError, match=r"pack\.yaml") as refused:
        load_pack(path)
    assert names in str(refused.value)


def test_a_ratio_reads_a_request_time_feature_not_the_column_of_its_name(tmp_path: Path) -> None:
    pack = tmp_path / "pack.yaml"
    pack.write_text("ratios: [{name: r, numerator: amount, denominator: item_count, text: t}]")
    (ratio,) = load_pack(pack).derived
    columns = {"amount": np.array([100.0]), "amount_reporting": np.array([50.0])}
    columns["item_count"] = np.array([2.0])
    assert ratio.compute(columns).tolist() == [25.0]  # the reporting amount, per item


def test_a_value_feature_is_named_after_its_own_column(tmp_path: Path) -> None:
    pack = tmp_path / "pack.yaml"
    pack.write_text(
        "values: [{column: shipping_lat, text: 'latitude {value}', text_when_false: none}]"
    )
    (value,) = load_pack(pack).derived
    assert value.name == "shipping_lat"
    assert value.compute({"shipping_lat": np.array([52.5])}).tolist() == [52.5]


def test_a_pack_that_does_not_load_leaves_the_one_in_use(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("aggregates: [{name: x, entity: shop, agg: count, text: t}]")
    with pack_in_use(EXAMPLE_PACK) as in_use:
        with pytest.raises(FeaturePackError):
            use_pack(broken)
        assert os.environ[PACK_VARIABLE] == str(EXAMPLE_PACK.resolve())
        assert current() == in_use
