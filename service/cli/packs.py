"""`--features PACK`: the feature pack a command computes, trains or scores with."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from features.catalog import use_pack
from features.pack import FeaturePackError
from service.cli.errors import fail

FeaturesOption = Annotated[
    Path | None,
    typer.Option(
        "--features",
        help="YAML feature pack whose features join the built-in ones "
        "(default: ORDERSHIELD_FEATURE_PACK, else none)",
        show_default=False,
    ),
]


def use_features(pack: Path | None) -> None:
    """Make the pack the one in use (a bad pack is a one-line error and exit status 2)."""
    if pack is None:
        return
    try:
        use_pack(pack)
    except FeaturePackError as error:
        fail(str(error))
