"""`ordershield webhooks …`: endpoints of the order system, their secrets, retries, a pass now."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from service.cli.db import database, when
from service.persistence.webhooks import list_endpoints
from service.settings import ServiceSettings
from service.webhooks.delivery import deliver_due
from service.webhooks.service import add_endpoint, remove, retry, rotate_secret

app = typer.Typer(help="Signed webhooks of the outbox to the order system.", no_args_is_help=True)
err = Console(stderr=True)
out = Console()


@app.command("add")
def add(
    url: Annotated[str, typer.Option(help="where events are POSTed, e.g. https://orders/hooks")],
    description: Annotated[str | None, typer.Option(help="what the endpoint is for")] = None,
) -> None:
    """Add an endpoint and print its signing secret alone on stdout: it is shown this once."""
    with database(ServiceSettings()) as engine:
        endpoint, secret = add_endpoint(engine, url, description)
    err.print(f"endpoint {endpoint.id}: {endpoint.url} gets every event from now on")
    sys.stdout.write(secret + "\n")


@app.command("list")
def list_() -> None:
    """List every endpoint: URL, creation, secret rotation, removal (never the secret)."""
    with database(ServiceSettings()) as engine:
        found = list_endpoints(engine)
    table = Table("id", "url", "description", "created", "old secret valid until", "removed")
    for e in found:
        table.add_row(
            str(e.id),
            e.url,
            e.description or "",
            when(e.created_at),
            when(e.previous_secret_expires_at),
            when(e.removed_at),
        )
    out.print(table)


@app.command("remove")
def remove_(endpoint_id: Annotated[int, typer.Argument(help="the endpoint's id")]) -> None:
    """Stop delivering to an endpoint; what it was still owed is marked failed."""
    with database(ServiceSettings()) as engine:
        remove(engine, endpoint_id)
    err.print(f"endpoint {endpoint_id} removed")


@app.command("rotate-secret")
def rotate_secret_(
    endpoint_id: Annotated[int, typer.Argument(help="the endpoint's id")],
    force: Annotated[
        bool, typer.Option(help="rotate even while an older secret has grace (it ends now)")
    ] = False,
) -> None:
    """Give an endpoint a new secret (printed once); the old one also signs for the grace period."""
    settings = ServiceSettings()
    with database(settings) as engine:
        endpoint, secret = rotate_secret(engine, settings, endpoint_id, force)
    until = when(endpoint.previous_secret_expires_at)
    err.print(f"endpoint {endpoint.id}: the old secret also signs until {until}")
    sys.stdout.write(secret + "\n")


@app.command("retry")
def retry_(delivery_id: Annotated[int, typer.Argument(help="the failed delivery's id")]) -> None:
    """Queue a failed delivery again; the next pass sends it."""
    settings = ServiceSettings()
    with database(settings) as engine:
        retry(engine, settings, delivery_id)
    err.print(f"delivery {delivery_id} queued again")


@app.command("deliver")
def deliver() -> None:
    """Run one delivery pass now and print how many events were delivered."""
    settings = ServiceSettings()
    with database(settings) as engine:
        delivered = deliver_due(engine, settings)
    sys.stdout.write(f"{delivered}\n")
