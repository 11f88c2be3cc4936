"""Every attribute for every role, on the JSON API and on the rendered order page; the audit log.

The expected visibility is written here, independently of `policy.yaml`, and
the order fills every attribute, so a policy change that shows something to
a role it should not (or a masked form that leaks) fails.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from features.catalog import current
from service.app import create_app
from service.auth.attributes import ATTRIBUTES
from service.auth.masking import WITHHELD_TEXT
from service.auth.roles import ROLES
from service.orders.service import record_attributes
from service.persistence import decision_by_order, make_engine
from service.persistence.access import personal_data_views
from service.settings import ServiceSettings
from tests.service.clients import create_people, new_key, sign_in
from training.sources.payloads import order_payload

ORDER_ID = "mask-1"
COORDINATES = {"shipping_address": (51.523767, -0.158555), "billing_address": (48.856613, 2.352222)}
MASKED_FORMS = {
    "customer.email": "j***@example.com",
    "customer.phone": "+** ** **** **58",
    "ip": "203.0.113.0/24",
    "shipping_address.name": "J*** D***",
    "billing_address.name": "J*** D***",
    "shipping_address.latitude": 51.5,
    "shipping_address.longitude": -0.2,
    "billing_address.latitude": 48.9,
    "billing_address.longitude": 2.4,
}
COORDINATE_PATHS = {p for p in MASKED_FORMS if p.endswith(("latitude", "longitude"))}
CONTACT = {"customer.email", "customer.phone", "ip", "shipping_address.name"}
STREETS = {"shipping_address.lines", "billing_address.lines"}
LOGISTICS = {
    "order_id",
    "created_at",
    "items",
    "shipping_address.id",
    "shipping_address.city",
    "shipping_address.postal_code",
    "shipping_address.country",
    "shipping_address.latitude",
    "shipping_address.longitude",
    "decision.action",
    "decision.stock",
}
SERVICE = {"order_id", "created_at", "amount", "currency", "customer.id"} | {
    a for a in ATTRIBUTES if a.startswith("decision.")
}
REVIEWER_MASKED = CONTACT | {"billing_address.name"} | COORDINATE_PATHS


def expected(role: str, attribute: str) -> str:
    """Return how `role` must see `attribute`: visible, masked or hidden."""
    if role == "legal":
        return "visible"
    if role == "logistics":
        return "visible" if attribute in LOGISTICS else "hidden"
    if role == "service":
        return "visible" if attribute in SERVICE else "hidden"
    if role == "senior_reviewer":
        return "masked" if attribute in COORDINATE_PATHS else "visible"
    hidden = STREETS | ({"payment.last4"} if role == "admin" else set())
    if attribute in hidden:
        return "hidden"
    return "masked" if attribute in REVIEWER_MASKED else "visible"


def address(
    kind: str, name: str, line: str, city: str, postal: str, country: str
) -> dict[str, Any]:
    latitude, longitude = COORDINATES[kind]
    return {
        "id": f"{kind}-7",
        "name": name,
        "lines": [line],
        "city": city,
        "postal_code": postal,
        "country": country,
        "latitude": latitude,
        "longitude": longitude,
    }


@pytest.fixture(scope="module")
def masking_client(settings: ServiceSettings, stream: pd.DataFrame) -> Iterator[TestClient]:
    create_people(settings)
    order = order_payload(stream.iloc[260])
    order.update(
        order_id=ORDER_ID,
        ip="203.0.113.77",
        customer={
            "id": "cust-42",
            "email": "jane.doe@example.com",
            "phone": "+44 20 7946 0958",
            "account_created_at": "2025-05-01T10:00:00+00:00",
            "time_zone": "Europe/London",
        },
        device={"fingerprint": "fp-5544", "user_agent": "Mozilla/5.0 test", "emulator": False},
        payment={
            "account_id": "pay-3",
            "method": "card",
            "card_bin": "411111",
            "last4": "4242",
            "card_country": "GB",
        },
        shipping_address=address(
            "shipping_address", "Jane Doe", "221B Baker Street", "London", "NW1 6XE", "GB"
        ),
        billing_address=address(
            "billing_address", "J. Doe", "5 Rue de Rivoli", "Paris", "75001", "FR"
        ),
    )
    with TestClient(create_app(settings)) as client:
        headers = {"Authorization": f"Bearer {new_key(settings, ['score'])}"}
        assert client.post("/v1/orders/score", json=order, headers=headers).status_code == 200
        yield client


@pytest.fixture(scope="module")
def stored(settings: ServiceSettings, masking_client: TestClient) -> dict[str, Any]:
    engine = make_engine(settings.db_url)
    record = decision_by_order(engine, ORDER_ID)
    engine.dispose()
    assert record is not None
    attributes = record_attributes(record)
    # Every attribute but a feature pack's (none is in use here: the order sends none).
    filled = [a for a in ATTRIBUTES if a != "attributes"]
    assert all(attributes[a] not in (None, [], "") for a in filled), "fill every attribute"
    return attributes


def lookup(nested: dict[str, Any], path: str) -> Any:
    node: Any = nested
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return KeyError
        node = node[part]
    return node


# The features computed from the shipping coordinates (local time): personal data.
FROM_COORDINATES = frozenset(f.name for f in current().derived if "shipping_lon" in f.sources)


def without_local_hour(value: Any) -> Any:
    """Drop the features computed from personal data (local_hour checked on its own below)."""
    if isinstance(value, dict) and "features" in value:
        return {**value, "features": {**value["features"], **dict.fromkeys(FROM_COORDINATES)}}
    if isinstance(value, list):
        return [
            r for r in value if not (isinstance(r, dict) and r.get("feature") in FROM_COORDINATES)
        ]
    return value


def read_as(client: TestClient, settings: ServiceSettings, role: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {new_key(settings, ['orders:read'], role)}"}
    answer = client.get(f"/v1/orders/{ORDER_ID}", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body: dict[str, Any] = answer.json()
    return body


@pytest.mark.parametrize("role", ROLES)
def test_the_api_shows_every_attribute_as_the_role_may_see_it(
    role: str, masking_client: TestClient, settings: ServiceSettings, stored: dict[str, Any]
) -> None:
    body = read_as(masking_client, settings, role)
    shown = {**body["order"], "decision": body["decision"]}
    for attribute in ATTRIBUTES:
        want, got = expected(role, attribute), lookup(shown, attribute)
        if want == "hidden":
            assert got is KeyError and attribute in body["hidden"], (role, attribute)
        elif want == "masked":
            assert got == MASKED_FORMS[attribute] and attribute in body["masked"], (role, attribute)
        else:
            assert without_local_hour(got) == without_local_hour(stored[attribute]), attribute
    assert set(body["order"]) <= {a.split(".")[0] for a in ATTRIBUTES}, "nothing else is shown"


ROW = r'<tr data-attribute="{}">\s*<th>[^<]*</th>\s*<td[^>]*>(.*?)</td>'


def cell(page: str, attribute: str) -> tuple[str, bool]:
    """Return the shown text of an attribute's cell and whether it is marked masked."""
    found = re.search(ROW.format(re.escape(attribute)), page, re.S)
    assert found, f"no row for {attribute}"
    content = found.group(1)
    badge = '<span class="masked">masked</span>'
    text = html.unescape(re.sub(r"<[^>]+>", " ", content.replace(badge, "")))
    return " ".join(text.split()), badge in content


