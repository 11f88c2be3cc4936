"""The example feature pack, and a pack in use for one test only."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from features.catalog import Spec, use_pack

EXAMPLE_PACK = Path(__file__).parents[1] / "docs" / "examples" / "terminal_pack.yaml"


@contextmanager
def pack_in_use(path: Path | None) -> Iterator[Spec]:
    """Make a feature pack (or none) the one in use for a block; none again after it."""
    try:
        yield use_pack(path)
    finally:
        use_pack(None)
