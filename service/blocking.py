"""Running blocking work (database, feature store, model) off the event loop.

The scoring path is CPU-bound Python plus short database and store calls, so a
few threads serve it as well as many, and fewer threads contend less for the
GIL. `in_thread` hands work to the event loop's executor, which the app's
lifespan sizes, without the per-call bookkeeping of Starlette's thread pool.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def executor(threads: int) -> ThreadPoolExecutor:
    """Return the pool that runs the service's blocking work."""
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ordershield")


async def in_thread(function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run `function` in the event loop's executor and return its result."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, functools.partial(function, *args, **kwargs))
