"""The simulated data's rate table converts every currency the simulator trades in."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from features.columns import enrich
from features.currency import rates_for, write_rates
from features.settings import RATES_FILE
from service.cli import app
from service.cli.simulated_rates import write_simulated_rates
from service.settings import ServiceSettings
from training.sources.simulator import simulate_orders
from training.sources.simulator.geo import FX_PER_EUR

runner = CliRunner()


def test_every_simulated_amount_converts_back_to_euros(tmp_path: Path) -> None:
    orders = simulate_orders(2000, seed=3)
    settings = ServiceSettings(data_dir=tmp_path)
    # In the data dir: found with no setting, by the build and by `serve` alike.
    path = write_simulated_rates(settings)
    assert settings.exchange_rates == path
    enriched = enrich(orders, rates_for(settings))
    assert set(enriched["currency"]) == set(FX_PER_EUR)
    assert enriched["amount_reporting"].notna().all()
    for code, rate in FX_PER_EUR.items():
        chosen = (enriched["currency"] == code).to_numpy()
        back = enriched["amount"].to_numpy()[chosen] / rate
        # The simulator rounded to cents in its currency; converting back rounds again.
        assert np.abs(enriched["amount_reporting"].to_numpy()[chosen] - back).max() <= 0.011


def test_a_reporting_currency_the_simulator_lacks_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERSHIELD_REPORTING_CURRENCY", "JPY")
    with pytest.raises(typer.BadParameter, match="EUR, GBP, USD"):
        write_simulated_rates(ServiceSettings(data_dir=tmp_path))


def test_simulate_writes_the_rates_beside_the_orders_unless_a_table_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERSHIELD_DATA_DIR", str(tmp_path / "data"))
    result = runner.invoke(app, ["simulate", "--orders", "300", "--days", "3"])
    assert result.exit_code == 0, result.output
    settings = ServiceSettings()
    assert settings.exchange_rates == tmp_path / "data" / RATES_FILE
    assert set(rates_for(settings).rates) == set(FX_PER_EUR) - {"EUR"}
    # A table of the operator's own is theirs: nothing is written beside the orders.
    own = tmp_path / "own.csv"
    write_rates(own, "EUR", [(date(2026, 1, 1), "USD", 1.1)])
    monkeypatch.setenv("ORDERSHIELD_DATA_DIR", str(tmp_path / "other"))
    monkeypatch.setenv("ORDERSHIELD_EXCHANGE_RATES_PATH", str(own))
    result = runner.invoke(app, ["simulate", "--orders", "300", "--days", "3"])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "other" / RATES_FILE).exists()


def test_simulate_keeps_a_rate_table_the_data_dir_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERSHIELD_DATA_DIR", str(tmp_path))
    write_rates(tmp_path / RATES_FILE, "EUR", [(date(2026, 1, 1), "USD", 1.1)])
    before = (tmp_path / RATES_FILE).read_bytes()
    result = runner.invoke(app, ["simulate", "--orders", "300", "--days", "3"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / RATES_FILE).read_bytes() == before
    assert not list(tmp_path.glob(".*.partial"))


def test_simulate_refuses_a_reporting_currency_it_has_no_rates_for_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERSHIELD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ORDERSHIELD_REPORTING_CURRENCY", "JPY")
    result = runner.invoke(app, ["simulate", "--orders", "300", "--days", "3"])
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        "error: ORDERSHIELD_REPORTING_CURRENCY: the simulator trades in EUR, GBP, USD: "
        "report in one of them, or set ORDERSHIELD_EXCHANGE_RATES_PATH to a rate table "
        "of your own\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_the_simulated_table_converts_any_simulated_period(tmp_path: Path) -> None:
    # Kept across simulations (a second `simulate` keeps it), it must hold for an earlier start.
    settings = ServiceSettings(data_dir=tmp_path)
    write_simulated_rates(settings)
    earliest = settings.earliest_event_time.date().isoformat()
    orders = simulate_orders(300, seed=2, start=earliest, days=3)
    assert enrich(orders, rates_for(settings))["amount_reporting"].notna().all()
