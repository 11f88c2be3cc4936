"""Reading the YAML files users write (a mapping, a feature pack): one way, one set of errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def read_yaml_mapping(
    path: Path,
    what: str,
    error: type[ValueError],
    loader: type[yaml.SafeLoader] = yaml.SafeLoader,
    shape: str = "",
) -> dict[str, Any]:
    """Return a YAML file's top-level mapping; else raise `error` naming `what` and the file.

    `shape` says what the mapping should hold, for a file that is not one.
    """
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    except OSError as problem:
        raise error(f"cannot read {what} {path.name}: {problem.strerror}") from None
    except UnicodeDecodeError:
        raise error(f"{what} {path.name} is not UTF-8 text") from None
    except yaml.YAMLError as problem:
        raise error(f"{what} {path.name} is not valid YAML: {problem}") from None
    if not isinstance(raw, dict):
        raise error(f"{what} {path.name} must be a YAML mapping{shape}")
    return raw
