"""Warm start: the first order after a start finds the path built, and a new champion warmed."""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import pandas as pd
import pytest

from models.scorer import Scorer
from service.models import ModelHolder
from service.persistence.decision_rows import (
    INSERT_DECISIONS,
    INSERT_ENTRIES,
    INSERT_EVENTS,
    INSERT_LINKS,
    INSERT_VALUES,
)
from service.persistence.driver_insert import ROWS_PER_STATEMENT
from service.persistence.feature_updates import INSERT_OWED
from service.settings import ServiceSettings
from tests.service.clients import api_client
from tests.service.conftest import prepared_settings
from tests.tiny_model import tiny_champion
from training.sources.payloads import order_payload


@pytest.fixture(scope="module")
def own_settings(tmp_path_factory: pytest.TempPathFactory, stream: pd.DataFrame) -> ServiceSettings:
    return prepared_settings(Path(tmp_path_factory.mktemp("warm")), stream.iloc[:200])


def test_the_first_order_after_a_start_compiles_none_of_its_statements(
    own_settings: ServiceSettings, stream: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    # Compiled by the inserts themselves, unlogged: they must be compiled by the warm-up.
    inserts = (
        INSERT_DECISIONS,
        INSERT_VALUES,
        INSERT_ENTRIES,
        INSERT_LINKS,
        INSERT_EVENTS,
        INSERT_OWED,
    )
    for insert in inserts:
        insert._compiled.clear()
    with api_client(own_settings) as client:
        assert all(insert._compiled for insert in inserts), "the warm-up left an insert cold"
        # A batch of decisions is inserted in statements of 1, 2, 4 ... rows: all compiled.
        sizes = {size for _, size in INSERT_DECISIONS._compiled}
        assert sizes == {1 << n for n in range(ROWS_PER_STATEMENT.bit_length())}, sizes
        # SQLAlchemy logs each statement, then whether its compiled form was cached.
        caplog.set_level(logging.INFO, logger="sqlalchemy.engine.Engine")
        order = dict(order_payload(stream.iloc[310]), order_id="warm-first")
        assert client.post("/v1/orders/score", json=order).status_code == 200
        caplog.set_level(logging.WARNING, logger="sqlalchemy.engine.Engine")
    messages = [r.getMessage() for r in caplog.records if r.name == "sqlalchemy.engine.Engine"]
    assert any("INSERT INTO decisions" in m for m in messages), "no statement was logged"
    compiled_now = [
        statement
        for statement, stats in itertools.pairwise(messages)
        if stats.startswith("[generated in")
    ]
    # Only the key's last use (recorded once a minute per key: here its very first) is new.
    assert [s for s in compiled_now if not s.startswith("UPDATE api_keys SET last_used_at")] == []


def test_a_new_champion_is_warmed_before_requests_can_get_it(
    own_settings: ServiceSettings,
) -> None:
    seen: list[tuple[str, Scorer | None]] = []
    holder = ModelHolder(
        own_settings, warm=lambda scorer: seen.append((scorer.version, holder.current))
    )
    first = holder.reload()
    assert seen == [(first.version, None)]
    version = tiny_champion(own_settings, seed=5)
    assert holder.reload_if_moved()
    current = holder.current
    assert current is not None and current.version == version != first.version
    assert seen[-1] == (version, first), "the new champion served before it was warmed"
