"""The order simulator: canonical shape, determinism, late labels, real networks, scenarios."""

from __future__ import annotations

from typing import cast

import numpy as np
import pandas as pd
import pytest
from geoip2fast import GeoIP2Fast

from features.ipclusters import HOSTING_AS_MARKERS
from features.schema import COLUMN_NAMES, conform
from training.sources.simulator import SCENARIOS, simulate_orders
from training.sources.simulator.geo import CODES, HOME_CODES
from training.sources.simulator.hoarding import stock_hoarding
from training.sources.simulator.ips import BLOCKS, Block, addresses, blocks
from training.sources.simulator.timeline import Period, launches
from training.sources.simulator.world import World

N = 20_000
START = pd.Timestamp("2026-01-01", tz="UTC")
DAYS = 120
CHARGEBACKS = ("card_testing", "account_takeover", "reshipping", "friendly_fraud")


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return simulate_orders(N, seed=11)


@pytest.fixture(scope="module")
def geoip() -> GeoIP2Fast:
    return GeoIP2Fast(geoip2fast_data_file="geoip2fast-asn-ipv6.dat.gz")


@pytest.fixture(scope="module")
def networks(frame: pd.DataFrame, geoip: GeoIP2Fast) -> pd.DataFrame:
    """Country, ASN name and hosting flag of every order's IP, as the geo database sees them."""
    found = {ip: geoip.lookup(ip) for ip in frame["ip"].unique()}
    asn = frame["ip"].map(lambda ip: found[ip].asn_name)
    return pd.DataFrame(
        {
            "country": frame["ip"].map(lambda ip: found[ip].country_code),
            "asn": asn,
            "hosting": asn.map(_is_hosting),
        }
    )


def _is_hosting(asn_name: str) -> bool:
    return any(owner in asn_name.upper() for owner in HOSTING_AS_MARKERS)


def _of(frame: pd.DataFrame, scenario: str | None) -> pd.DataFrame:
    if scenario is None:
        return frame[frame["scenario"].isna()]
    return frame[frame["scenario"] == scenario]


def _account_age(orders: pd.DataFrame) -> pd.Series[pd.Timedelta]:
    return orders["created_at"] - orders["customer_created_at"]


