"""`ordershield labels import`: send a file of confirmed outcomes to a running service."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import httpx
import pandas as pd
import typer
from rich.console import Console
from rich.progress import track

app = typer.Typer(help="Labels: confirmed fraud and legitimate outcomes.", no_args_is_help=True)
console = Console()
COLUMNS = ("order_id", "label", "reason", "known_at")


def read_labels(path: Path) -> pd.DataFrame:
    """Read order_id, label (fraud|legit), reason and known_at from a CSV or parquet file."""
    frame = (
        pd.read_parquet(path)
        if path.suffix in (".parquet", ".pq")
        else pd.read_csv(path, dtype=str)
    )
    missing = [c for c in ("order_id", "label") if c not in frame.columns]
    if missing:
        raise typer.BadParameter(
            f"{path} lacks column(s) {', '.join(missing)}; it has {list(frame.columns)}"
        )
    return frame[[c for c in COLUMNS if c in frame.columns]]


@app.command("import")
def import_labels(
    path: Path,
    api_key: Annotated[
        str,
        typer.Option(envvar="ORDERSHIELD_API_KEY", help="a key with the labels scope"),
    ],
    url: Annotated[str, typer.Option(help="the OrderShield service")] = "http://127.0.0.1:8000",
) -> None:
    """POST every label of FILE to /v1/labels; rows that fail are listed with the reason."""
    frame = read_labels(path)
    failures: list[str] = []
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=url, timeout=30, headers=headers) as client:
        for row_number, row in track(
            list(enumerate(frame.to_dict("records"), start=1)),
            description="sending labels",
            console=console,
        ):
            body = {k: (None if pd.isna(v) else str(v)) for k, v in row.items()}
            response = client.post("/v1/labels", json=body)
            if response.status_code != 200:
                failures.append(f"row {row_number} ({body['order_id']}): {response.json()}")
    console.print(f"{len(frame) - len(failures):,} of {len(frame):,} labels recorded")
    for failure in failures[:20]:
        console.print(f"[red]{failure}[/red]")
    if failures:
        raise typer.Exit(1)
