"""Amounts in one reporting currency: dated rates, minor units, missing rates, both paths."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features import currency
from features.aggregates import AGGREGATES
from features.catalog import spec_hash
from features.columns import enrich, to_columns
from features.currency import (
    RateTable,
    RateTableError,
    TooManyDecimals,
    check_minor_units,
    missing_conversions,
    rates_for,
    reporting_amount,
    to_reporting,
    write_rates,
)
from features.offline import point_in_time
from features.schema import conform
from features.settings import RATES_FILE, FeatureSettings
from features.vector import feature_matrix

MARCH_10_MS = int(pd.Timestamp("2026-03-10", tz="UTC").value // 1_000_000)


def _table(path: Path, reporting: str, rows: list[tuple[date, str, float]]) -> RateTable:
    write_rates(path, reporting, rows)
    return RateTable.read(path, reporting)


@pytest.fixture()
def usd_rates(tmp_path: Path) -> RateTable:
    """USD at 1.10 per EUR from March 1st, 1.25 from March 10th."""
    rows = [(date(2026, 3, 10), "USD", 1.25), (date(2026, 3, 1), "USD", 1.10)]
    return _table(tmp_path / "rates.csv", "EUR", rows)


@pytest.fixture()
def env_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Let a test set this process's settings in the environment, read afresh."""
    currency.process_settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    currency.process_settings.cache_clear()


def test_an_order_uses_the_latest_rate_dated_on_or_before_it(usd_rates: RateTable) -> None:
    times = np.array([MARCH_10_MS - 1, MARCH_10_MS, MARCH_10_MS + 86_400_000], dtype=float)
    converted = to_reporting(
        np.full(3, 110.0), np.array(["USD"] * 3, dtype=object), times, usd_rates
    )
    assert converted.tolist() == [100.0, 88.0, 88.0]


def test_orders_in_the_reporting_currency_or_without_one_keep_their_amount(
    usd_rates: RateTable,
) -> None:
    times = np.full(2, float(MARCH_10_MS))
    currencies = np.array(["EUR", None], dtype=object)
    assert to_reporting(np.array([12.5, 7.25]), currencies, times, usd_rates).tolist() == [
        12.5,
        7.25,
    ]


def test_amounts_round_to_the_reporting_currency_minor_units(tmp_path: Path) -> None:
    yen = _table(tmp_path / "jpy.csv", "JPY", [(date(2026, 3, 1), "EUR", 0.0061)])
    converted = to_reporting(
        np.array([10.0, 1234.4]), np.array(["EUR", "JPY"], dtype=object), np.full(2, 1.8e12), yen
    )
    # 10 EUR is 1639.34… yen, and yen have no minor units.
    assert converted.tolist() == [1639.0, 1234.0]
    euro = _table(tmp_path / "eur.csv", "EUR", [(date(2026, 3, 1), "USD", 1.08)])
    cents = to_reporting(
        np.array([10.0]), np.array(["USD"], dtype=object), np.full(1, 1.8e12), euro
    )
    assert cents.tolist() == [9.26]


@pytest.mark.parametrize(
    ("amount", "code"), [("1.5", "JPY"), ("1.005", "EUR"), ("0.1", "ISK"), ("1.0001", "KWD")]
)
def test_an_amount_finer_than_its_currency_is_refused(amount: str, code: str) -> None:
    with pytest.raises(TooManyDecimals, match=code):
        check_minor_units(Decimal(amount), code)


@pytest.mark.parametrize(
    ("amount", "code"),
    [("1500", "JPY"), ("1500.00", "JPY"), ("1.50", "EUR"), ("1.005", "KWD"), ("9", "BGN")],
)
def test_an_amount_within_its_currency_minor_units_passes(amount: str, code: str) -> None:
    check_minor_units(Decimal(amount), code)


def test_a_currency_without_rate_or_before_its_first_rate_has_no_amount(
    usd_rates: RateTable,
) -> None:
    before = missing_conversions()
    times = np.array([MARCH_10_MS, MARCH_10_MS, MARCH_10_MS - 20 * 86_400_000], dtype=float)
    currencies = np.array(["GBP", "USD", "USD"], dtype=object)
    converted = to_reporting(np.array([50.0, 110.0, 110.0]), currencies, times, usd_rates)
    assert np.isnan(converted[0]) and converted[1] == 88.0 and np.isnan(converted[2])
    after = missing_conversions()
    assert after[("GBP", currency.NO_RATE)] == before.get(("GBP", currency.NO_RATE), 0) + 1
    late = ("USD", currency.BEFORE_FIRST_RATE)
    assert after[late] == before.get(late, 0) + 1


def test_without_a_rate_table_only_the_reporting_currency_has_amounts(tmp_path: Path) -> None:
    table = rates_for(FeatureSettings(data_dir=tmp_path, reporting_currency="EUR"))
    order = {"amount": 20.0, "currency": "EUR", "created_at": MARCH_10_MS}
    assert reporting_amount(order, table) == 20.0
    assert np.isnan(reporting_amount({**order, "currency": "USD"}, table))


