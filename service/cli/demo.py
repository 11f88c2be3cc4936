"""`ordershield demo`: the whole loop on the embedded defaults, from simulation to decisions."""

from __future__ import annotations

import secrets
import shutil
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from features.build import write_order_log
from features.schema import DECLINE_DELAY
from features.store import materialize
from models.registry import promote
from service.audit.changes import record_promotion
from service.audit.log import take_checkpoint
from service.audit.signing import generate_signing_key
from service.auth.keys import create_key
from service.auth.people import create_user
from service.auth.principal import operator
from service.auth.roles import KEY_ROLE_DEFAULT, PERSON_ROLES, SERVICE_SCOPES
from service.cli.db import database
from service.cli.features_cmd import apply_features
from service.cli.server import running_server
from service.cli.simulated_rates import write_simulated_rates
from service.cli.training_cmd import print_result
from service.settings import ServiceSettings
from training.sources.demo_split import split_for_demo
from training.sources.payloads import order_payload

# Wide enough for reasons to read as sentences even when not on a terminal.
console = Console(width=max(Console().width, 150))


def replay(url: str, api_key: str, live: pd.DataFrame) -> list[dict[str, Any]]:
    """Send the live orders (and their payment declines) in time order; return the decisions."""
    # `live` has a range index: a row's label is its position.
    created: list[pd.Timestamp] = list(live["created_at"])
    events = [(moment, 0, row) for row, moment in enumerate(created)]
    declined = np.flatnonzero(live["payment_declined"].fillna(False).to_numpy(dtype=bool))
    events += [(created[row] + DECLINE_DELAY, 1, int(row)) for row in declined]
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
                    f"/v1/orders/{live['order_id'].iloc[row]}/payment",
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
                str(scenario),
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


def create_access(settings: ServiceSettings) -> tuple[str, dict[str, str]]:
    """Create the order system's key (every scope of its role) and one sign-in per person role."""
    passwords = {role: secrets.token_urlsafe(12) for role in PERSON_ROLES}
    with database(settings) as engine:
        _, token = create_key(engine, "demo", SERVICE_SCOPES, KEY_ROLE_DEFAULT)
        for role, password in passwords.items():
            create_user(engine, role, role, password)
    generate_signing_key(Path(settings.signing_key_source))
    return token, passwords


def sign_log(settings: ServiceSettings, url: str, decisions: list[dict[str, Any]]) -> None:
    """Sign a checkpoint of the audit log and print how legal checks it and reads evidence."""
    with database(settings) as engine:
        signed, path = take_checkpoint(engine, settings)
    frozen = next((d for d in decisions if d["action"] in ("review", "decline")), decisions[-1])
    console.print(f"audit log: {signed.size:,} entries, checkpoint signed and written to {path}")
    console.print(
        f"  verify it: ORDERSHIELD_DATA_DIR={settings.data_dir} "
        f"ordershield audit verify --from-checkpoint {path}"
    )
    console.print(
        f"evidence of a frozen order (sign in as legal): {url}/legal/decisions/{frozen['order_id']}"
    )


def print_access(
    url: str,
    api_key: str,
    passwords: dict[str, str],
    decisions: list[dict[str, Any]],
    settings: ServiceSettings,
) -> None:
    """Print how to call the API and sign in: the key, one user per role, an order to open."""
    table = Table("username (role)", "password", title=f"sign in at {url}/login")
    for role, password in passwords.items():
        table.add_row(role, password)
    console.print(table)
    reviewed = next((d for d in decisions if d["tier"] == "high"), decisions[-1])
    console.print(f"API key (scopes {','.join(SERVICE_SCOPES)}): {api_key}")
    console.print(
        f"  curl -H 'Authorization: Bearer {api_key}' {url}/v1/orders/{reviewed['order_id']}"
    )
    console.print(f"an order to open after signing in: {url}/orders/{reviewed['order_id']}")
    waiting = sum(d["action"] == "review" for d in decisions)
    console.print(
        f"{waiting} frozen orders wait in the review queue: {url}/review "
        "(sign in as reviewer, press n)"
    )
    console.print(f"API docs: {url}/docs; data under {settings.data_dir}")
    console.print(
        "serve this data again with: ORDERSHIELD_REVIEW_CRITICAL=true "
        f"ORDERSHIELD_DATA_DIR={settings.data_dir} ordershield serve"
    )


def demo(
    orders: Annotated[int, typer.Option(help="how many orders to simulate")] = 200_000,
    seed: Annotated[int, typer.Option(help="random seed")] = 7,
    keep_serving: Annotated[bool, typer.Option(help="keep the server up after the demo")] = False,
) -> None:
    """Simulate, build features, train, register, serve and score sample orders."""
    from training.sources.simulator import simulate_orders
    from training.train import train

    base = ServiceSettings()
    # Fraud the model is sure of is critical (declined outright); the demo sends those
    # orders to the review desk as well, so that the reviewer it signs in has work.
    settings = base.model_copy(update={"data_dir": base.data_dir / "demo", "review_critical": True})
    shutil.rmtree(settings.data_dir, ignore_errors=True)
    console.rule(f"1. simulating {orders:,} orders")
    simulated = simulate_orders(orders, seed=seed)
    # In the data dir, the rates are found by this build and by `serve` on this data alike.
    write_simulated_rates(settings)
    split = split_for_demo(simulated)
    write_order_log(split.history, settings)
    console.rule("2. features: offline aggregates, Feast apply, materialize")
    apply_features(settings)
    console.print(f"materialized {materialize(settings):,} entity states")
    console.rule("3. training out of time, registering in MLflow")
    result = train(settings, progress=lambda step: console.print(f"[dim]… {step}[/dim]"))
    print_result(result)
    promote(settings, result.version)
    with database(settings) as engine:
        record_promotion(
            engine,
            settings.model_name,
            result.version,
            None,
            vars(result.card.thresholds),
            operator(),
        )
    console.rule("4. access: an API key for the order system, one person per role")
    api_key, passwords = create_access(settings)
    console.rule(f"5. serving version {result.version} and scoring {len(split.live)} live orders")
    with running_server(settings) as server:
        decisions = replay(server.url, api_key, split.live)
        print_decisions(decisions)
        print_access(server.url, api_key, passwords, decisions, settings)
        sign_log(settings, server.url, decisions)
        if not keep_serving:
            console.print("the server stops now; `ordershield demo --keep-serving` keeps it up")
        else:
            console.print("serving until Ctrl-C")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
