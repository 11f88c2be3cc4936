"""Who is asking: a machine client by API key, or a person by session."""

from __future__ import annotations

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
        """Return how the audit log names this caller."""
        return f"{self.kind}:{self.name}"
