"""Group commit of decisions: shared transactions, each caller answered after its own commit."""

from __future__ import annotations

import dataclasses
import functools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, event, func, select
from sqlalchemy.exc import IntegrityError

from service.auth.attributes import PERSONAL_PATHS
from service.persistence import (
    ConflictingRequest,
    DatabaseUnavailable,
    DecisionRecord,
    decision_by_order,
    decision_rows,
    make_engine,
    save_decision,
)
from service.persistence.db import within, writing
from service.persistence.driver_insert import ROWS_PER_STATEMENT, statement_sizes
from service.persistence.group_commit import GroupCommitter
from service.persistence.repository import decision_committer
from service.persistence.tables import (
    DecisionRow,
    FeatureUpdateRow,
    OutboxEventRow,
    ReviewCaseRow,
)
from tests.service.persistence.samples import log_verifies, sample_decision

WAIT_S = 10.0


@contextmanager
def writer_held(engine: Engine) -> Iterator[None]:
    """Hold the database's writer, as another writer would, so that decisions queue behind it."""
    with writing(engine) as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("LOCK TABLE decisions IN EXCLUSIVE MODE")
        yield


def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "the callers did not queue in time"
        time.sleep(0.005)


class Caller(threading.Thread):
    """Runs one write in a thread of its own; keeps what it returned or raised."""

    def __init__(self, write: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self._write = write
        self.result: Any = None
        self.error: BaseException | None = None
        self.took = 0.0

    def run(self) -> None:
        started = time.monotonic()
        try:
            self.result = self._write()
        except BaseException as error:  # kept for the test to look at
            self.error = error
        self.took = time.monotonic() - started


def queue_behind(committer: GroupCommitter[Any, Any], callers: list[Caller]) -> None:
    """Start the callers one by one; the first leads (and waits on the writer), the rest queue."""
    for number, caller in enumerate(callers):
        caller.start()
        until(functools.partial(_queued, committer, number))


def _queued(committer: GroupCommitter[Any, Any], number: int) -> bool:
    return committer.leading and committer.queued == number


def saving(engine: Engine, order_id: str, **changes: Any) -> Caller:
    """Return a caller that saves a decision of this order id (no review case)."""
    return Caller(
        functools.partial(save_decision, engine, sample_decision(order_id, **changes), False)
    )


@contextmanager
def counted_commits(engine: Engine) -> Iterator[list[str]]:
    """Yield the names of the threads that committed a transaction on the engine."""
    committed: list[str] = []

    def seen(_connection: Any) -> None:
        committed.append(threading.current_thread().name)

    event.listen(engine, "commit", seen)
    try:
        yield committed
    finally:
        event.remove(engine, "commit", seen)


def rows_of(engine: Engine, table: Any, order_id: str, *where: Any) -> int:
    with engine.connect() as connection:
        query = select(func.count()).select_from(table).where(table.order_id == order_id, *where)
        return int(connection.execute(query).scalar_one())


def created_events(engine: Engine, order_id: str) -> int:
    return rows_of(engine, OutboxEventRow, order_id, OutboxEventRow.kind == "decision.created")


def owed_updates(engine: Engine, order_id: str) -> int:
    """Count the feature updates owed for an order (the row names it in its payload only)."""
    with engine.connect() as connection:
        payloads = connection.execute(select(FeatureUpdateRow.payload)).scalars()
        return sum(1 for payload in payloads if payload["order_id"] == order_id)


def test_concurrent_decisions_share_commits_and_each_is_stored_when_it_returns(
    engine: Engine, db_url: str
) -> None:
    committer = decision_committer(engine)
    reader = make_engine(db_url)  # other connections: they see committed rows only
    seen_at_return: dict[str, DecisionRecord | None] = {}

    def decide(number: int) -> Callable[[], tuple[DecisionRecord, bool]]:
        def write() -> tuple[DecisionRecord, bool]:
            new = sample_decision(f"gc-{number}", customer_id=f"cust-{number}")
            links = {"device": f"dev-{number}", "payment": f"pay-{number}"}
            saved = save_decision(
                engine, new, open_case=number % 3 == 0, links=links, personal=PERSONAL_PATHS
            )
            seen_at_return[new.order_id] = decision_by_order(reader, new.order_id)
            return saved

        return write

    callers = [Caller(decide(number)) for number in range(24)]
    with counted_commits(engine) as committed:
        with writer_held(engine):
            queue_behind(committer, callers)
        for caller in callers:
            caller.join(WAIT_S)
    reader.dispose()

    assert [c.error for c in callers] == [None] * len(callers)
    by_order = {c.result[0].order_id: c.result for c in callers}
    assert sorted(by_order) == sorted(f"gc-{n}" for n in range(24))
    assert all(created for _, created in by_order.values())
    # Each answer found its own decision committed, as it was returned, the moment it returned.
    assert seen_at_return == {order_id: record for order_id, (record, _) in by_order.items()}
    # The first alone (it waited on the writer), then the 23 that queued behind it, together.
    assert len([n for n in committed if n != threading.current_thread().name]) == 2
    for order_id, (record, _) in by_order.items():
        assert created_events(engine, order_id) == 1
        assert rows_of(engine, ReviewCaseRow, order_id) == int(int(order_id[3:]) % 3 == 0)
        with engine.connect() as connection:
            payload = connection.execute(
                select(OutboxEventRow.payload).where(
                    OutboxEventRow.order_id == order_id, OutboxEventRow.kind == "decision.created"
                )
            ).scalar_one()
        assert payload["decision_id"] == record.id
    with engine.connect() as connection:
        owed = connection.execute(select(FeatureUpdateRow.payload)).scalars().all()
    assert sorted(p["order_id"] for p in owed) == sorted(by_order)
    assert log_verifies(engine)


def test_a_failing_member_fails_alone_and_the_others_are_stored(engine: Engine) -> None:
    committer = decision_committer(engine)
    stored, _ = save_decision(engine, sample_decision("gc-stored"), open_case=False)
    # A row the database refuses that nothing before the write can see: another's key.
    prepared = decision_rows.prepare(sample_decision("gc-refused"), False, timedelta(hours=1))
    refused = dataclasses.replace(prepared, row={**prepared.row, "id": stored.id})
    callers = [saving(engine, f"gc-ok-{n}") for n in range(8)]
    callers.insert(4, Caller(functools.partial(committer.submit, refused)))
    failed_before = committer.stats.failed_batches
    with writer_held(engine):
        queue_behind(committer, callers)
    for caller in callers:
        caller.join(WAIT_S)

    assert isinstance(callers[4].error, IntegrityError)
    good = callers[:4] + callers[5:]
    assert [c.error for c in good] == [None] * 8
    assert sorted(c.result[0].order_id for c in good) == sorted(f"gc-ok-{n}" for n in range(8))
    for caller in good:
        record, created = caller.result
        assert created and decision_by_order(engine, record.order_id) == record
    assert committer.stats.failed_batches == failed_before + 1
    assert decision_by_order(engine, "gc-refused") is None
    assert created_events(engine, "gc-refused") == 0
    assert decision_by_order(engine, "gc-stored") == stored
    assert log_verifies(engine)


def test_a_decision_queued_past_its_deadline_is_refused_and_stores_nothing(
    engine: Engine,
) -> None:
    committer = decision_committer(engine)

    def hurried() -> tuple[DecisionRecord, bool]:
        with within(0.2):
            return save_decision(engine, sample_decision("gc-hurried"), False)

    callers = [saving(engine, "gc-first"), Caller(hurried), saving(engine, "gc-patient")]
    with writer_held(engine):
        queue_behind(committer, callers)
        callers[1].join(WAIT_S)
        assert isinstance(callers[1].error, DatabaseUnavailable)
        assert callers[1].took < 0.2 + 1.0
    for caller in callers:
        caller.join(WAIT_S)
    assert callers[0].error is None and callers[2].error is None
    assert decision_by_order(engine, "gc-hurried") is None
    assert decision_by_order(engine, "gc-first") is not None
    assert decision_by_order(engine, "gc-patient") is not None


def test_one_order_twice_in_one_transaction_is_stored_once_and_a_changed_body_refused(
    engine: Engine,
) -> None:
    committer = decision_committer(engine)
    same = "a" * 64
    callers = [
        saving(engine, "gc-lead"),
        saving(engine, "gc-twice", request_sha256=same),
        saving(engine, "gc-twice", request_sha256=same),
        saving(engine, "gc-twice", request_sha256="b" * 64),
    ]
    with writer_held(engine):
        queue_behind(committer, callers)
    for caller in callers:
        caller.join(WAIT_S)
    (first, created), (again, created_again) = callers[1].result, callers[2].result
    assert created and not created_again and again == first
    assert isinstance(callers[3].error, ConflictingRequest)
    assert created_events(engine, "gc-twice") == 1
    assert owed_updates(engine, "gc-twice") == 1


def test_a_batch_tells_which_of_its_decisions_are_new(engine: Engine) -> None:
    save_decision(engine, sample_decision("mix-stored"), False)

    def prepared(order_id: str) -> decision_rows.PreparedDecision:
        return decision_rows.prepare(sample_decision(order_id), False, timedelta(hours=1))

    order_ids = ["mix-a", "mix-stored", "mix-b", "mix-a"]
    with writing(engine) as connection:
        added = decision_rows.write(connection, [prepared(o) for o in order_ids])
    assert added == [True, False, True, False]
    for order_id in ("mix-a", "mix-stored", "mix-b"):
        assert rows_of(engine, DecisionRow, order_id) == 1
        assert created_events(engine, order_id) == 1
        assert owed_updates(engine, order_id) == 1


def test_a_batch_of_many_statements_tells_which_are_new_across_them(engine: Engine) -> None:
    # 45 decisions are inserted by statements of 32, 8, 4 and 1 rows: repeats cross them.
    for stored in ("many-stored-0", "many-stored-1"):
        save_decision(engine, sample_decision(stored), False)
    order_ids = [f"many-{n}" for n in range(41)]
    order_ids[5] = "many-stored-0"  # stored before, in the first statement
    order_ids[33] = "many-2"  # first inserted by the first statement, repeated in the second
    order_ids[38] = "many-stored-1"  # stored before, in the third statement
    order_ids += ["many-40", "many-3", "many-stored-0", "many-last"]  # the last two statements
    assert list(statement_sizes(len(order_ids))) == [32, 8, 4, 1]
    batch = [
        decision_rows.prepare(sample_decision(o), False, timedelta(hours=1)) for o in order_ids
    ]
    with writing(engine) as connection:
        added = decision_rows.write(connection, batch)
    # Not new: the two stored before, and each repeat of an order id earlier in the batch.
    assert [n for n, new in enumerate(added) if not new] == [5, 33, 38, 41, 42, 43]
    for prepared, new in zip(batch, added, strict=True):
        order_id = prepared.record.order_id
        assert rows_of(engine, DecisionRow, order_id) == 1
        assert created_events(engine, order_id) == 1
        if new:  # the stored row is this decision's, as it was prepared
            assert decision_by_order(engine, order_id) == prepared.record


@given(st.integers(min_value=0, max_value=500))
def test_a_batch_is_split_into_statements_of_a_power_of_two_rows(count: int) -> None:
    sizes = list(statement_sizes(count))
    assert sum(sizes) == count
    assert all(size & (size - 1) == 0 and 1 <= size <= ROWS_PER_STATEMENT for size in sizes)
    # Fewest statements: full ones, then one per bit of the rest.
    assert len(sizes) == count // ROWS_PER_STATEMENT + (count % ROWS_PER_STATEMENT).bit_count()


@pytest.mark.parametrize("batch", [1, 3])
def test_a_batch_never_holds_more_than_its_size(engine: Engine, batch: int) -> None:
    committer = GroupCommitter(engine, decision_rows.write, max_batch=batch)
    prepared = [
        decision_rows.prepare(sample_decision(f"gc-size-{n}"), False, timedelta(hours=1))
        for n in range(7)
    ]
    callers = [Caller(functools.partial(committer.submit, p)) for p in prepared]
    with writer_held(engine):
        queue_behind(committer, callers)
    for caller in callers:
        caller.join(WAIT_S)
    assert [c.result for c in callers] == [True] * 7
    # The first alone, then the six that queued behind it, `batch` at a time.
    assert committer.stats.commits == 1 + -(-6 // batch)
