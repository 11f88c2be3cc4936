"""The demo's rate table converts every currency the simulator trades in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import typer

from features.columns import enrich
from features.currency import rates_for
from service.cli.demo import write_simulated_rates
from service.settings import ServiceSettings
from training.sources.simulator import simulate_orders
from training.sources.simulator.geo import FX_PER_EUR


def test_every_simulated_amount_converts_back_to_euros(tmp_path: Path) -> None:
    orders = simulate_orders(2000, seed=3)
    settings = ServiceSettings(data_dir=tmp_path)
    # In the data dir: found with no setting, by the build and by `serve` alike.
    path = write_simulated_rates(settings, orders)
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
        write_simulated_rates(ServiceSettings(data_dir=tmp_path), simulate_orders(50, seed=1))