def test_frame_is_canonical_and_sorted(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == list(COLUMN_NAMES)
    assert len(frame) == N
    assert frame["created_at"].is_monotonic_increasing
    pd.testing.assert_frame_equal(conform(frame), frame)


def test_same_seed_same_frame_other_seed_other_frame() -> None:
    first = simulate_orders(3_000, seed=5)
    pd.testing.assert_frame_equal(first, simulate_orders(3_000, seed=5))
    other = simulate_orders(3_000, seed=6)
    assert not first["created_at"].equals(other["created_at"])
    assert not first["order_id"].equals(other["order_id"])


def test_times_are_unique_milliseconds_inside_the_period(frame: pd.DataFrame) -> None:
    created = frame["created_at"]
    assert str(created.dtype) == "datetime64[ms, UTC]"
    assert created.is_unique
    assert frame["order_id"].is_unique
    assert created.min() >= START
    assert created.max() < START + pd.Timedelta(days=DAYS, seconds=1)
    millis = created.astype("int64") % 1000
    assert (millis != 0).mean() > 0.9


def test_fraud_rate_and_every_scenario(frame: pd.DataFrame) -> None:
    assert frame["label"].notna().all()
    assert 0.01 <= frame["label"].mean() <= 0.025
    assert set(frame["scenario"].dropna()) == set(SCENARIOS)
    assert ((frame["label"] == 1) == frame["scenario"].notna()).all()


def test_labels_become_known_after_the_order(frame: pd.DataFrame) -> None:
    delay: pd.Series[pd.Timedelta] = frame["label_known_at"] - frame["created_at"]
    assert (delay > pd.Timedelta(0)).all()
    assert delay[frame["scenario"] == "stock_hoarding"].max() < pd.Timedelta(days=2)
    charged_back = delay[frame["scenario"].isin(CHARGEBACKS)]
    assert charged_back.min() >= pd.Timedelta(days=3)
    assert charged_back.max() <= pd.Timedelta(days=60)
    assert charged_back.median() < pd.Timedelta(days=30)
    assert delay[frame["scenario"].isna()].min() >= pd.Timedelta(days=60)


def test_accounts_exist_before_their_orders(frame: pd.DataFrame) -> None:
    assert (frame["customer_created_at"] < frame["created_at"]).all()
    honest = _of(frame, None)
    established = honest["customer_created_at"] < START - pd.Timedelta(days=30)
    assert established.mean() > 0.5
    assert (honest["customer_created_at"] > START).mean() > 0.05


def test_orders_follow_the_evening_and_the_weekend(frame: pd.DataFrame) -> None:
    europe = frame[frame["shipping_country"].isin(["DE", "FR", "NL", "ES", "IT"])]
    local_hour = (europe["created_at"] + pd.Timedelta(hours=1)).dt.hour
    evening = local_hour.between(18, 22).sum() / 5
    night = local_hour.between(2, 6).sum() / 5
    assert evening > 5 * night
    per_day = frame.groupby(frame["created_at"].dt.date).size()
    weekday = pd.to_datetime(per_day.index).dayofweek
    assert per_day[weekday >= 5].mean() > per_day[weekday.isin([1, 2])].mean()


@pytest.mark.parametrize("block", BLOCKS, ids=[b.network for b in BLOCKS])
def test_ip_block_resolves_to_its_country_and_owner(block: Block, geoip: GeoIP2Fast) -> None:
    rng = np.random.default_rng(0)
    sample = np.r_[addresses(rng, block, 40), addresses(rng, block, 10, subnet=True)]
    for ip in sample:
        found = geoip.lookup(ip)
        assert found.country_code == block.country, ip
        assert block.owner.lower() in found.asn_name.lower(), (ip, found.asn_name)
        assert _is_hosting(found.asn_name) == (block.kind == "hosting"), (ip, found.asn_name)


def test_ip_table_covers_countries_kinds_and_providers() -> None:
    assert {b.country for b in blocks("residential", ipv6=False)} == set(CODES)
    assert len({b.country for b in blocks("residential", ipv6=True)}) >= 4
    assert {b.country for b in blocks("mobile")} == set(HOME_CODES)
    owners = " ".join(b.owner.upper() for b in blocks("hosting"))
    # The big clouds and the hosting networks fraud rents most are all there.
    assert sum(marker in owners for marker in HOSTING_AS_MARKERS) >= 10


def test_simulated_ips_resolve_like_their_owners(
    frame: pd.DataFrame, networks: pd.DataFrame
) -> None:
    assert networks["country"].str.fullmatch(r"[A-Z]{2}").all()
    honest = frame["scenario"].isna()
    at_home = networks["country"] == frame["shipping_country"]
    assert at_home[honest].mean() > 0.9
    travelling = honest & ~at_home & ~networks["hosting"]
    assert 0.003 < travelling.sum() / honest.sum() < 0.06
    assert 0.05 < frame.loc[honest, "ip"].str.contains(":").mean() < 0.3
    assert networks.loc[honest, "hosting"].mean() < 0.05


def test_carrier_nat_addresses_carry_many_honest_customers(
    frame: pd.DataFrame, networks: pd.DataFrame
) -> None:
    honest = frame["scenario"].isna()
    sharing = frame[honest].groupby("ip")["customer_id"].nunique()
    assert sharing.max() >= 50
    busiest = frame.index[honest & (frame["ip"] == sharing.idxmax())][0]
    carriers = [b.owner.lower() for b in blocks("mobile")]
    assert any(owner in cast(str, networks.at[busiest, "asn"]).lower() for owner in carriers)


def test_households_share_devices_and_addresses(frame: pd.DataFrame) -> None:
    honest = _of(frame, None)
    per_device = honest.groupby("device_id")["customer_id"].nunique()
    per_address = honest.groupby("shipping_address_id")["customer_id"].nunique()
    assert (per_device > 1).sum() > 20
    assert (per_address > 1).sum() > 100
    per_customer = honest.groupby("customer_id").agg(
        devices=("device_id", "nunique"),
        cards=("payment_id", "nunique"),
        homes=("billing_address_id", "nunique"),
        orders=("order_id", "size"),
    )
    regular = per_customer[per_customer["orders"] >= 5]
    assert regular["devices"].between(1, 3).all() and (regular["devices"] > 1).mean() > 0.3
    assert regular["cards"].between(1, 2).all() and (regular["cards"] > 1).mean() > 0.1
    assert (regular["homes"] > 1).mean() > 0.01


def test_honest_launch_buyers_come_in_bursts_of_small_quantities(frame: pd.DataFrame) -> None:
    limited = _of(frame, None)
    limited = limited[limited["limited_quantity"] > 0]
    times = np.sort(limited["created_at"].astype("int64").to_numpy())
    hour = 3_600_000
    neighbours = np.searchsorted(times, times + hour) - np.searchsorted(times, times - hour)
    assert (neighbours > 50).mean() > 0.7
    assert (limited["max_item_quantity"] <= 2).mean() > 0.85


def test_stock_hoarding(frame: pd.DataFrame, networks: pd.DataFrame) -> None:
    hoard, honest = _of(frame, "stock_hoarding"), _of(frame, None)
    assert hoard["limited_quantity"].median() >= 5 > 10 * honest["limited_quantity"].mean()
    assert hoard["max_item_quantity"].median() >= 4
    assert (hoard["max_item_quantity"] >= 3).all()
    honest_age = _account_age(honest).median()
    assert honest_age > pd.Timedelta(days=30)
    assert _account_age(hoard).median() < honest_age / 5
    assert hoard["email"].nunique() > 0.3 * len(hoard)
    times = np.sort(hoard["created_at"].astype("int64").to_numpy())
    hour = 3_600_000
    neighbours = np.searchsorted(times, times + hour) - np.searchsorted(times, times - hour)
    assert (neighbours > 5).mean() > 0.9


def test_hoarding_bursts_mostly_use_fresh_accounts_on_datacenters(geoip: GeoIP2Fast) -> None:
    # Enough bursts to measure their mix, which the two or three in a small frame cannot show.
    rng = np.random.default_rng(3)
    entities = World()
    period = Period.of("2026-01-01", DAYS)
    burst = stock_hoarding(rng, entities, period, launches(rng, period), 2_000)
    text = entities.ips.column("text")[burst["ip"]]
    hosted = np.mean([_is_hosting(geoip.lookup(ip).asn_name) for ip in text])
    assert 0.5 < hosted < 0.9
    per_ip = pd.Series(burst["customer"]).groupby(text).nunique()
    assert per_ip.max() >= 10
    age = burst["created_ms"] - entities.customers.column("created_ms")[burst["customer"]]
    assert 0.6 < (age < 3_600_000).mean() < 0.97


def test_card_testing(frame: pd.DataFrame) -> None:
    testing, honest = _of(frame, "card_testing"), _of(frame, None)
    honest_declines = honest["payment_declined"].mean()
    assert 0.01 < honest_declines < 0.04
    assert testing["payment_declined"].mean() > max(0.35, 10 * honest_declines)
    per_device = testing.groupby("device_id").agg(
        cards=("payment_id", "nunique"),
        issuers=("card_country", "nunique"),
        span=("created_at", lambda t: t.max() - t.min()),
    )
    assert per_device["cards"].median() >= 3
    assert testing["payment_id"].nunique() > 0.5 * len(testing)
    assert per_device["issuers"].median() >= 3
    assert per_device["span"].max() < pd.Timedelta(hours=3)
    assert honest.groupby("device_id")["payment_id"].nunique().quantile(0.99) <= 3
    assert testing["amount"].median() < 0.2 * honest["amount"].median()


def test_account_takeover(frame: pd.DataFrame, networks: pd.DataFrame) -> None:
    takeover, honest = _of(frame, "account_takeover"), _of(frame, None)
    # The owner's own orders: honest ones and the ones they later disputed.
    own = frame[frame["scenario"].isna() | (frame["scenario"] == "friendly_fraud")]
    history = own.groupby("customer_id").agg(
        first=("created_at", "min"),
        devices=("device_id", set),
        addresses=("shipping_address_id", set),
        country=("shipping_country", "first"),
    )
    seen = takeover.join(history, on="customer_id")
    assert (seen["first"] < seen["created_at"]).all()
    assert not any(d in known for d, known in zip(seen["device_id"], seen["devices"], strict=True))
    new_address = [
        a not in known
        for a, known in zip(seen["shipping_address_id"], seen["addresses"], strict=True)
    ]
    assert all(new_address)
    assert (_account_age(takeover) > pd.Timedelta(days=30)).all()
    assert takeover["amount"].median() > 3 * honest["amount"].median()
    abroad = networks.loc[takeover.index, "country"] != seen["country"]
    assert 0.4 < abroad.mean() < 0.95


def test_reshipping(frame: pd.DataFrame) -> None:
    reship, honest = _of(frame, "reshipping"), _of(frame, None)
    drops = reship.groupby("shipping_address_id").agg(
        customers=("customer_id", "nunique"),
        devices=("device_id", "nunique"),
        cards=("payment_id", "nunique"),
        span=("created_at", lambda t: t.max() - t.min()),
    )
    assert drops["customers"].min() >= 8
    assert (drops["cards"] >= drops["customers"]).all()
    assert drops["devices"].median() >= 5
    assert cast(pd.Timedelta, drops["span"].median()) > pd.Timedelta(days=1)
    assert honest.groupby("shipping_address_id")["customer_id"].nunique().quantile(0.99) <= 4
    assert (reship["billing_address_id"] != reship["shipping_address_id"]).all()


def test_friendly_fraud_looks_like_honest_orders(frame: pd.DataFrame) -> None:
    friendly, honest = _of(frame, "friendly_fraud"), _of(frame, None)
    assert (friendly["customer_created_at"] < START).all()
    assert not friendly["payment_declined"].any()
    devices = honest.groupby("customer_id")["device_id"].agg(set)
    known = [
        d in devices.get(c, set())
        for c, d in zip(friendly["customer_id"], friendly["device_id"], strict=True)
    ]
    assert np.mean(known) > 0.8
    assert 0.8 < friendly["amount"].median() / honest["amount"].median() < 3


def test_card_details_are_consistent(frame: pd.DataFrame) -> None:
    cards = frame[frame["card_bin"].notna()]
    assert cards["card_bin"].str.fullmatch(r"\d{6}").all()
    assert cards["card_last4"].str.fullmatch(r"\d{4}").all()
    assert (cards.groupby("card_bin")["card_country"].nunique() == 1).all()
    assert (frame["payment_method"] == "card").mean() > 0.8
    currency = frame["shipping_country"].map({"GB": "GBP", "US": "USD"}).fillna("EUR")
    assert (frame["currency"] == currency).all()
    assert frame["shipping_address_id"].str.startswith("addr_").all()
    assert frame["is_emulator"].mean() < 0.02


def test_progress_counts_up_to_the_total() -> None:
    seen: list[int] = []
    simulate_orders(2_000, seed=1, progress=seen.append)
    assert seen == sorted(seen)
    assert seen[-1] == 2_000


def test_small_runs_and_invalid_sizes() -> None:
    tiny = simulate_orders(25, days=1, start="2025-06-01")
    assert len(tiny) == 25 and tiny["created_at"].is_unique
    with pytest.raises(ValueError):
        simulate_orders(0)
    with pytest.raises(ValueError):
        simulate_orders(10, days=0)
