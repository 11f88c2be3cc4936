"""`ordershield demo`: the whole loop on the embedded defaults, from simulation to decisions."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
import time
from typing import Any

import httpx
import pandas as pd
from rich.console import Console
from rich.table import Table

from features.schema import DECLINE_DELAY
from features.settings import Settings
from training.cli.server import ServerError, running_server, server_env
from training.demo import split_for_demo
from training.payloads import order_payload

# The service's person roles and key scopes: the command line may not import the
# service, so a test keeps these equal to `service.auth.roles`.
DEMO_ROLES = ("reviewer", "senior_reviewer", "legal", "logistics", "admin")
ALL_SCOPES = "score,labels,orders:read,admin"
# Wide enough for reasons to read as sentences even when not on a terminal.
console = Console(width=max(Console().width, 150))


def replay(url: str, api_key: str, live: pd.DataFrame) -> list[dict[str, Any]]:
    """Send the live orders (and their payment declines) in time order; return the decisions."""
    events: list[tuple[pd.Timestamp, int, int]] = [
        (t, 0, i) for i, t in enumerate(live["created_at"])
    ]
    declined = live.index[live["payment_declined"].fillna(False).to_numpy(dtype=bool)]
    events += [(live.at[i, "created_at"] + DECLINE_DELAY, 1, i) for i in declined]
    decisions: list[dict[str, Any]] = []
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=url, timeout=30, headers=headers) as client:
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


def ordershield(settings: Settings, *args: str, stdin: str = "") -> str:
    """Run an `ordershield` command on the demo's data, as a user would; return its stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "training.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=server_env(settings),
        check=False,
    )
    if done.returncode != 0:
        raise ServerError(f"ordershield {' '.join(args[:2])} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def print_access(
    url: str,
    api_key: str,
    passwords: dict[str, str],
    decisions: list[dict[str, Any]],
    settings: Settings,
) -> None:
    """Print how to call the API and sign in: the key, one user per role, an order to open."""
    table = Table("username (role)", "password", title=f"sign in at {url}/login")
    for role, password in passwords.items():
        table.add_row(role, password)
    console.print(table)
    reviewed = next((d for d in decisions if d["tier"] == "high"), decisions[-1])
    console.print(f"API key (scopes {ALL_SCOPES}): {api_key}")
    console.print(
        f"  curl -H 'Authorization: Bearer {api_key}' {url}/v1/orders/{reviewed['order_id']}"
    )
    console.print(f"an order to open after signing in: {url}/orders/{reviewed['order_id']}")
    console.print(f"API docs: {url}/docs; data under {settings.data_dir}")


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
    console.rule("4. access: an API key for the order system, one person per role")
    api_key = ordershield(settings, "keys", "create", "--name", "demo", "--scopes", ALL_SCOPES)
    passwords = {role: secrets.token_urlsafe(12) for role in DEMO_ROLES}
    for role, password in passwords.items():
        ordershield(
            settings,
            "users",
            "create",
            "--username",
            role,
            "--role",
            role,
            "--password-stdin",
            stdin=password,
        )
    console.rule(f"5. serving version {result.version} and scoring {len(split.live)} live orders")
    with running_server(settings) as server:
        decisions = replay(server.url, api_key, split.live)
        print_decisions(decisions)
        print_access(server.url, api_key, passwords, decisions, settings)
        if not keep_serving:
            console.print("the server stops now; `ordershield demo --keep-serving` keeps it up")
        else:
            console.print("serving until Ctrl-C")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
