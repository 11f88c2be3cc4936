"""`ordershield`: every command group, assembled in one place."""

from __future__ import annotations

import logging
import warnings
from typing import Annotated
from urllib.parse import urlsplit

import typer
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from features.settings import PREFIX
from service.cli import (
    access_cmd,
    audit_cmd,
    demo,
    evaluate_cmd,
    features_cmd,
    history_cmd,
    labels_cmd,
    models_cmd,
    review_cmd,
    score_batch_cmd,
    training_cmd,
    webhooks_cmd,
)
from service.settings import ServiceSettings

app = typer.Typer(
    help="OrderShield: fraud and risk scoring at order creation.", no_args_is_help=True
)
app.add_typer(features_cmd.app, name="features")
app.add_typer(models_cmd.app, name="models")
app.add_typer(labels_cmd.app, name="labels")
app.add_typer(access_cmd.keys, name="keys")
app.add_typer(access_cmd.users, name="users")
app.add_typer(webhooks_cmd.app, name="webhooks")
app.add_typer(review_cmd.app, name="review")
app.add_typer(history_cmd.app, name="history")
app.add_typer(audit_cmd.app, name="audit")
app.add_typer(audit_cmd.privacy, name="privacy")
app.command()(training_cmd.simulate)
app.command()(training_cmd.train)
app.command()(evaluate_cmd.evaluate)
app.command()(score_batch_cmd.score_batch)
app.command()(demo.demo)
console = Console()


@app.callback()
def _quiet() -> None:
    """Keep library chatter out of the command's output."""
    warnings.filterwarnings("ignore")
    logging.getLogger("feast").setLevel(logging.ERROR)
    logging.getLogger("mlflow").setLevel(logging.ERROR)


def shown(value: object) -> str:
    """Return a setting as `config` prints it: of a secret URL only where it points."""
    if not isinstance(value, SecretStr):
        return str(value)
    url = urlsplit(value.get_secret_value())
    if not url.scheme or not url.netloc:
        return str(value)  # SecretStr prints as asterisks
    # Credentials, query and fragment can all carry secrets: show none of them.
    where = url.hostname or ""
    if url.port:
        where += f":{url.port}"
    hidden = "***@" if "@" in url.netloc else ""
    return f"{url.scheme}://{hidden}{where}{url.path}"


@app.command()
def config() -> None:
    """Print the settings in force (environment variables prefixed ORDERSHIELD_), secrets hidden."""
    settings = ServiceSettings()
    table = Table("setting", "value", "environment variable")
    for name in type(settings).model_fields:
        table.add_row(name, shown(getattr(settings, name)), f"{PREFIX}{name.upper()}")
    console.print(table)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level")] = "info",
) -> None:
    """Serve the scoring API (OpenAPI docs at /docs) with the champion model."""
    from service.http_server import serve as serve_http

    serve_http(ServiceSettings(), host, port, log_level)
