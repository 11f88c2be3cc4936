"""The printed report of `bench.py`: aligned tables, one section per figure asked for."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from bench_inprocess import STAGES, Comparison
from bench_state import Largest
from bench_steps import Step, crossing

LABEL_WIDTH = 16
KEY_WIDTH = 32


def section(title: str) -> None:
    """Print a section title."""
    print(f"\n{title}")


def rows(pairs: Sequence[tuple[str, str]]) -> None:
    """Print label: text lines."""
    for label, text in pairs:
        print(f"  {label:<{LABEL_WIDTH}} {text}")


def table(headers: Sequence[str], body: Sequence[Sequence[str]]) -> None:
    """Print a table: the first column left-aligned, the others right-aligned."""
    widths = [max(len(r[j]) for r in [headers, *body]) for j in range(len(headers))]
    for line in [headers, *body]:
        cells = [
            cell.ljust(w) if j == 0 else cell.rjust(w)
            for j, (cell, w) in enumerate(zip(line, widths, strict=True))
        ]
        print("  " + "  ".join(cells).rstrip())


def ms(value: float | None) -> str:
    """Return milliseconds with two decimals, or n/a."""
    return "n/a" if value is None or math.isnan(value) else f"{value:.2f}"


def step_table(steps: Sequence[Step]) -> None:
    """Print whole-call latency, failures and CPU of each rate step."""
    headers = [
        "rate/s", "sent", "ok", "failed", "degraded", "answered/s",
        "p50", "p90", "p99", "p99.9", "max", "CPU ms/order", "server cores", "client cores",
    ]  # fmt: skip
    body = []
    for s in steps:
        run = s.run
        body.append(
            [
                f"{s.rate:g}",
                str(len(run.samples)),
                str(len(s.ok)),
                str(s.failed),
                str(s.degraded),
                f"{len(s.ok) / run.seconds:.1f}",
                *(ms(s.p(point)) for point in (50, 90, 99, 99.9, 100)),
                ms(s.cpu_ms_per_order()),
                f"{run.server_cpu_s / run.seconds:.2f}",
                f"{run.client_cpu_s / run.seconds:.2f}",
            ]
        )
    table(headers, body)


def errors(steps: Sequence[Step], limit: int = 3) -> None:
    """Print a few distinct errors of these steps."""
    found = sorted({s.error or "" for step in steps for s in step.run.samples if not s.ok})
    for error in found[:limit]:
        print(f"  error: {error}")


def crossing_lines(steps: Sequence[Step], limit_ms: float) -> None:
    """Print the last rate under the limit and the first over it."""
    under, over = crossing(list(steps), limit_ms)
    if under is None:
        print(f"  last under:  none (the first rate, {steps[0].rate:g}/s, was already over)")
    else:
        print(f"  last under:  {under.rate:g}/s (p99 {ms(under.p(99))} ms)")
    if over is None:
        print(f"  first over:  none up to {steps[-1].rate:g}/s")
    else:
        why = [f"p99 {ms(over.p(99))} ms"]
        why += [f"{over.failed} failed"] if over.failed else []
        why += [f"{over.degraded} degraded"] if over.degraded else []
        print(f"  first over:  {over.rate:g}/s ({', '.join(why)})")


def stage_table(steps: Sequence[Step]) -> None:
    """Print p50/p99 of each Server-Timing entry at each rate, or n/a without the header."""
    names: list[str] = []
    for s in steps:
        for sample in s.ok:
            names += [name for name, _ in sample.stages if name not in names]
    if not names:
        print("  n/a: the server sent no Server-Timing header")
        return
    headers = ["stage"]
    for s in steps:
        headers += [f"{s.rate:g}/s p50", "p99"]
    body = []
    for name in names:
        line = [name]
        for s in steps:
            values = [v for sample in s.ok for n, v in sample.stages if n == name]
            line += [ms(_pct(values, 50)), ms(_pct(values, 99))]
        body.append(line)
    table(headers, body)


def _pct(values: Sequence[float] | np.ndarray, point: float) -> float:
    array = np.asarray(values, dtype=float)
    if not np.isfinite(array).any():
        return math.nan
    return float(np.nanpercentile(array, point))


def comparison_table(comparison: Comparison) -> None:
    """Print both paths' p50/p99 per stage and whole, and ours over theirs."""
    ours, theirs = comparison.ours, comparison.straightforward
    headers = ["stage", "ours p50", "p99", "straightforward p50", "p99", "ours/theirs p50", "p99"]
    body = [_compared(name, ours.stages.get(name), theirs.stages.get(name)) for name in STAGES]
    body.append(_compared("whole", ours.whole(), theirs.whole()))
    table(headers, body)
    summed = [name for name in STAGES if name in ours.stages]
    whole = "+".join(summed) if ours.whole() is not None else "n/a without our read"
    rows(
        [
            ("orders", f"{comparison.orders}, one at a time (the server's one-at-a-time phase)"),
            ("ours", ours.source),
            ("straightforward", theirs.source),
            ("whole", f"read+score+explain per order (ours: {whole}); no write or update"),
        ]
    )


def _compared(name: str, ours: np.ndarray | None, theirs: np.ndarray | None) -> list[str]:
    line = [name]
    figures = {}
    for side, values in (("ours", ours), ("theirs", theirs)):
        for point in (50, 99):
            figures[side, point] = math.nan if values is None else _pct(values, point)
            line.append(ms(figures[side, point]))
    for point in (50, 99):
        ratio = figures["ours", point] / figures["theirs", point]
        line.append("n/a" if math.isnan(ratio) else f"{ratio:.2f}")
    return line


def state_table(found: Sequence[Largest]) -> None:
    """Print the largest row of each view and the largest overall."""
    if not found:
        print("  n/a: the online store holds no rows")
        return
    redis = any(row.memory_bytes is not None for row in found)
    headers = ["view", "rows", "largest row bytes", "its largest value", "entity key"]
    headers += ["memory usage"] if redis else []
    body = []
    for row in found:
        line = [row.view, f"{row.rows:,}", f"{row.value_bytes:,}", f"{row.largest_value_bytes:,}"]
        line.append(row.key if len(row.key) <= KEY_WIDTH else row.key[: KEY_WIDTH - 1] + "…")
        line += (
            [f"{row.memory_bytes:,}" if row.memory_bytes is not None else "n/a"] if redis else []
        )
        body.append(line)
    table(headers, body)
    top = found[0]
    print(f"  largest: {top.view} ({top.value_bytes:,} bytes of stored values, key {top.key})")
