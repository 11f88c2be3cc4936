"""Who is asking: a machine client by API key, or a person by session."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Principal:
    """An authenticated caller, its role and what it may do."""

    kind: Literal["key", "user"]
    id: str
    name: str
    role: str
    scopes: frozenset[str] = frozenset()
    csrf_token: str | None = None

    @property
    def actor(self) -> str:
        """Return how the audit log names this caller (key names need not be unique; ids are)."""
        return f"key:{self.id} ({self.name})" if self.kind == "key" else f"user:{self.name}"


def operator() -> str:
    """Return the audit actor of a command run on this host: `cli:` and the login name."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name in a bare container
        return "cli:unknown"
