"""The simulator's difficulty: normal is the world as it was, hard disguises every ring."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
from geoip2fast import GeoIP2Fast

from features.ipclusters import HOSTING_AS_MARKERS
from training.sources.simulator import DIFFICULTIES, simulate_orders
from training.sources.simulator.difficulty import fit, paced
from training.sources.simulator.names import BOT_USER_AGENTS

N = 20_000
SEED = 11
HOUR = pd.Timedelta(hours=1)
# The columns the simulator wrote before difficulties existed, and their digest for
# simulate_orders(N, seed=SEED) at that time: the default world must not move.
COLUMNS = (
    "order_id",
    "created_at",
    "customer_id",
    "customer_created_at",
    "email",
    "phone",
    "device_id",
    "user_agent",
    "is_emulator",
    "ip",
    "payment_id",
    "payment_method",
    "card_bin",
    "card_last4",
    "card_country",
    "payment_declined",
    "shipping_address_id",
    "shipping_country",
    "shipping_lat",
    "shipping_lon",
    "billing_address_id",
    "billing_country",
    "amount",
    "currency",
    "item_count",
    "limited_quantity",
    "max_item_quantity",
    "label",
    "scenario",
    "label_known_at",
)
DIGEST = "09caa5f1dad5df5baa7455f1569966def5f53f3fcc4a59d4caa512bf73b13cce"
FRAUD = ("stock_hoarding", "card_testing", "account_takeover", "reshipping")


@pytest.fixture(scope="module")
def normal() -> pd.DataFrame:
    return simulate_orders(N, seed=SEED)


@pytest.fixture(scope="module")
def hard() -> pd.DataFrame:
    return simulate_orders(N, seed=SEED, difficulty="hard")


@pytest.fixture(scope="module")
def geoip() -> GeoIP2Fast:
    return GeoIP2Fast(geoip2fast_data_file="geoip2fast-asn-ipv6.dat.gz")


def _digest(frame: pd.DataFrame) -> str:
    return hashlib.sha256(frame[list(COLUMNS)].to_csv(index=False).encode()).hexdigest()


def _of(frame: pd.DataFrame, scenario: str) -> pd.DataFrame:
    return frame[frame["scenario"] == scenario]


def _honest(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["scenario"].isna()]


def _age_days(orders: pd.DataFrame) -> pd.Series[float]:
    return (orders["created_at"] - orders["customer_created_at"]).dt.total_seconds() / 86_400


def _hosting_share(orders: pd.DataFrame, geoip: GeoIP2Fast) -> float:
    found = {ip: geoip.lookup(ip).asn_name.upper() for ip in orders["ip"].unique()}
    hosted = orders["ip"].map(lambda ip: any(m in found[ip] for m in HOSTING_AS_MARKERS))
    return float(hosted.mean())


def _gaps(orders: pd.DataFrame, by: str) -> pd.Series[pd.Timedelta]:
    """Return the time between consecutive orders of the same entity."""
    ordered = orders.sort_values("created_at")
    return ordered.groupby(by)["created_at"].diff().dropna()


def test_the_default_world_is_the_world_as_it_was(normal: pd.DataFrame) -> None:
    assert _digest(normal) == DIGEST
    small = simulate_orders(3_000, seed=5)
    pd.testing.assert_frame_equal(small, simulate_orders(3_000, seed=5, difficulty="normal"))


def test_difficulties_are_named_and_others_refused() -> None:
    assert DIFFICULTIES == ("normal", "hard")
    with pytest.raises(ValueError, match="normal, hard"):
        simulate_orders(100, difficulty="extreme")  # type: ignore[arg-type]


def test_hard_is_fixed_by_its_seed_and_moves_only_the_fraud(
    normal: pd.DataFrame, hard: pd.DataFrame
) -> None:
    again = simulate_orders(3_000, seed=5, difficulty="hard")
    pd.testing.assert_frame_equal(again, simulate_orders(3_000, seed=5, difficulty="hard"))
    assert _digest(hard) != DIGEST
    assert len(hard) == N
    assert hard["created_at"].max() < pd.Timestamp("2026-01-01", tz="UTC") + pd.Timedelta(days=120)
    assert hard["label"].sum() == normal["label"].sum()
    assert hard["scenario"].value_counts().equals(normal["scenario"].value_counts())
    # Honest customers and friendly fraud do not change with the difficulty.
    for scenario in (None, "friendly_fraud"):
        same = [_honest(f) if scenario is None else _of(f, scenario) for f in (normal, hard)]
        assert np.array_equal(same[0]["amount"].to_numpy(), same[1]["amount"].to_numpy())


def test_hard_rings_use_aged_accounts(normal: pd.DataFrame, hard: pd.DataFrame) -> None:
    for scenario in ("stock_hoarding", "card_testing", "reshipping"):
        assert _age_days(_of(normal, scenario)).median() < 10, scenario
        assert _age_days(_of(hard, scenario)).median() >= 60, scenario
    honest_age = _age_days(_honest(hard)).median()
    fraud_age = _age_days(hard[hard["scenario"].isin(FRAUD)]).median()
    assert 0.5 * honest_age < fraud_age < 3 * honest_age


def test_hard_rings_leave_datacenters_for_home_lines_in_the_target_country(
    normal: pd.DataFrame, hard: pd.DataFrame, geoip: GeoIP2Fast
) -> None:
    honest_share = _hosting_share(_honest(hard), geoip)
    assert _hosting_share(normal[normal["scenario"].isin(FRAUD)], geoip) > 0.15
    assert _hosting_share(hard[hard["scenario"].isin(FRAUD)], geoip) <= honest_share + 0.005
    takeover = _of(hard, "account_takeover")
    country = takeover["ip"].map(lambda ip: geoip.lookup(ip).country_code)
    assert (country == takeover["billing_country"]).mean() > 0.95


def test_hard_rings_pace_their_orders_past_the_hourly_windows(
    normal: pd.DataFrame, hard: pd.DataFrame
) -> None:
    testing = _of(hard, "card_testing")
    assert _gaps(_of(normal, "card_testing"), "device_id").median() < 10 * pd.Timedelta(minutes=1)
    assert _gaps(testing, "device_id").min() >= HOUR
    assert _gaps(testing, "customer_id").min() >= HOUR
    assert _gaps(_of(normal, "account_takeover"), "customer_id").median() < 6 * HOUR
    assert _gaps(_of(hard, "account_takeover"), "customer_id").min() >= 12 * HOUR
    assert _gaps(_of(normal, "reshipping"), "shipping_address_id").min() < HOUR
    assert _gaps(_of(hard, "reshipping"), "shipping_address_id").min() >= HOUR
    # Hoarders still buy at the drop, but on one proxy exit and one device per account.
    hoard = _of(hard, "stock_hoarding")
    assert hoard.groupby("ip")["customer_id"].nunique().max() == 1
    assert hoard.groupby("device_id")["customer_id"].nunique().max() == 1


def test_hard_reshippers_drop_a_flat_before_its_chargebacks_return(
    normal: pd.DataFrame, hard: pd.DataFrame
) -> None:
    assert _shipped_to_known_fraud(_of(normal, "reshipping")) > 0.1
    assert _shipped_to_known_fraud(_of(hard, "reshipping")) < 0.02


def _shipped_to_known_fraud(orders: pd.DataFrame) -> float:
    """Return the share of orders to an address with a fraud label already known then."""
    hits = 0
    for _, door in orders.groupby("shipping_address_id"):
        known = door["label_known_at"].to_numpy()
        for moment in door["created_at"].to_numpy():
            hits += bool((known < moment).any())
    return hits / len(orders)


def test_hard_rings_fill_honest_looking_baskets(normal: pd.DataFrame, hard: pd.DataFrame) -> None:
    honest = _honest(hard)
    typical = honest["amount"].median()
    assert _of(normal, "card_testing")["amount"].median() < 0.2 * typical
    assert 0.3 * typical < _of(hard, "card_testing")["amount"].median() < 1.5 * typical
    assert _of(normal, "account_takeover")["amount"].median() > 5 * typical
    assert 1.2 * typical < _of(hard, "account_takeover")["amount"].median() < 4 * typical
    assert _of(normal, "stock_hoarding")["max_item_quantity"].median() >= 5
    hoard = _of(hard, "stock_hoarding")
    assert hoard["max_item_quantity"].median() <= 2
    assert (hoard["limited_quantity"] >= 5).mean() < 0.2
    for scenario in FRAUD:
        assert (_of(hard, scenario)["item_count"] > 1).mean() > 0.2, scenario


def test_hard_rings_run_ordinary_devices(hard: pd.DataFrame) -> None:
    fraud = hard[hard["scenario"].isin(FRAUD)]
    assert fraud["is_emulator"].sum() == 0
    assert not fraud["user_agent"].isin(BOT_USER_AGENTS).any()
    takeover = _of(hard, "account_takeover")
    own = hard[hard["scenario"].isna() | (hard["scenario"] == "friendly_fraud")]
    devices = own.groupby("customer_id")["device_id"].agg(set)
    known = [
        d in devices.get(c, set())
        for c, d in zip(takeover["customer_id"], takeover["device_id"], strict=True)
    ]
    assert 0.2 < np.mean(known) < 0.7


def test_hard_rings_keep_the_trace_their_business_needs(hard: pd.DataFrame) -> None:
    honest = _honest(hard)
    launch_buyers = honest[honest["limited_quantity"] > 0]
    hoard = _of(hard, "stock_hoarding")
    assert hoard["limited_quantity"].mean() > 1.5 * launch_buyers["limited_quantity"].mean()
    testing = _of(hard, "card_testing")
    assert testing["payment_declined"].mean() > 10 * honest["payment_declined"].mean()
    reship = _of(hard, "reshipping")
    assert (reship["card_country"] != reship["shipping_country"]).mean() > 0.02
    assert (reship["billing_address_id"] != reship["shipping_address_id"]).mean() > 0.3
    takeover = _of(hard, "account_takeover")
    assert (takeover["shipping_address_id"] != takeover["billing_address_id"]).mean() > 0.4


def test_a_short_hard_period_still_holds_every_slow_spree() -> None:
    start = pd.Timestamp("2026-03-01", tz="UTC")
    frame = simulate_orders(3_000, seed=2, start="2026-03-01", days=3, difficulty="hard")
    assert frame["created_at"].min() >= start
    assert frame["created_at"].max() < start + pd.Timedelta(days=3)
    assert frame["created_at"].is_unique
    takeover = _of(frame, "account_takeover")
    assert len(takeover) > 0 and len(_of(frame, "card_testing")) > 0
    first = _honest(frame).groupby("customer_id")["created_at"].min()
    assert (takeover["created_at"] > takeover["customer_id"].map(first)).all()


def test_paced_rows_keep_their_owners_apart() -> None:
    rng = np.random.default_rng(0)
    owner = np.array([2, 0, 2, 1, 0, 2])
    delay = paced(rng, owner, 2.0, 3.0)
    hour = 3_600_000
    for who in (0, 1, 2):
        mine = np.sort(delay[owner == who])
        assert mine[0] == 0
        assert np.all(np.diff(mine) >= 2 * hour) and np.all(np.diff(mine) <= 3 * hour)


def test_fit_keeps_every_spree_inside_its_window() -> None:
    rng = np.random.default_rng(1)
    hour = 3_600_000
    end = 100 * hour
    owner = np.repeat(np.arange(60), 3)
    delay = paced(rng, owner, 10.0, 20.0)
    # Sprees that fit, sprees that must start earlier, sprees that must be squeezed.
    earliest = np.r_[np.zeros(40, dtype=np.int64), np.full(20, end - 10 * hour)]
    usual = np.r_[np.linspace(0, 90 * hour, 40).astype(np.int64), np.full(20, end - 5 * hour)]
    times = fit(rng, delay, owner, (earliest, usual), end)
    first = pd.Series(times).groupby(owner).min().to_numpy()
    last = pd.Series(times).groupby(owner).max().to_numpy()
    assert (first >= earliest).all() and (last <= end - 1).all()
    fits = usual + pd.Series(delay).groupby(owner).max().to_numpy() <= end - 1
    assert fits.any() and not fits.all()
    assert (first[fits] == usual[fits]).all()
    assert len(np.unique(last[~fits])) == (~fits).sum()
