"""Group commit: writes of concurrent callers share one transaction, and so one fsync.

A caller hands its item to `GroupCommitter.submit` and gets its own result
once the transaction that holds it has committed: an answer never leaves
before its write is on disk. No thread of its own: the first caller to find
no transaction under way runs one for every item waiting at that moment (the
leader); the callers that queue while it commits wait, and when it is done
the first of them leads the next. Alone, a caller writes at once, as it would
without the committer; under load, one fsync serves all who queued during
the last one.

Deadlines: each caller brings its thread's database deadline (`db.within`).
A shared transaction runs by the earliest deadline among its members; a
caller still queued at its deadline leaves the queue with
`DatabaseUnavailable`, nothing written. Failures: a shared transaction that
fails is rolled back and each of its members writes again alone, in its own
thread and by its own deadline, so a member fails for its own fault only and
with its own error.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sqlalchemy import Connection, Engine

from service.persistence.db import current_deadline, until, writing
from service.persistence.errors import DatabaseUnavailable

T = TypeVar("T")
R = TypeVar("R")
# Items in one transaction at most: a burst is committed in a few, none of them huge.
MAX_BATCH = 64
_LATE = "the write did not get a transaction within its deadline"


@dataclass(eq=False)
class _Member(Generic[T, R]):
    """One caller's item, and what became of it."""

    item: T
    deadline: float | None
    wake: threading.Event = field(default_factory=threading.Event)
    lead: bool = False  # this caller runs the next transaction
    taken: bool = False  # in a transaction under way: no longer leaves the queue
    done: bool = False
    alone: bool = False  # its shared transaction failed: it writes again by itself
    result: R | None = None
    error: BaseException | None = None

    def finish(self, result: R | None = None, error: BaseException | None = None) -> None:
        self.result, self.error, self.done = result, error, True
        self.wake.set()


@dataclass
class CommitStats:
    """What a committer did: transactions committed, items in them, shared ones that failed."""

    commits: int = 0
    items: int = 0
    failed_batches: int = 0


class GroupCommitter(Generic[T, R]):
    """Writes the items of concurrent callers in shared transactions on one engine.

    `write(connection, items)` runs inside the transaction and returns one
    result per item, in order; whatever it raises rolls the transaction back.
    """

    def __init__(
        self,
        engine: Engine,
        write: Callable[[Connection, Sequence[T]], Sequence[R]],
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._engine = engine
        self._write = write
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Member[T, R]] = []
        self._leading = False
        self.stats = CommitStats()

    @property
    def queued(self) -> int:
        """Return how many callers wait for the next transaction."""
        with self._lock:
            return len(self._queue)

    @property
    def leading(self) -> bool:
        """Return whether a caller is running a transaction for the others."""
        with self._lock:
            return self._leading

    def submit(self, item: T) -> R:
        """Write `item` in the next transaction; return its result once that has committed."""
        member: _Member[T, R] = _Member(item, current_deadline())
        with self._lock:
            self._queue.append(member)
            if not self._leading:
                self._leading = member.lead = True
        while not member.done:
            if member.lead:
                self._lead()
            else:
                self._wait(member)
        if member.alone:
            return self._write_alone(item)
        if member.error is not None:
            raise member.error
        return member.result  # type: ignore[return-value]

    def _wait(self, member: _Member[T, R]) -> None:
        """Wait to be answered or to lead; leave the queue at the deadline if still in it."""
        if member.deadline is None or member.taken:
            # A transaction under way is bounded by its members' earliest deadline.
            member.wake.wait()
        elif member.wake.wait(max(member.deadline - time.monotonic(), 0.0)):
            return
        with self._lock:
            member.wake.clear()
            if member.done or member.lead or member.taken:
                return
            self._queue.remove(member)
        member.finish(error=DatabaseUnavailable(_LATE))

    def _lead(self) -> None:
        """Write what waits now in one transaction, then hand the lead to who queued since."""
        with self._lock:
            batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
            for member in batch:
                member.taken = True
        try:
            now = time.monotonic()
            live = []
            for member in batch:
                if member.deadline is not None and member.deadline <= now:
                    member.finish(error=DatabaseUnavailable(_LATE))
                else:
                    live.append(member)
            if live:
                self._commit(live)
        finally:
            for member in batch:
                if not member.done:  # only if the leader itself was interrupted
                    member.finish(error=DatabaseUnavailable("the shared transaction was cut off"))
            with self._lock:
                if self._queue:
                    self._queue[0].lead = True
                    self._queue[0].wake.set()
                else:
                    self._leading = False

    def _commit(self, live: list[_Member[T, R]]) -> None:
        deadlines = [m.deadline for m in live if m.deadline is not None]
        try:
            with until(min(deadlines, default=None)), writing(self._engine) as connection:
                results = self._write(connection, [m.item for m in live])
        except Exception as error:
            if len(live) == 1:
                live[0].finish(error=error)
                return
            with self._lock:
                self.stats.failed_batches += 1
            for member in live:
                member.alone = True
                member.finish()
            return
        self._count(len(live))
        for member, result in zip(live, results, strict=True):
            member.finish(result)

    def _write_alone(self, item: T) -> R:
        """Write one item in a transaction of its own, by this thread's deadline."""
        with writing(self._engine) as connection:
            result = self._write(connection, [item])[0]
        self._count(1)
        return result

    def _count(self, items: int) -> None:
        with self._lock:
            self.stats.commits += 1
            self.stats.items += items
