"""Start worker processes at one moment and collect what each reports."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from typing import Any


def race(target: Callable[..., None], count: int, *args: Any, timeout: float = 120) -> list[Any]:
    """Run `target(*args, worker, start, results)` in `count` processes released together."""
    # fork skips re-importing everything per child; the workers open their own connections.
    methods = multiprocessing.get_all_start_methods()
    context = (
        multiprocessing.get_context("fork")
        if "fork" in methods
        else multiprocessing.get_context("spawn")
    )
    start = context.Event()
    results = context.Queue()
    workers = [
        context.Process(target=target, args=(*args, worker, start, results))
        for worker in range(count)
    ]
    for process in workers:
        process.start()
    start.set()
    outcomes = [results.get(timeout=timeout) for _ in workers]
    for process in workers:
        process.join(timeout=30)
    return outcomes
