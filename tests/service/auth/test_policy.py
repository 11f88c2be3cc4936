"""The masking policy file, the attribute list and the masked forms."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.auth.attributes import ATTRIBUTES
from service.auth.masks import email, initials, last_two_digits, network
from service.auth.policy import PolicyError, load_policy
from service.auth.roles import ROLES
from service.scoring.schemas import Order
from service.settings import ServiceSettings


def test_every_order_field_has_an_attribute_entry() -> None:
    def leaves(model: Any, prefix: str = "") -> set[str]:
        out: set[str] = set()
        for name, field in model.model_fields.items():
            kind = field.annotation
            nested = next(
                (a for a in getattr(kind, "__args__", (kind,)) if hasattr(a, "model_fields")),
                None,
            )
            if nested is not None and name != "items":
                out |= leaves(nested, f"{prefix}{name}.")
            else:
                out.add(f"{prefix}{name}")
        return out

    assert leaves(Order) <= set(ATTRIBUTES)


def test_masked_forms() -> None:
    assert email("jane@example.com") == "j***@example.com"
    assert last_two_digits("+1 (555) 010-9999") == "+* (***) ***-**99"
    assert initials("Jane  van Doe") == "J*** v*** D***"
    assert network("2001:db8:1234:5678::1") == "2001:db8:1234::/48"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


ALL_ROLES = "roles:\n" + "".join(f"  {r}: {{visible: ['*']}}\n" for r in ROLES)


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ("roles:\n  reviewer: {visible: ['*']}\n", "roles.legal: missing"),
        (ALL_ROLES + "  intern: {visible: ['*']}\n", "roles.intern: unknown role"),
        (ALL_ROLES.replace("['*']", "['customer.emial']", 1), "'customer.emial' names no"),
        (
            ALL_ROLES.replace("{visible: ['*']}", "{masked: ['payment.last4']}", 1),
            "payment.last4 has no masked form",
        ),
        (
            ALL_ROLES.replace("{visible: ['*']}", "{visible: [ip], hidden: [ip]}", 1),
            "ip is both hidden and visible",
        ),
        (ALL_ROLES.replace("visible:", "shown:", 1), "Extra inputs are not permitted"),
        ("roles: [", "cannot be read"),
    ],
)
def test_a_bad_policy_stops_the_start_with_a_clear_error(
    tmp_path: Path, settings: ServiceSettings, policy: str, message: str
) -> None:
    path = write(tmp_path, policy)
    with pytest.raises(PolicyError, match=re.escape(message)):
        load_policy(path)
    bad = settings.model_copy(update={"masking_policy": path})
    with pytest.raises(PolicyError, match=str(path)), TestClient(create_app(bad)):
        pass


def test_an_attribute_no_pattern_names_is_hidden(tmp_path: Path) -> None:
    text = ALL_ROLES.replace("  logistics: {visible: ['*']}", "  logistics: {visible: [order_id]}")
    policy = load_policy(write(tmp_path, text))
    assert policy.visibility("logistics", "order_id") == "visible"
    assert policy.visibility("logistics", "customer.email") == "hidden"


def test_the_service_role_must_see_the_scoring_answer(tmp_path: Path) -> None:
    text = ALL_ROLES.replace("  service: {visible: ['*']}", "  service: {visible: [order_id]}")
    with pytest.raises(
        PolicyError, match=re.escape("must see decision.score, which the scoring answer")
    ):
        load_policy(write(tmp_path, text))
