"""The `ordershield` command line."""

from __future__ import annotations

import sys

from rich.console import Console

from training.cli.main import app

__all__ = ["app", "main"]


def main() -> None:
    """Run the command line; an expected failure prints its message, not a traceback."""
    from features.schema import SchemaError
    from features.store import FeatureStoreError
    from models.registry import RegistryError
    from models.scorer import SpecMismatchError
    from training.cli.server import ServerError
    from training.mapping import HistoryImportError

    expected = (
        FeatureStoreError,
        RegistryError,
        SpecMismatchError,
        HistoryImportError,
        SchemaError,
        ServerError,
    )
    try:
        app(standalone_mode=True)
    except expected as error:
        Console(stderr=True).print(f"[red]error:[/red] {error}")
        sys.exit(1)
