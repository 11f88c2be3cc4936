"""The database of a command: opened and migrated, with refusals printed as the command's error."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import typer
from rich.console import Console
from sqlalchemy import Engine

from service.auth.keys import InvalidKey
from service.auth.people import InvalidUser
from service.persistence import InvalidRecord, NotFound, make_engine, migrate
from service.settings import ServiceSettings

err = Console(stderr=True)


def when(moment: datetime | None) -> str:
    """Return a stored time as the commands' tables show it."""
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


@contextmanager
def database(settings: ServiceSettings) -> Iterator[Engine]:
    """Open and migrate the database; a refused change ends the command with its reason."""
    engine = make_engine(settings.db_url)
    try:
        migrate(engine)
        yield engine
    except (InvalidKey, InvalidUser, InvalidRecord, NotFound) as error:
        err.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from error
    finally:
        engine.dispose()
