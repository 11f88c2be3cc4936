"""A slow database never stalls an order: its write gets what is left of the deadline."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from service.persistence import decision_by_order, make_engine
from service.settings import ServiceSettings
from tests.service.clients import api_client
from tests.service.conftest import prepared_settings
from training.sources.payloads import order_payload

DEADLINE_MS = 50.0
WRITE_TIMEOUT_MS = 100.0
MARGIN_S = 0.15


def assert_refused_in_time(client: TestClient, order: dict[str, Any]) -> None:
    started = time.monotonic()
    answer = client.post("/v1/orders/score", json=order)
    took = time.monotonic() - started
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"] == "unavailable"
    assert took < WRITE_TIMEOUT_MS / 1000 + MARGIN_S, f"took {took * 1000:.0f} ms"


def assert_not_stored(settings: ServiceSettings, order_id: str) -> None:
    assert decision_by_order(make_engine(settings.db_url), order_id) is None


@pytest.fixture()
def sqlite_client(
    tmp_path: Path, stream: pd.DataFrame
) -> Iterator[tuple[TestClient, ServiceSettings]]:
    settings = prepared_settings(tmp_path, stream.iloc[:100])
    settings = settings.model_copy(
        update={"decision_deadline_ms": DEADLINE_MS, "decision_write_timeout_ms": WRITE_TIMEOUT_MS}
    )
    with api_client(settings) as client:
        yield client, settings


def test_another_process_holding_sqlite_past_the_deadline_gets_a_fast_503(
    sqlite_client: tuple[TestClient, ServiceSettings], stream: pd.DataFrame
) -> None:
    client, settings = sqlite_client
    order = dict(order_payload(stream.iloc[150]), order_id="sqlite-held")
    database = make_url(settings.db_url).database
    assert database
    # Another process (a command, the audit sequencer) holds SQLite's write lock.
    other = sqlite3.connect(database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        assert_refused_in_time(client, order)
        # Readiness asks for the writer, as a decision does: it says so within a probe.
        deadline = time.monotonic() + 3.0
        while client.get("/readyz").json()["status"] != "not_ready":
            assert time.monotonic() < deadline, "readyz kept saying ready"
            time.sleep(0.1)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert_not_stored(settings, order["order_id"])
    assert client.post("/v1/orders/score", json=order).status_code == 200


def test_a_lock_on_postgres_past_the_deadline_gets_a_fast_503(
    tmp_path: Path, stream: pd.DataFrame, postgres_url: str
) -> None:
    settings = prepared_settings(tmp_path, stream.iloc[:100]).model_copy(
        update={
            "database_url": SecretStr(postgres_url),
            "decision_deadline_ms": DEADLINE_MS,
            "decision_write_timeout_ms": WRITE_TIMEOUT_MS,
        }
    )
    order = dict(order_payload(stream.iloc[160]), order_id="pg-locked")
    with api_client(settings) as client:
        locker = create_engine(make_engine(postgres_url).url)
        with locker.connect() as connection:
            transaction = connection.begin()
            connection.execute(text("LOCK TABLE decisions IN ACCESS EXCLUSIVE MODE"))
            try:
                assert_refused_in_time(client, order)
            finally:
                transaction.rollback()
        locker.dispose()
        assert_not_stored(settings, order["order_id"])
        assert client.post("/v1/orders/score", json=order).status_code == 200
