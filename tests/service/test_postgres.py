"""The service on PostgreSQL: decisions, idempotency under concurrency, and a database outage."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Connection, Dialect, create_engine, text
from sqlalchemy.engine import make_url

from service.app import build_state
from service.persistence.db import BUSY_TIMEOUT_MS, make_engine, within, writing
from service.persistence.decision_rows import INSERT_DECISIONS
from service.persistence.driver_insert import ROWS_PER_STATEMENT, DriverInsert
from service.settings import ServiceSettings
from tests.conftest import ADMIN_URL
from tests.service.clients import api_client
from tests.service.conftest import prepared_settings
from training.sources.payloads import order_payload


@pytest.fixture(scope="module")
def pg_settings(
    tmp_path_factory: pytest.TempPathFactory, stream: pd.DataFrame, postgres_url: str
) -> ServiceSettings:
    settings = prepared_settings(tmp_path_factory.mktemp("pg"), stream.iloc[:100])
    return settings.model_copy(update={"database_url": SecretStr(postgres_url)})


@pytest.fixture(scope="module")
def pg_client(pg_settings: ServiceSettings) -> Iterator[TestClient]:
    with api_client(pg_settings) as client:
        yield client


def _admin_execute(statement: str) -> None:
    url = make_url(ADMIN_URL)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(statement))
    engine.dispose()


def test_concurrent_retries_make_one_decision_on_postgres(
    pg_client: TestClient, stream: pd.DataFrame
) -> None:
    order = order_payload(stream.iloc[120])
    answers: list[dict[str, Any]] = []
    threads = [
        threading.Thread(
            target=lambda: answers.append(pg_client.post("/v1/orders/score", json=order).json())
        )
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({a["decision_id"] for a in answers}) == 1
    stored = pg_client.get(f"/v1/orders/{order['order_id']}/decision").json()
    assert stored["decision_id"] == answers[0]["decision_id"]


def test_a_database_outage_is_a_503_and_recovers(
    pg_client: TestClient, pg_settings: ServiceSettings, stream: pd.DataFrame
) -> None:
    database = make_url(pg_settings.db_url).database
    order = order_payload(stream.iloc[130])
    _admin_execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
    _admin_execute(
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'"
    )
    try:
        during = pg_client.post("/v1/orders/score", json=order)
        assert during.status_code == 503, during.text
        assert during.json()["error"] == "unavailable"
        assert pg_client.get("/readyz").status_code == 503
        assert pg_client.get("/healthz").status_code == 200
    finally:
        _admin_execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
    after = pg_client.post("/v1/orders/score", json=order)
    assert after.status_code == 200, after.text
    assert pg_client.get(f"/v1/orders/{order['order_id']}/decision").status_code == 200


def test_the_audit_log_is_intact_on_postgres(
    pg_client: TestClient, pg_settings: ServiceSettings, stream: pd.DataFrame
) -> None:
    from service.persistence import make_engine
    from service.persistence.audit_log import sequence_all
    from service.persistence.audit_verify import verify_log

    for row in range(140, 150):
        assert (
            pg_client.post("/v1/orders/score", json=order_payload(stream.iloc[row])).status_code
            == 200
        )
    engine = make_engine(pg_settings.db_url)
    sequence_all(engine)
    verdict = verify_log(engine)
    assert verdict.ok and verdict.size >= 10, verdict


def test_two_server_processes_on_postgres_keep_one_valid_log(
    pg_settings: ServiceSettings, stream: pd.DataFrame
) -> None:
    import httpx

    from service.auth.keys import create_key
    from service.cli.server import running_server
    from service.persistence import make_engine
    from service.persistence.audit_log import entries_about, sequence_all
    from service.persistence.audit_verify import verify_log

    engine = make_engine(pg_settings.db_url)
    token = create_key(engine, "two servers", ["score"])[1]
    orders = [
        {**order_payload(stream.iloc[row]), "order_id": f"two-servers-{row}"}
        for row in range(150, 190)
    ]
    with running_server(pg_settings) as first, running_server(pg_settings) as second:
        urls = (first.url, second.url)

        def send(half: int) -> list[int]:
            with httpx.Client(headers={"Authorization": f"Bearer {token}"}) as client:
                return [
                    client.post(f"{urls[half]}/v1/orders/score", json=order, timeout=30).status_code
                    for order in orders[half::2]
                ]

        results: list[list[int]] = [[], []]
        threads = [
            threading.Thread(target=lambda h=h: results.__setitem__(h, send(h))) for h in (0, 1)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert results == [[200] * 20, [200] * 20]
    sequence_all(engine)
    verdict = verify_log(engine)
    assert verdict.ok, verdict
    created = [
        e
        for o in orders
        for e in entries_about(engine, o["order_id"])
        if e.kind == "decision.created"
    ]
    assert len(created) == len(orders) and all(e.seq is not None for e in created)
    engine.dispose()


def test_a_transaction_without_a_deadline_waits_for_a_lock_no_longer_than_sqlite_would(
    postgres_url: str,
) -> None:
    engine = make_engine(postgres_url)
    try:
        settings = ("lock_timeout", "statement_timeout")

        def shown(connection: Connection) -> list[str]:
            return [connection.exec_driver_sql(f"SHOW {s}").scalar_one() for s in settings]

        with writing(engine) as connection:
            unbounded = shown(connection)
        assert unbounded[0] == f"{BUSY_TIMEOUT_MS // 1000}s"
        with within(0.25), writing(engine) as connection:
            # Both timeouts are the deadline's remaining milliseconds, for this transaction.
            for setting, value in zip(settings, shown(connection), strict=True):
                assert value.endswith("ms") and 0 < int(value[:-2]) <= 250, (setting, value)
        with writing(engine) as connection:
            assert shown(connection) == unbounded
    finally:
        engine.dispose()


@pytest.fixture
def warm_up_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING, logger="service.scoring.service")
    return caplog


def skipped_warm_up(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "warm-up without" in r.getMessage()]


def test_compiling_the_inserts_does_not_eat_the_warm_ups_write_deadline(
    pg_settings: ServiceSettings,
    monkeypatch: pytest.MonkeyPatch,
    warm_up_logs: pytest.LogCaptureFixture,
) -> None:
    # A slow machine: each statement compiles in 50 ms, six of them three times the deadline.
    compile_insert = DriverInsert._compile

    def slowly(insert: DriverInsert, dialect: Dialect, rows: int) -> Any:
        time.sleep(0.05)
        return compile_insert(insert, dialect, rows)

    monkeypatch.setattr(DriverInsert, "_compile", slowly)
    INSERT_DECISIONS._compiled.clear()
    settings = pg_settings.model_copy(update={"decision_write_timeout_ms": 100.0})
    state = build_state(settings)
    try:
        assert skipped_warm_up(warm_up_logs) == []
        assert len(INSERT_DECISIONS._compiled) == ROWS_PER_STATEMENT.bit_length()
    finally:
        state["engine"].dispose()


def test_a_database_out_of_time_at_the_warm_up_is_a_warning_not_a_failed_start(
    pg_settings: ServiceSettings, warm_up_logs: pytest.LogCaptureFixture
) -> None:
    state, other = build_state(pg_settings), make_engine(pg_settings.db_url)
    try:
        with writing(other) as blocker:
            blocker.exec_driver_sql("LOCK TABLE decisions IN ACCESS EXCLUSIVE MODE")
            state["scoring"].warm_up()  # its statements wait for the lock past their deadline
        assert len(skipped_warm_up(warm_up_logs)) == 1
    finally:
        state["engine"].dispose()
        other.dispose()
