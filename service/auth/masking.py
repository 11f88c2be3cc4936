"""The one masking layer: every order attribute the JSON API or a page shows passes here.

`mask` takes the flat attributes of a record and a caller's role and returns
what that role may see: visible values as they are, masked ones in their
masked form, hidden ones left out (and named, so a page can say so). It also
names the personal attributes shown unmasked, which the caller must log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from service.auth.attributes import ATTRIBUTES
from service.auth.masks import MASKS
from service.auth.policy import MaskingPolicy


@dataclass(frozen=True)
class MaskedRecord:
    """What one role may see of one record."""

    values: dict[str, Any]
    masked: list[str] = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)
    personal_unmasked: list[str] = field(default_factory=list)

    def nested(self) -> dict[str, Any]:
        """Return the shown values as nested objects (`customer.email` → customer → email)."""
        out: dict[str, Any] = {}
        for path, value in self.values.items():
            *parents, leaf = path.split(".")
            node = out
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        return out


def mask(policy: MaskingPolicy, role: str, attributes: Mapping[str, Any]) -> MaskedRecord:
    """Return what `role` may see of a record's attributes (unknown attributes are dropped)."""
    values: dict[str, Any] = {}
    masked: list[str] = []
    hidden: list[str] = []
    personal: list[str] = []
    for path, spec in ATTRIBUTES.items():
        if path not in attributes:
            continue
        value = attributes[path]
        visibility = policy.visibility(role, path)
        if visibility == "hidden" or (visibility == "masked" and spec.mask is None):
            hidden.append(path)
        elif visibility == "masked" and spec.mask is not None:
            values[path] = None if value is None else MASKS[spec.mask](value)
            masked.append(path)
        else:
            values[path] = value
            if spec.personal and value not in (None, "", []):
                personal.append(path)
    return MaskedRecord(values, masked, hidden, personal)
