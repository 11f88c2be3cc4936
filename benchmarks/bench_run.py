"""The two server sessions of `bench.py` and the report they make."""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bench_report as out
from bench_inprocess import Comparison, compare
from bench_state import Largest, largest_rows
from bench_steps import Feed, Plan, Session, Step, one_at_a_time, step, sweep, warm_up
from http_client import Poster
from live_stream import say
from load import WARMUP_CLIENTS, run_loop
from machine import machine_rows, memory_kib
from serving import (
    client_of,
    ensure_database,
    running_servers,
    scoring_key,
    shown_url,
    stop_message,
)

from service.settings import ServiceSettings

Driver = Callable[[Poster, tuple[int, ...]], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class Parts:
    """What to run: the single server's settings and plan, the two servers' settings and rates."""

    single: ServiceSettings
    two: ServiceSettings
    plan: Plan
    two_rates: tuple[float, ...]
    two_duration: float
    connections: int


@dataclass
class Results:
    """Everything measured, for the report."""

    one: Session = field(default_factory=Session)
    two: Session = field(default_factory=Session)
    comparison: Comparison | None = None
    rss_mib: dict[int, list[float]] = field(default_factory=dict)
    states: list[tuple[ServiceSettings, list[Largest]]] = field(default_factory=list)
    two_error: str | None = None


def run_parts(parts: Parts, feeds: tuple[Feed, Feed], command: str) -> int:
    """Run both sessions, print the report; return 1 if an order outside the sweep failed."""
    machine = machine_rows()  # the load average before the run, not after it
    results = Results()

    async def single(client: Poster, pids: tuple[int, ...]) -> None:
        await single_session(client, feeds[0], parts, pids, results)

    async def pair(client: Poster, pids: tuple[int, ...]) -> None:
        await two_session(client, feeds[1], parts, pids, results.two)

    try:
        results.rss_mib[1] = serve(parts.single, 1, parts.connections, single)
        feeds[0].save()
        if parts.single.data_dir != parts.two.data_dir:
            results.states.append((parts.single, largest_rows(parts.single)))
        try:
            ensure_database(parts.two.db_url)
            results.rss_mib[2] = serve(parts.two, 2, parts.connections, pair)
        except Exception as error:  # the figures of parts 1-6 are still worth printing
            results.two_error = f"{type(error).__name__}: {error}"
        # After both sessions when they share a data dir: part 1's state, if part 7 failed.
        if results.two_error is None or parts.single.data_dir == parts.two.data_dir:
            results.states.append((parts.two, largest_rows(parts.two)))
    finally:
        for feed in feeds:
            feed.save()
    report(parts, results, command, machine)
    runs = [results.one.warm, results.one.serial, results.two.warm]
    runs += [s.run for s in results.one.steps + results.two.steps]
    failed = sum(not sample.ok for run in runs if run for sample in run.samples)
    return 1 if failed or results.two_error else 0


def serve(settings: ServiceSettings, count: int, connections: int, drive: Driver) -> list[float]:
    """Start `count` servers, drive them, stop them; return each one's peak RSS in MiB."""
    log = server_log(settings, count)
    log.unlink(missing_ok=True)
    with running_servers(settings, count, log) as servers:
        pids = tuple(server.process.pid for server in servers)
        say(f"{count} server process(es) ready, pid {', '.join(map(str, pids))}")
        client = client_of(servers, scoring_key(settings), connections)
        try:
            run_loop(drive(client, pids))
        finally:
            client.close()
        peaks = [memory_kib(pid)["VmHWM"] / 1024 for pid in pids]
    for server in servers:
        say(stop_message(server.process.returncode))
    return peaks


async def single_session(
    client: Poster, feed: Feed, parts: Parts, pids: tuple[int, ...], results: Results
) -> None:
    """Warm up, score orders one at a time, compare in-process, hold the rates, sweep."""
    plan, session = parts.plan, results.one
    say(f"warming up with {plan.warmup} orders")
    session.warm = await warm_up(client, feed, plan.warmup, pids)
    say(f"{plan.serial} orders one at a time")
    session.serial_indices, session.serial = await one_at_a_time(client, feed, plan.serial, pids)
    say("the straightforward path, in this process")
    samples = session.serial.samples
    length = len(feed.stream.payloads)
    results.comparison = compare(parts.single, session.serial_indices, samples, length)
    gc.collect()
    gc.freeze()
    for rate in plan.rates:
        session.steps.append(await step(client, feed, rate, plan.duration, pids))
    say(f"sweep from {plan.sweep_start:g}/s up by {plan.sweep_step:g}/s")
    session.sweep = await sweep(client, feed, plan, pids)


async def two_session(
    client: Poster, feed: Feed, parts: Parts, pids: tuple[int, ...], session: Session
) -> None:
    """Warm up both servers, then hold each of the two-server rates."""
    say(f"warming up with {parts.plan.warmup} orders")
    session.warm = await warm_up(client, feed, parts.plan.warmup, pids)
    for rate in parts.two_rates:
        session.steps.append(await step(client, feed, rate, parts.two_duration, pids))


def server_log(settings: ServiceSettings, count: int) -> Path:
    """Return the file the stderr of a set of `count` servers goes to."""
    return settings.data_dir / f"bench-servers-{count}.log"


def log_line(settings: ServiceSettings, count: int) -> str:
    """Describe the servers' log: where it is and how long."""
    log = server_log(settings, count)
    lines = len(log.read_bytes().splitlines()) if log.exists() else 0
    return f"  server log: {shown(log)} ({lines} lines of warnings and errors)"


def shown(path: Path) -> str:
    """Return a path relative to the working directory where it lies under it."""
    return os.path.relpath(path) if path.is_relative_to(Path.cwd()) else str(path)


def described(settings: ServiceSettings) -> str:
    """Return the online store and decisions database of these settings."""
    store = settings.online_store
    where = settings.redis_url.get_secret_value() if store == "redis" else "file in the data dir"
    database = (
        shown_url(settings.db_url) if settings.database_url else "SQLite file in the data dir"
    )
    data_dir = shown(settings.data_dir)
    return f"{store} online store ({where}), data dir {data_dir}, decisions in {database}"


def report(parts: Parts, results: Results, command: str, machine: list[tuple[str, str]]) -> None:
    """Print every part, the machine and the plan first."""
    plan = parts.plan
    print("\nOrderShield benchmark")
    out.rows(
        [
            ("command", command),
            *machine,
            ("parts 1-5", f"one server process: {described(parts.single)}"),
            ("part 7", f"two server processes: {described(parts.two)}"),
            ("warm-up", f"{plan.warmup} orders from {WARMUP_CLIENTS} clients per server set"),
            ("whole call", "due time to answer: validation, read, score, SHAP, write, update"),
        ]
    )
    one = results.one
    out.section(f"1. Whole call, one server process (open loop, {plan.duration:g} s per rate; ms)")
    out.step_table(one.steps)
    out.errors(one.steps)
    out.section(
        f"2. Rate where p99 crosses {plan.limit_ms:g} ms (open loop, {plan.sweep_duration:g} s"
        f" per step, +{plan.sweep_step:g}/s from {plan.sweep_start:g}/s; ms)"
    )
    out.step_table(one.sweep)
    out.crossing_lines(one.sweep, plan.limit_ms)
    out.section(f"3. Server CPU per order at {plan.cpu_rate:g}/s")
    print("  " + cpu_line([s for s in one.steps if s.rate == plan.cpu_rate], "process"))
    print(f"  server peak RSS {', '.join(f'{m:.0f}' for m in results.rss_mib.get(1, []))} MiB")
    print(log_line(parts.single, 1))
    out.section("4. Stages of our path (Server-Timing; ms)")
    out.stage_table(one.steps)
    out.section("5. Our path against the straightforward path (ms per order)")
    if results.comparison is not None:
        out.comparison_table(results.comparison)
    out.section("6. Largest entity state in the online store after the run")
    for settings, found in results.states:
        print(f"  {described(settings)}")
        out.state_table(found)
    out.section(
        f"7. Two server processes on one Redis and one PostgreSQL, the client taking them in"
        f" turn (open loop, {parts.two_duration:g} s per rate; ms)"
    )
    if results.two_error:
        print(f"  not measured: {results.two_error}")
        return
    out.step_table(results.two.steps)
    out.errors(results.two.steps)
    for measured in results.two.steps:
        print(f"  at {measured.rate:g}/s: " + cpu_line([measured], "processes (summed)"))
    print(f"  server peak RSS {', '.join(f'{m:.0f}' for m in results.rss_mib.get(2, []))} MiB")
    print(log_line(parts.two, 2))
    print("  stages (Server-Timing; ms):")
    out.stage_table(results.two.steps)


def cpu_line(steps: list[Step], whose: str) -> str:
    """Describe the server's and the load generator's CPU time per order at one step."""
    if not steps:
        return "n/a: not measured"
    measured = steps[0]
    run, answered = measured.run, len(measured.ok)
    client_ms = run.client_cpu_s * 1000 / answered if answered else float("nan")
    return (
        f"{out.ms(measured.cpu_ms_per_order())} ms of server CPU per order (user+sys of the"
        f" server {whose}, /proc/<pid>/stat, {answered} orders in {run.seconds:.1f} s);"
        f" load generator {out.ms(client_ms)} ms"
    )
