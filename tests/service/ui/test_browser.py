"""The web UI in a real headless Chromium: sign in, see an order masked for the role, sign out."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pandas as pd
import pytest
from playwright.sync_api import Browser, Page, expect

from service.cli.server import Server, running_server
from tests.service.clients import PASSWORD, create_people, new_key
from tests.service.conftest import prepared_settings
from training.sources.payloads import order_payload

ORDER_ID = "ui-1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, stream: pd.DataFrame) -> Iterator[Server]:
    settings = prepared_settings(tmp_path_factory.mktemp("ui"), stream.iloc[:100])
    create_people(settings, ["reviewer", "logistics"])
    order = order_payload(stream.iloc[150])
    order.update(order_id=ORDER_ID, ip="198.51.100.23")
    order["customer"] = {**order["customer"], "email": "sam.lee@example.org"}
    order["shipping_address"] = {
        **order["shipping_address"],
        "name": "Sam Lee",
        "lines": ["12 Harbour Road"],
        "city": "Leith",
        "latitude": 55.975512,
        "longitude": -3.170133,
    }
    with running_server(settings) as running:
        headers = {"Authorization": f"Bearer {new_key(settings, ['score'])}"}
        answer = httpx.post(f"{running.url}/v1/orders/score", json=order, headers=headers)
        assert answer.status_code == 200, answer.text
        yield running


def sign_in(page: Page, url: str, username: str) -> None:
    page.goto(f"{url}/orders/{ORDER_ID}")
    expect(page).to_have_url(f"{url}/login?next=/orders/{ORDER_ID}")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{url}/orders/{ORDER_ID}")


def row(page: Page, attribute: str) -> str:
    return page.locator(f'tr[data-attribute="{attribute}"] td').inner_text()


def test_a_reviewer_sees_contact_data_masked_and_no_street(
    server: Server, browser: Browser
) -> None:
    page = browser.new_page()
    sign_in(page, server.url, "reviewer")
    expect(page.get_by_test_id("whoami")).to_have_text("reviewer (reviewer)")
    assert row(page, "customer.email").startswith("s***@example.org")
    assert row(page, "shipping_address.name").startswith("S*** L***")
    assert row(page, "shipping_address.lines") == "hidden for your role"
    assert row(page, "shipping_address.city") == "Leith"
    assert row(page, "ip").startswith("198.51.100.0/24")
    assert "sam.lee@example.org" not in page.content()
    page.click("text=Sign out")
    expect(page).to_have_url(f"{server.url}/login")
    page.goto(f"{server.url}/orders/{ORDER_ID}")
    expect(page).to_have_url(f"{server.url}/login?next=/orders/{ORDER_ID}")


def test_logistics_sees_where_the_parcel_goes_not_whose_it_is(
    server: Server, browser: Browser
) -> None:
    page = browser.new_page()
    sign_in(page, server.url, "logistics")
    assert row(page, "shipping_address.latitude") == "55.975512"
    assert row(page, "decision.stock").split(":")[0] in ("released", "frozen")
    for hidden in ("customer.email", "shipping_address.name", "payment.card_bin", "decision.score"):
        assert row(page, hidden) == "hidden for your role"
    assert "Sam Lee" not in page.content() and "sam.lee" not in page.content()
    page.goto(f"{server.url}/cases")
    assert "may not open this page" in page.content()


def test_the_session_cookie_is_out_of_scripts_reach(server: Server, browser: Browser) -> None:
    page = browser.new_page()
    sign_in(page, server.url, "reviewer")
    assert "ordershield_session" not in page.evaluate("document.cookie")
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "ordershield_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
