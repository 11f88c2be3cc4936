"""Concurrent writers: one decision per order and an unbroken chain, across threads."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine, func, select

from service.persistence import DecisionRecord, save_decision, verify_chain
from service.persistence.tables import DecisionRow, ReviewCaseRow
from tests.service.persistence.samples import sample_decision

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


def test_many_writers_keep_the_chain_unbroken(engine: Engine) -> None:
    barrier = threading.Barrier(THREADS)

    def save_twenty(thread: int) -> None:
        barrier.wait()
        for i in range(20):
            save_decision(engine, sample_decision(f"ord-{thread}-{i}"), open_case=i % 2 == 0)

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(save_twenty, range(THREADS)))
    with engine.connect() as connection:
        seqs = connection.scalars(select(DecisionRow.seq).order_by(DecisionRow.seq)).all()
        cases = connection.scalar(select(func.count()).select_from(ReviewCaseRow))
    assert seqs == list(range(1, 161))
    assert cases == 80
    assert verify_chain(engine) is None
