"""`ordershield demo`: the whole loop on the embedded defaults, from simulation to decisions."""

from __future__ import annotations

import shutil
import time
from typing import Any

import httpx
import pandas as pd
from rich.console import Console
from rich.table import Table

from features.schema import DECLINE_DELAY
from features.settings import Settings
from training.cli.server import running_server
from training.demo import split_for_demo
from training.payloads import order_payload

# Wide enough for reasons to read as sentences even when not on a terminal.
console = Console(width=max(Console().width, 150))


def replay(url: str, live: pd.DataFrame) -> list[dict[str, Any]]:
    """Send the live orders (and their payment declines) in time order; return the decisions."""
    events: list[tuple[pd.Timestamp, int, int]] = [
        (t, 0, i) for i, t in enumerate(live["created_at"])
    ]
    declined = live.index[live["payment_declined"].fillna(False).to_numpy(dtype=bool)]
    events += [(live.at[i, "created_at"] + DECLINE_DELAY, 1, i) for i in declined]
    decisions: list[dict[str, Any]] = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for moment, kind, row in sorted(events, key=lambda e: (e[0], e[1])):
            if kind == 0:
                answer = client.post("/v1/orders/score", json=order_payload(live.iloc[row]))
                answer.raise_for_status()
                decisions.append({**answer.json(), "scenario": live.at[row, "scenario"]})
            else:
                client.post(
                    f"/v1/orders/{live.at[row, 'order_id']}/payment",
                    json={"status": "declined", "known_at": moment.isoformat()},
                ).raise_for_status()
    return decisions


def print_decisions(decisions: list[dict[str, Any]]) -> None:
    """Print honest samples and, per scenario, its first and its riskiest decision."""
    frame = pd.DataFrame(decisions)
    frame["scenario"] = frame["scenario"].fillna("honest")
    table = Table(
        "scenario", "order", "score", "tier", "action", "stock", "top reasons", show_lines=True
    )
    for scenario, group in frame.groupby("scenario", sort=True):
        picks = (
            group.head(3) if scenario == "honest" else group.iloc[[0, int(group["score"].argmax())]]
        )
        for _, row in picks.drop_duplicates("order_id").iterrows():
            reasons = "\n".join(r["text"] for r in row["reasons"][:3]) or "-"
            table.add_row(
                scenario,
                row["order_id"][-10:],
                f"{row['score']:.3f}",
                row["tier"],
                row["action"],
                "frozen" if row["stock"]["freeze"] else "released",
                reasons,
            )
    console.print(table)
    summary = frame.groupby("scenario")["tier"].value_counts().unstack(fill_value=0)
    console.print(summary.to_string())


def run_demo(orders: int, seed: int, keep_serving: bool) -> None:
    """Simulate, build features, train, promote, serve and score the live orders."""
    from training.cli.features_cmd import apply_features
    from training.cli.main import _print_result, _write_orders
    from training.simulation import simulate_orders
    from training.train import train

    base = Settings()
    settings = base.model_copy(update={"data_dir": base.data_dir / "demo"})
    shutil.rmtree(settings.data_dir, ignore_errors=True)
    console.rule(f"1. simulating {orders:,} orders")
    split = split_for_demo(simulate_orders(orders, seed=seed))
    _write_orders(split.history, settings)
    console.rule("2. features: offline aggregates, Feast apply, materialize")
    apply_features(settings)
    from features.store import materialize

    console.print(f"materialized {materialize(settings):,} entity states")
    console.rule("3. training out of time, registering in MLflow")
    result = train(settings, progress=lambda step: console.print(f"[dim]… {step}[/dim]"))
    _print_result(result)
    from models.registry import promote

    promote(settings, result.version)
    console.rule(f"4. serving version {result.version} and scoring {len(split.live)} live orders")
    with running_server(settings) as server:
        print_decisions(replay(server.url, split.live))
        console.print(
            f"API docs while the demo runs: {server.url}/docs; data under {settings.data_dir}"
        )
        if keep_serving:
            console.print("serving until Ctrl-C")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
