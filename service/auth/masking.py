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

from features.catalog import current
from service.auth.attributes import ATTRIBUTES, BY_COLUMN
from service.auth.masks import MASKS
from service.auth.policy import MaskingPolicy, Visibility

WITHHELD_TEXT = "withheld: computed from data your role does not see"


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
    _withhold_derived(policy, role, values)
    return MaskedRecord(values, masked, hidden, personal)


def derived_visibility(policy: MaskingPolicy, role: str) -> dict[str, Visibility]:
    """Return, per feature computed from personal data, the least visible of its sources."""
    order: dict[Visibility, int] = {"hidden": 0, "masked": 1, "visible": 2}
    found: dict[str, Visibility] = {}
    for feature in current().derived:
        sources = [BY_COLUMN[c].path for c in feature.sources if c in BY_COLUMN]
        if sources:
            seen = [policy.visibility(role, path) for path in sources]
            found[feature.name] = min(seen, key=order.__getitem__)
    return found


def _withhold_derived(policy: MaskingPolicy, role: str, values: dict[str, Any]) -> None:
    """Drop the values of features that would give back an attribute the role may not see.

    A masked source withholds the exact value (the reason's sentence, rounded,
    says no more than the masked attribute); a hidden one the sentence too.
    """
    withheld = {
        name: seen for name, seen in derived_visibility(policy, role).items() if seen != "visible"
    }
    if not withheld:
        return
    explanation = values.get("decision.explanation")
    if isinstance(explanation, dict) and isinstance(explanation.get("features"), dict):
        features = {k: (None if k in withheld else v) for k, v in explanation["features"].items()}
        values["decision.explanation"] = {**explanation, "features": features}
    reasons = values.get("decision.reasons")
    if isinstance(reasons, list):
        values["decision.reasons"] = [_reason(r, withheld) for r in reasons]


def _reason(reason: Any, withheld: Mapping[str, Visibility]) -> Any:
    if not isinstance(reason, dict) or reason.get("feature") not in withheld:
        return reason
    text = WITHHELD_TEXT if withheld[reason["feature"]] == "hidden" else reason.get("text")
    return {**reason, "value": None, "text": text}
