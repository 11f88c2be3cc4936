"""Who can be who: the roles of people and keys, and the scopes of keys."""

from __future__ import annotations

from typing import Literal, get_args

Role = Literal["reviewer", "senior_reviewer", "legal", "logistics", "admin", "service"]
PersonRole = Literal["reviewer", "senior_reviewer", "legal", "logistics", "admin"]
Scope = Literal["score", "labels", "orders:read", "admin", "review"]

ROLES: tuple[str, ...] = get_args(Role)
PERSON_ROLES: tuple[str, ...] = get_args(PersonRole)
# A key's role only decides which attributes it sees; `service` is the order system's.
KEY_ROLE_DEFAULT = "service"
SCOPES: dict[str, str] = {
    "score": "score orders and read back their decisions",
    "labels": "send fraud labels and payment outcomes",
    "orders:read": "read stored orders, masked for the key's role",
    "admin": "reload the model",
    "review": "work the review queue as a reviewer (claim, approve, reject, escalate)",
}
# A review key acts as a reviewer, so it has a reviewer's role (and view of orders).
REVIEW_ROLES: tuple[str, ...] = ("reviewer", "senior_reviewer")
# What the order system's own key may hold.
SERVICE_SCOPES: tuple[str, ...] = ("score", "labels", "orders:read", "admin")
assert tuple(SCOPES) == get_args(Scope)
