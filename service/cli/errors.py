"""User errors on the command line: one line on stderr and the usage-error exit status."""

from __future__ import annotations

from typing import NoReturn

import typer

from training.protocol import ProtocolError
from training.splits import flag

USAGE_ERROR = 2


def fail(message: str) -> NoReturn:
    """Print a user error on one line and exit with the usage-error status."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(USAGE_ERROR)


def fail_option(error: ProtocolError) -> NoReturn:
    """Fail with an option error, the option named as typed (`--gap-days: ...`)."""
    fail(f"{flag(error.option)}: {error.problem}")
