"""Concurrent processes: migrate one fresh database together, then race on the same order.

A module of its own, so that the PostgreSQL database is fresh as well.
"""

from __future__ import annotations

from service.persistence import make_engine
from service.persistence.repository import case_for_order
from tests.processes import race
from tests.service.persistence.samples import log_verifies
from tests.service.persistence.workers import migrate_and_save

PROCESSES = 4


def test_processes_migrate_and_save_concurrently(db_url: str) -> None:
    outcomes = race(migrate_and_save, PROCESSES, db_url)
    assert all(outcome[0] != "error" for outcome in outcomes), outcomes
    assert len({decision_id for decision_id, _ in outcomes}) == 1
    assert sorted(created for _, created in outcomes) == [False] * (PROCESSES - 1) + [True]
    engine = make_engine(db_url)
    try:
        assert log_verifies(engine)
        case = case_for_order(engine, "ord-shared")
        assert case is not None and case.decision_id == outcomes[0][0]
        with engine.connect() as connection:
            count = connection.exec_driver_sql("SELECT COUNT(*) FROM decisions").scalar()
        assert count == 1 + PROCESSES * 10
    finally:
        engine.dispose()