def test_the_data_dirs_rate_table_is_read_unless_another_is_set(tmp_path: Path) -> None:
    settings = FeatureSettings(data_dir=tmp_path)
    assert settings.exchange_rates is None
    write_rates(tmp_path / RATES_FILE, "EUR", [(date(2026, 3, 1), "USD", 1.25)])
    order = {"amount": 125.0, "currency": "USD", "created_at": MARCH_10_MS}
    assert reporting_amount(order, rates_for(settings)) == 100.0
    other = tmp_path / "other.csv"
    write_rates(other, "EUR", [(date(2026, 3, 1), "USD", 1.10)])
    chosen = FeatureSettings(data_dir=tmp_path, exchange_rates_path=other)
    assert reporting_amount(order, rates_for(chosen)) == 113.64


def _orders() -> pd.DataFrame:
    """Three orders on one payment account in three currencies, and a fourth that reads them."""
    created = pd.Timestamp("2026-03-10T08:00", tz="UTC") + pd.to_timedelta(range(4), unit="h")
    return conform(
        pd.DataFrame(
            {
                "order_id": ["o1", "o2", "o3", "o4"],
                "created_at": created,
                "customer_id": ["c1"] * 4,
                "payment_id": ["p1"] * 4,
                "amount": [125.0, 40.0, 500.0, 10.0],
                "currency": ["USD", "EUR", "GBP", "EUR"],
            }
        )
    )


def test_offline_aggregates_and_features_read_reporting_amounts(usd_rates: RateTable) -> None:
    enriched = enrich(_orders(), usd_rates)
    assert enriched["amount"].tolist() == [125.0, 40.0, 500.0, 10.0]
    # 125 USD at 1.25 is 100 EUR; GBP has no rate, so it is left out, not counted as 500.
    assert enriched["amount_reporting"].tolist()[:2] == [100.0, 40.0]
    columns = to_columns(enriched)
    values = point_in_time(columns, [f for f in AGGREGATES if f.of == "amount_reporting"])
    assert values["payment_amount_mean_30d"][3] == 70.0
    assert values["payment_amount_max_30d"][3] == 100.0
    assert values["customer_amount_mean"][3] == 70.0
    names = ["amount", "amount_vs_customer_mean"]
    matrix = feature_matrix(columns, values, names)
    assert matrix[0, 0] == 100.0 and np.isnan(matrix[2, 0])
    assert matrix[3, 1] == pytest.approx(10.0 / 70.0)


def test_the_single_order_form_gives_the_offline_value(usd_rates: RateTable) -> None:
    orders = _orders()
    offline = enrich(orders, usd_rates)["amount_reporting"].to_numpy()
    for row, record in enumerate(orders.to_dict("records")):
        order = {str(name): value for name, value in record.items()}
        order["created_at"] = int(order["created_at"].value // 1_000_000)
        online = reporting_amount(order, usd_rates)
        assert online == offline[row] or (np.isnan(online) and np.isnan(offline[row]))


def test_the_rate_table_is_read_again_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "rates.csv"
    write_rates(path, "EUR", [(date(2026, 3, 1), "USD", 1.10)])
    settings = FeatureSettings(data_dir=tmp_path, exchange_rates_path=path)
    order = {"amount": 125.0, "currency": "USD", "created_at": MARCH_10_MS}
    assert reporting_amount(order, rates_for(settings)) == 113.64
    write_rates(path, "EUR", [(date(2026, 3, 1), "USD", 1.10), (date(2026, 3, 10), "USD", 1.25)])
    assert reporting_amount(order, rates_for(settings)) == 100.0
    # A file broken while being rewritten keeps the rates last read.
    path.write_text("date,currency\n")
    assert reporting_amount(order, rates_for(settings)) == 100.0


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("date,currency,per_USD\n2026-03-01,GBP,0.8\n", "reporting currency is EUR"),
        ("date,currency,per_EUR\n2026-03-01,USD,1.1\n2026-03-01,USD,1.2\n", "second USD"),
        ("date,currency,per_EUR\n2026-03-01,USD,0\n", "above 0"),
        ("date,currency,per_EUR\n01/03/2026,USD,1.1\n", "YYYY-MM-DD"),
        ("date,currency,per_EUR\n2026-03-01,XYZ,1.1\n", "ISO 4217"),
        ("date,currency,per_EUR\n2026-03-01,EUR,1.1\n", "one EUR is one EUR"),
    ],
)
def test_a_rate_table_that_does_not_fit_is_refused_naming_why(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "rates.csv"
    path.write_text(text)
    with pytest.raises(RateTableError, match=problem):
        RateTable.read(path, "EUR")


def test_the_spec_hash_covers_the_reporting_currency_not_the_rates(
    env_settings: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    before = spec_hash.__wrapped__()
    path = tmp_path / "rates.csv"
    write_rates(path, "EUR", [(date(2026, 3, 1), "USD", 1.10)])
    env_settings.setenv("ORDERSHIELD_EXCHANGE_RATES_PATH", str(path))
    currency.process_settings.cache_clear()
    assert spec_hash.__wrapped__() == before
    env_settings.setenv("ORDERSHIELD_REPORTING_CURRENCY", "USD")
    currency.process_settings.cache_clear()
    assert spec_hash.__wrapped__() != before
