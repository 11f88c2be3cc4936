"""The attribute masking policy: for each role, which attributes are visible, masked or hidden.

It is a YAML file, read and validated once at startup; any mistake stops the
service with a message naming the file and the entry at fault. Patterns are an
attribute's path, `prefix.*` or `*`; the most specific pattern wins, and two
patterns of equal specificity that disagree are an error. An attribute no
pattern names is hidden, so a new attribute stays hidden until the policy
says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from service.auth.attributes import ATTRIBUTES
from service.auth.roles import KEY_ROLE_DEFAULT, ROLES

DEFAULT_POLICY = Path(__file__).with_name("policy.yaml")
# What `POST /v1/orders/score` answers the order system with: keys with the `score`
# scope have the service role, and the policy must let that role see all of it.
SCORING_ANSWER = (
    "decision.score",
    "decision.tier",
    "decision.action",
    "decision.stock",
    "decision.reasons",
    "decision.model",
    "decision.decided_at",
)
Visibility = Literal["visible", "masked", "hidden"]
VISIBILITIES: tuple[Visibility, ...] = ("visible", "masked", "hidden")


class PolicyError(ValueError):
    """Raised for a policy file that cannot be used."""


class _RoleRules(BaseModel):
    model_config = ConfigDict(extra="forbid")
    visible: list[str] = []
    masked: list[str] = []
    hidden: list[str] = []


class _PolicyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    roles: dict[str, _RoleRules]


@dataclass(frozen=True)
class MaskingPolicy:
    """The resolved policy: role → attribute → visibility, for every role and attribute."""

    source: str
    table: dict[str, dict[str, Visibility]]

    def visibility(self, role: str, attribute: str) -> Visibility:
        """Return how this role sees this attribute (hidden for anything unknown)."""
        return self.table.get(role, {}).get(attribute, "hidden")


def load_policy(path: Path | None = None) -> MaskingPolicy:
    """Read and validate a policy file (the shipped one by default)."""
    path = path or DEFAULT_POLICY
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise PolicyError(f"masking policy {path}: cannot be read: {error}") from error
    try:
        parsed = _PolicyFile.model_validate(raw)
    except ValidationError as error:
        found = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise PolicyError(f"masking policy {path}: {found}") from error
    problems = _role_problems(parsed.roles)
    table: dict[str, dict[str, Visibility]] = {}
    for role, rules in parsed.roles.items():
        resolved, role_problems = _resolve(role, rules)
        table[role] = resolved
        problems += role_problems
    service = table.get(KEY_ROLE_DEFAULT, {})
    problems += [
        f"roles.{KEY_ROLE_DEFAULT}: must see {a}, which the scoring answer shows"
        for a in SCORING_ANSWER
        if service and service[a] != "visible"
    ]
    if problems:
        raise PolicyError(f"masking policy {path}: " + "; ".join(problems))
    return MaskingPolicy(str(path), table)


def _role_problems(roles: dict[str, _RoleRules]) -> list[str]:
    unknown = [
        f"roles.{r}: unknown role (roles are {', '.join(ROLES)})" for r in roles if r not in ROLES
    ]
    missing = [f"roles.{r}: missing; every role needs rules" for r in ROLES if r not in roles]
    return unknown + missing


def _matches(pattern: str, attribute: str) -> bool:
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return attribute.startswith(pattern[:-1])
    return attribute == pattern


def _specificity(pattern: str) -> int:
    return 0 if pattern == "*" else 1 if pattern.endswith(".*") else 2


def _resolve(role: str, rules: _RoleRules) -> tuple[dict[str, Visibility], list[str]]:
    listed = [(pattern, v) for v in VISIBILITIES for pattern in getattr(rules, v)]
    problems = [
        f"roles.{role}.{visibility}: {pattern!r} names no attribute"
        for pattern, visibility in listed
        if not any(_matches(pattern, a) for a in ATTRIBUTES)
    ]
    resolved: dict[str, Visibility] = {}
    for attribute, spec in ATTRIBUTES.items():
        best: dict[int, set[Visibility]] = {}
        for pattern, visibility in listed:
            if _matches(pattern, attribute):
                best.setdefault(_specificity(pattern), set()).add(visibility)
        chosen: Visibility = "hidden"
        if best:
            winners = best[max(best)]
            if len(winners) > 1:
                problems.append(
                    f"roles.{role}: {attribute} is both {' and '.join(sorted(winners))}"
                )
            chosen = sorted(winners)[0]
        if chosen == "masked" and spec.mask is None:
            problems.append(f"roles.{role}.masked: {attribute} has no masked form; show or hide it")
        resolved[attribute] = chosen
    return resolved, problems
