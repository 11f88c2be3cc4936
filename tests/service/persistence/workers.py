"""Worker processes for the multi-process tests, importable as the `spawn` start method needs."""

from __future__ import annotations

from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event

from service.persistence import make_engine, migrate, save_decision
from service.persistence.audit_log import sequence
from tests.service.persistence.samples import sample_decision


def migrate_and_save(
    url: str, worker: int, start: Event, results: Queue[tuple[str, bool | str]]
) -> None:
    """Migrate a fresh database with the others, then save a shared order and ten own ones."""
    engine = make_engine(url)
    try:
        start.wait(timeout=60)
        migrate(engine)
        shared, created = save_decision(engine, sample_decision("ord-shared"), open_case=True)
        for i in range(10):
            save_decision(engine, sample_decision(f"ord-{worker}-{i}"), open_case=False)
            sequence(engine)  # the processes' sequencers race each other too
        results.put((shared.id, created))
    except Exception as exc:
        results.put(("error", repr(exc)))
    finally:
        engine.dispose()
