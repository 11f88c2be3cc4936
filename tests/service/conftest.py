"""Service fixtures: a real Feast repo, a tiny champion in a real MLflow store, the app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from features.build import build_offline_sources
from features.state_stores import state_store
from features.store import apply, epoch_now, materialize, open_store
from service.audit.signing import generate_signing_key
from service.settings import ServiceSettings
from tests.service.clients import api_client
from tests.tiny_model import tiny_champion
from training.sources.simulator import simulate_orders


@pytest.fixture(scope="session")
def stream() -> pd.DataFrame:
    """A short, dense simulated order stream (fraud bursts included)."""
    return simulate_orders(2500, seed=3, days=4)


def prepared_settings(
    data_dir: Path,
    orders: pd.DataFrame,
    online_store: str = "sqlite",
    redis_url: str | None = None,
    empty_store: bool = False,
) -> ServiceSettings:
    """Return a data dir's settings: Feast repo applied and materialized, a tiny champion, a key.

    `empty_store`: the online store starts whole but empty (the orders are only
    the offline truth), for tests that replay those very orders through the API.
    """
    extra = {"redis_url": redis_url} if redis_url else {}
    settings = ServiceSettings(data_dir=data_dir, online_store=online_store, **extra)  # type: ignore[arg-type]
    build_offline_sources(orders, settings)
    apply(settings)
    if empty_store:
        state_store(open_store(settings)).set_status("ok", epoch=epoch_now())
    else:
        materialize(settings)
    tiny_champion(settings)
    generate_signing_key(Path(settings.signing_key_source))
    return settings


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, stream: pd.DataFrame) -> ServiceSettings:
    return prepared_settings(tmp_path_factory.mktemp("service"), stream.iloc[:200])


@pytest.fixture(scope="module")
def client(settings: ServiceSettings) -> Iterator[TestClient]:
    with api_client(settings) as test_client:
        yield test_client
