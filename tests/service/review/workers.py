"""Worker processes that race on one review case, importable as the `spawn` start method needs."""

from __future__ import annotations

from datetime import timedelta
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event

from service.persistence import make_engine
from service.persistence.cases import Actor, claim_next
from service.persistence.errors import PersistenceError
from service.persistence.outcomes import decide_case

CLAIM = timedelta(minutes=15)


def decide_racing(url: str, case_id: str, worker: int, start: Event, results: Queue[str]) -> None:
    """Approve or reject the same case as the other workers, at the same moment."""
    engine = make_engine(url)
    try:
        start.wait(timeout=60)
        actor = Actor("u-shared", "ann", "reviewer")  # one reviewer clicking in many tabs
        try:
            if worker % 2:
                decide_case(engine, case_id, actor, "approve", "customer_verified")
            else:
                decide_case(engine, case_id, actor, "reject", "confirmed_fraud", None, "other")
            results.put("done")
        except PersistenceError as refused:
            results.put(f"refused: {type(refused).__name__}")
    except Exception as exc:
        results.put(f"error: {exc!r}")
    finally:
        engine.dispose()


def claim_racing(url: str, worker: int, start: Event, results: Queue[str]) -> None:
    """Ask for the next case at the same moment as the other workers."""
    engine = make_engine(url)
    try:
        start.wait(timeout=60)
        found = claim_next(engine, Actor(f"u-{worker}", f"r{worker}", "reviewer"), CLAIM)
        results.put(found.id if found else "none")
    except Exception as exc:
        results.put(f"error: {exc!r}")
    finally:
        engine.dispose()
