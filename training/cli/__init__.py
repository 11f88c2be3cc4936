"""The `ordershield` command line."""

from training.cli.main import app

__all__ = ["app"]