@pytest.mark.parametrize("role", [r for r in ROLES if r != "service"])
def test_the_order_page_shows_every_attribute_as_the_role_may_see_it(
    role: str, masking_client: TestClient, stored: dict[str, Any]
) -> None:
    masking_client.cookies.clear()
    sign_in(masking_client, role)
    page = masking_client.get(f"/orders/{ORDER_ID}").text
    for attribute, spec in ATTRIBUTES.items():
        text, marked = cell(page, attribute)
        want, value = expected(role, attribute), stored[attribute]
        if want == "hidden":
            assert text == "hidden for your role", (role, attribute)
        elif want == "masked":
            assert marked and text == str(MASKED_FORMS[attribute]), (role, attribute, text)
        elif isinstance(value, str | int | float) and not attribute.startswith("decision."):
            assert not marked and text == str(value), (role, attribute, text)
        if want != "visible" and spec.personal:
            originals = value if isinstance(value, list) else [value]
            assert all(str(v) not in page for v in originals), (role, attribute)


def test_features_computed_from_masked_data_are_withheld(
    masking_client: TestClient, settings: ServiceSettings, stored: dict[str, Any]
) -> None:
    # The local hour and the order time would give the exact longitude back.
    assert stored["decision.explanation"]["features"]["local_hour"] is not None
    legal = read_as(masking_client, settings, "legal")["decision"]
    assert legal["explanation"] == stored["decision.explanation"]
    for role in ("reviewer", "admin", "service"):
        decision = read_as(masking_client, settings, role)["decision"]
        assert decision["explanation"]["features"]["local_hour"] is None, role
        for reason in decision["reasons"]:
            if reason["feature"] == "local_hour":
                assert reason["value"] is None, role
                assert (reason["text"] == WITHHELD_TEXT) == (role == "service"), role


def test_unmasked_personal_data_views_are_logged_with_who_and_how(
    masking_client: TestClient, settings: ServiceSettings
) -> None:
    engine = make_engine(settings.db_url)
    before = len(personal_data_views(engine, ORDER_ID))
    masking_client.cookies.clear()
    sign_in(masking_client, "legal")
    masking_client.get(f"/orders/{ORDER_ID}")
    read_as(masking_client, settings, "senior_reviewer")
    read_as(masking_client, settings, "service")  # sees no personal data: nothing to log
    api, page = personal_data_views(engine, ORDER_ID)[:2]
    assert len(personal_data_views(engine, ORDER_ID)) == before + 2
    assert (page.actor, page.role, page.channel) == ("user:legal", "legal", "page")
    assert api.actor.startswith("key:") and (api.role, api.channel) == ("senior_reviewer", "api")
    assert {"customer.email", "customer.phone", "shipping_address.lines"} <= set(page.attributes)
    assert "shipping_address.latitude" not in api.attributes, "masked for senior reviewers"
    log = masking_client.get("/audit/personal-data", params={"order_id": ORDER_ID}).text
    assert "user:legal" in log and "customer.email" in log
    engine.dispose()
