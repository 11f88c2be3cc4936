"""Where one decision's time went, by stage, for the `Server-Timing` answer header."""

from __future__ import annotations

import time


class Stopwatch:
    """Laps of one decision: each `lap` charges the time since the last one to a stage."""

    def __init__(self) -> None:
        self.stages: dict[str, float] = {}
        self._mark = time.perf_counter()

    def lap(self, stage: str) -> None:
        """Charge the time since the last lap (or the start) to `stage`, in milliseconds."""
        now = time.perf_counter()
        self.stages[stage] = self.stages.get(stage, 0.0) + (now - self._mark) * 1000
        self._mark = now

    def header(self) -> str:
        """Return the stages as a `Server-Timing` header value (W3C Server Timing)."""
        return ", ".join(f"{stage};dur={ms:.3f}" for stage, ms in self.stages.items())
