"""The `ordershield` command line: the one place that composes the service and training."""

from __future__ import annotations

import sys

from rich.console import Console

from features.schema import SchemaError
from features.store import FeatureStoreError
from models.registry import RegistryError
from models.scorer import SpecMismatchError
from service.cli.main import app
from service.cli.server import ServerError
from training.sources.mapping import HistoryImportError

__all__ = ["app", "main"]
EXPECTED = (
    FeatureStoreError,
    RegistryError,
    SpecMismatchError,
    HistoryImportError,
    SchemaError,
    ServerError,
)


def main() -> None:
    """Run the command line; an expected failure prints its message, not a traceback."""
    try:
        app(standalone_mode=True)
    except EXPECTED as error:
        Console(stderr=True).print(f"[red]error:[/red] {error}")
        sys.exit(1)
