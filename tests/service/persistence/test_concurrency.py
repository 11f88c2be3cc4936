"""Concurrent writers: one decision per order and one valid audit log, across threads."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine, func, select

from service.persistence import DecisionRecord, save_decision
from service.persistence.audit_log import sequence_all
from service.persistence.audit_rows import AuditEntryRow
from service.persistence.tables import DecisionRow, ReviewCaseRow
from tests.service.persistence.samples import log_verifies, sample_decision

THREADS = 8


def test_racing_saves_of_one_order_store_one_decision_and_one_case(engine: Engine) -> None:
    barrier = threading.Barrier(THREADS)

    def save(_: int) -> tuple[DecisionRecord, bool]:
        barrier.wait()
        return save_decision(engine, sample_decision("ord-race"), open_case=True)

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(save, range(THREADS)))
    assert len({record.id for record, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(DecisionRow)) == 1
        assert connection.scalar(select(func.count()).select_from(ReviewCaseRow)) == 1


def test_many_writers_and_sequencers_keep_one_valid_log(engine: Engine) -> None:
    barrier = threading.Barrier(THREADS)

    def save_twenty(thread: int) -> None:
        barrier.wait()
        for i in range(20):
            save_decision(engine, sample_decision(f"ord-{thread}-{i}"), open_case=i % 2 == 0)
            if i % 5 == 0:
                sequence_all(engine)  # sequencers race each other and the writers

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(save_twenty, range(THREADS)))
    assert log_verifies(engine)
    with engine.connect() as connection:
        seqs = connection.scalars(select(AuditEntryRow.seq).order_by(AuditEntryRow.seq)).all()
        decisions = connection.scalar(
            select(func.count())
            .select_from(AuditEntryRow)
            .where(AuditEntryRow.kind == "decision.created")
        )
        cases = connection.scalar(select(func.count()).select_from(ReviewCaseRow))
    # 160 decisions and the 80 stock holds their cases froze, each once, without gaps.
    assert seqs == list(range(1, 241))
    assert (decisions, cases) == (160, 80)
