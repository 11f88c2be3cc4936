"""Attribute masking per role, on the JSON API and on the rendered order page, and its audit log."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from features.settings import Settings
from service.app import create_app
from service.auth.attributes import ATTRIBUTES
from service.auth.masks import email, initials, last_two_digits, network
from service.auth.policy import PolicyError, load_policy
from service.auth.roles import ROLES
from service.persistence import make_engine
from service.persistence.access import personal_data_views
from service.scoring.schemas import Order
from tests.service.clients import create_people, new_key, sign_in
from training.payloads import order_payload

ORDER_ID = "mask-1"
CUSTOMER = {
    "id": "cust-42",
    "email": "jane.doe@example.com",
    "phone": "+44 20 7946 0958",
    "account_created_at": "2025-05-01T10:00:00+00:00",
}
SHIPPING = {
    "name": "Jane Doe",
    "lines": ["221B Baker Street"],
    "city": "London",
    "postal_code": "NW1 6XE",
    "country": "GB",
    "latitude": 51.523767,
    "longitude": -0.158555,
}
# What each role must get for each attribute: the value, its masked form, or nothing.
EXPECTED: dict[str, dict[str, Any]] = {
    "customer.email": {
        "reviewer": "j***@example.com",
        "senior_reviewer": "jane.doe@example.com",
        "legal": "jane.doe@example.com",
        "logistics": None,
        "admin": "j***@example.com",
        "service": None,
    },
    "customer.phone": {
        "reviewer": "+** ** **** **58",
        "senior_reviewer": "+44 20 7946 0958",
        "legal": "+44 20 7946 0958",
        "logistics": None,
        "admin": "+** ** **** **58",
        "service": None,
    },
    "shipping_address.name": {
        "reviewer": "J*** D***",
        "senior_reviewer": "Jane Doe",
        "legal": "Jane Doe",
        "logistics": None,
        "admin": "J*** D***",
        "service": None,
    },
    "shipping_address.lines": {
        "reviewer": None,
        "senior_reviewer": ["221B Baker Street"],
        "legal": ["221B Baker Street"],
        "logistics": None,
        "admin": None,
        "service": None,
    },
    "shipping_address.city": {r: ("London" if r != "service" else None) for r in ROLES},
    "shipping_address.postal_code": {r: ("NW1 6XE" if r != "service" else None) for r in ROLES},
    "shipping_address.latitude": {
        "reviewer": 51.5,
        "senior_reviewer": 51.5,
        "legal": 51.523767,
        "logistics": 51.523767,
        "admin": 51.5,
        "service": None,
    },
    "ip": {
        "reviewer": "203.0.113.0/24",
        "senior_reviewer": "203.0.113.77",
        "legal": "203.0.113.77",
        "logistics": None,
        "admin": "203.0.113.0/24",
        "service": None,
    },
    "payment.card_bin": {
        r: ("411111" if r in ("reviewer", "senior_reviewer", "legal", "admin") else None)
        for r in ROLES
    },
    "payment.last4": {
        r: ("4242" if r in ("reviewer", "senior_reviewer", "legal") else None) for r in ROLES
    },
    "decision.stock": {r: "present" for r in ROLES},
    "decision.score": {r: ("present" if r != "logistics" else None) for r in ROLES},
}


def lookup(nested: dict[str, Any], path: str) -> Any:
    node: Any = nested
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


@pytest.fixture(scope="module")
def masking_client(settings: Settings, stream: pd.DataFrame) -> Iterator[TestClient]:
    create_people(settings)
    order = order_payload(stream.iloc[260])
    order.update(order_id=ORDER_ID, customer=CUSTOMER, ip="203.0.113.77")
    order["shipping_address"] = SHIPPING
    order["payment"] = {**order["payment"], "card_bin": "411111", "last4": "4242"}
    with TestClient(create_app(settings)) as client:
        headers = {"Authorization": f"Bearer {new_key(settings, ['score'])}"}
        assert client.post("/v1/orders/score", json=order, headers=headers).status_code == 200
        yield client


def as_role(client: TestClient, settings: Settings, role: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {new_key(settings, ['orders:read'], role)}"}
    answer = client.get(f"/v1/orders/{ORDER_ID}", headers=headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return {**body["order"], "decision": body["decision"], "hidden": body["hidden"]}


@pytest.mark.parametrize("role", ROLES)
def test_the_api_shows_each_attribute_as_the_role_may_see_it(
    role: str, masking_client: TestClient, settings: Settings
) -> None:
    seen = as_role(masking_client, settings, role)
    for path, by_role in EXPECTED.items():
        want, got = by_role[role], lookup(seen, path)
        if want == "present":
            assert got is not None, (role, path)
        else:
            assert got == want, (role, path)
        if want is None:
            assert path in seen["hidden"], (role, path)
    assert "canonical" not in seen, "internal copies of the order are never shown"


PEOPLE = [r for r in ROLES if r != "service"]


@pytest.mark.parametrize("role", PEOPLE)
def test_the_order_page_shows_each_attribute_as_the_role_may_see_it(
    role: str, masking_client: TestClient
) -> None:
    masking_client.cookies.clear()
    sign_in(masking_client, role)
    html = masking_client.get(f"/orders/{ORDER_ID}").text
    for path, by_role in EXPECTED.items():
        want = by_role[role]
        row = re.search(rf'<tr data-attribute="{re.escape(path)}">(.*?)</tr>', html, re.S)
        if want is None:
            assert row is None or "hidden for your role" in row.group(1), (role, path)
        elif want != "present":
            assert row is not None, (role, path)
            shown = want[0] if isinstance(want, list) else want
            assert str(shown) in row.group(1), (role, path)
    for secret in ("jane.doe@example.com", "+44 20 7946 0958", "Baker Street", "203.0.113.77"):
        allowed = role in ("senior_reviewer", "legal")
        assert (secret in html) == allowed, (role, secret)


def test_unmasked_personal_data_views_are_logged(
    masking_client: TestClient, settings: Settings
) -> None:
    engine = make_engine(settings.db_url)
    before = len(personal_data_views(engine, ORDER_ID))
    masking_client.cookies.clear()
    sign_in(masking_client, "legal")
    masking_client.get(f"/orders/{ORDER_ID}")
    as_role(masking_client, settings, "service")  # sees no personal data: nothing to log
    views = personal_data_views(engine, ORDER_ID)
    assert len(views) == before + 1
    newest = views[0]
    assert (newest.actor, newest.role, newest.channel) == ("user:legal", "legal", "page")
    assert {"customer.email", "customer.phone", "shipping_address.lines"} <= set(newest.attributes)
    log = masking_client.get("/audit/personal-data", params={"order_id": ORDER_ID}).text
    assert "user:legal" in log and "customer.email" in log
    engine.dispose()


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
    tmp_path: Path, settings: Settings, policy: str, message: str
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
