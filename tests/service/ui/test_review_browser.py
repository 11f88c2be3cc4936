"""The review desk in a real headless Chromium, worked as a reviewer works it: keys, claims, rings.

One server (a child uvicorn) serves every scenario; its champion sends every order to
review. Each scenario scores its own orders with their own customer, device, card and
address, so no scenario's orders link to another's. Set ORDERSHIELD_SCREENSHOTS=1 to
write the queue and case screenshots into docs/screenshots/.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from playwright.sync_api import Browser, expect

from models.scorer import Thresholds
from service.auth.people import create_user
from service.cli.server import running_server
from service.persistence import make_engine, migrate
from service.webhooks.service import add_endpoint
from service.webhooks.signing import verify_signature
from tests.service.clients import PASSWORD, new_key
from tests.service.ui.pages import (
    IMG,
    SCRIPT,
    assert_hostile_order_inert,
    served_settings,
    shoot,
    signed_in,
)
from tests.service.webhooks.receiver import Receiver
from training.sources.payloads import order_payload


@dataclass
class Desk:
    """The running server, its API keys and the webhook receiver registered with it."""

    url: str
    score_headers: dict[str, str]
    review_headers: dict[str, str]
    receiver: Receiver
    secret: str


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory, stream: pd.DataFrame) -> Iterator[Desk]:
    data_dir = Path(tmp_path_factory.mktemp("review-ui"))
    roles = ["reviewer", "senior_reviewer"]
    settings = served_settings(data_dir, stream.iloc[:200], Thresholds(0.0, 0.0, 1.0), roles)
    receiver = Receiver()
    receiver.up()
    engine = make_engine(settings.db_url)
    try:
        migrate(engine)
        create_user(engine, "bo", "reviewer", PASSWORD)
        _, secret = add_endpoint(engine, receiver.url, "review browser test")
    finally:
        engine.dispose()
    keys = new_key(settings), new_key(settings, ["review"], "reviewer")
    try:
        with running_server(settings) as server:
            score_headers, review_headers = ({"Authorization": f"Bearer {k}"} for k in keys)
            yield Desk(server.url, score_headers, review_headers, receiver, secret)
    finally:
        receiver.down()


def payload(row: pd.Series, order_id: str, **changes: Any) -> dict[str, Any]:
    """Return a score request of its own: no entity shared with any other test's order."""
    order = order_payload(row)
    order.pop("created_at")  # now: the ring view looks 30 days back from the case
    order.update(order_id=order_id, ip=None)
    order["customer"] = {**order["customer"], "id": f"cus-{order_id}"}
    order["device"] = {"fingerprint": f"dev-{order_id}", "user_agent": "Mozilla/5.0 test"}
    order["payment"] = {**(order["payment"] or {}), "account_id": f"pm-{order_id}"}
    order["shipping_address"] = {"id": f"addr-{order_id}", "country": "DE", "city": "Kiel"}
    order.update(changes)
    return order


def score(desk: Desk, order: dict[str, Any], status: int = 200) -> None:
    answer = httpx.post(f"{desk.url}/v1/orders/score", json=order, headers=desk.score_headers)
    assert answer.status_code == status, answer.text
    if status == 200:
        assert answer.json()["tier"] == "high" and answer.json()["stock"]["state"] == "frozen"


def fetch(desk: Desk, path: str, review: bool = False) -> dict[str, Any]:
    """GET an API path with the order system's key (or the reviewer's)."""
    headers = desk.review_headers if review else desk.score_headers
    answer = httpx.get(f"{desk.url}{path}", headers=headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def case_ids(desk: Desk, *order_ids: str) -> list[str]:
    """Return the open cases of these orders, in the orders' order."""
    answer = httpx.get(f"{desk.url}/v1/review/cases", headers=desk.review_headers)
    assert answer.status_code == 200, answer.text
    by_order = {case["order_id"]: case["id"] for case in answer.json()}
    return [by_order[order_id] for order_id in order_ids]


def signed_event(desk: Desk, kind: str, order_id: str, within: float = 10.0) -> dict[str, Any]:
    """Wait for the receiver to get this event of this order; check its signature."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for got in list(desk.receiver.received):
            event = json.loads(got.body)
            if event["type"] == kind and event["order_id"] == order_id:
                headers = {name.lower(): value for name, value in got.headers.items()}
                verify_signature(got.body, headers["ordershield-signature"], desk.secret)
                return dict(event)
        time.sleep(0.1)
    raise AssertionError(f"no {kind} webhook for {order_id} within {within:.0f} s")


def test_the_next_case_is_taken_and_approved_from_the_keyboard(
    desk: Desk, browser: Browser, stream: pd.DataFrame
) -> None:
    # The biggest amount of the module: the queue's first case whatever ran before.
    score(desk, payload(stream.iloc[300], "rb-keys-1", amount="90000.00"))
    tab = signed_in(browser, desk.url, "/review", "reviewer")
    page = tab.page
    page.keyboard.press("n")
    expect(page).to_have_url(re.compile(rf"^{re.escape(desk.url)}/review/cases/[0-9a-f-]+$"))
    expect(page.locator("h1")).to_contain_text("order rb-keys-1")
    expect(page.get_by_test_id("reasons").locator("li").first).to_be_visible()
    expect(page.locator('[data-testid="waterfall"] svg')).to_be_visible()
    expect(page.locator('[data-testid="ring"] svg')).to_be_visible()
    page.wait_for_load_state("load")
    page.keyboard.press("a")
    expect(page).to_have_url(f"{desk.url}/review?done=approve")
    stock = fetch(desk, "/v1/orders/rb-keys-1/decision")["stock"]
    assert stock["state"] == "released"
    assert [step["state"] for step in stock["history"]] == ["frozen", "released"]
    event = signed_event(desk, "stock.released", "rb-keys-1")
    assert event["id"].startswith("evt_")
    tab.assert_clean()


def test_a_second_reviewer_is_refused_a_case_the_first_holds(
    desk: Desk, browser: Browser, stream: pd.DataFrame
) -> None:
    score(desk, payload(stream.iloc[301], "rb-held-1", amount="5.00"))
    [case_id] = case_ids(desk, "rb-held-1")
    ann = signed_in(browser, desk.url, "/review", "reviewer")
    bo = signed_in(browser, desk.url, "/review", "bo")
    ann.page.goto(f"{desk.url}/review/cases/{case_id}")
    ann.page.get_by_role("button", name="Claim").click()
    expect(ann.page.get_by_test_id("message")).to_have_text("You hold this case.")
    bo.page.goto(f"{desk.url}/review/cases/{case_id}")
    expect(bo.page.get_by_test_id("claimed")).to_have_text("claimed by another reviewer")
    with bo.page.expect_response(lambda r: r.url.endswith("/act")) as answer:
        bo.page.get_by_test_id("approve").click()
    assert answer.value.status == 409
    expect(bo.page.get_by_test_id("message")).to_contain_text("claimed by another reviewer")
    expect(bo.page.get_by_test_id("status")).to_have_text("open")
    assert fetch(desk, f"/v1/review/cases/{case_id}", review=True)["status"] == "open"
    assert fetch(desk, "/v1/orders/rb-held-1/decision")["stock"]["state"] == "frozen"
    ann.assert_clean()
    bo.assert_clean(expected="status of 409 (Conflict)")


def test_a_ring_of_five_is_rejected_in_one_bulk_action(
    desk: Desk, browser: Browser, stream: pd.DataFrame
) -> None:
    ring = [f"rb-ring-{n}" for n in range(5)]
    drop = {"name": "Mo Dee", "lines": ["1 Dock Road"], "city": "Hamburg", "country": "DE"}
    for n, order_id in enumerate(ring):
        order = payload(stream.iloc[310 + n], order_id, amount="40.00", shipping_address=drop)
        order["device"] = {"fingerprint": "dev-rb-ring", "user_agent": "Mozilla/5.0 ring"}
        score(desk, order)
    cases = case_ids(desk, *ring)
    tab = signed_in(browser, desk.url, "/review", "reviewer")
    page = tab.page
    page.goto(f"{desk.url}/review/cases/{cases[0]}")
    linked = page.get_by_test_id("linked")
    for order_id in ring[1:]:
        expect(linked.locator("tr", has_text=order_id)).to_contain_text("device, address")
    ring_svg = page.locator('[data-testid="ring"] svg')
    expect(ring_svg.locator(".node.order")).to_have_count(5)  # this order and its four
    for kind in ("device", "address"):
        expect(ring_svg.locator(f".node.entity.kind-{kind}")).to_have_count(1)
    shoot(page, "review-case.png", full_page=True)
    boxes = page.get_by_test_id("bulk-reject")
    assert sorted(boxes.evaluate_all("all => all.map(b => b.value)")) == sorted(cases[1:])
    for n in range(boxes.count()):
        boxes.nth(n).check()
    form = page.locator("#form-reject")
    form.locator("select[name=reason_code]").select_option("linked_to_fraud")
    form.locator("select[name=scenario]").select_option("reshipping")
    page.get_by_test_id("reject").click()
    expect(page).to_have_url(f"{desk.url}/review?done=reject")
    for order_id, case_id in zip(ring, cases, strict=True):
        decided = fetch(desk, f"/v1/review/cases/{case_id}", review=True)
        assert (decided["status"], decided["scenario"]) == ("rejected", "reshipping"), order_id
        stock = fetch(desk, f"/v1/orders/{order_id}/decision")["stock"]
        assert stock["state"] == "cancelled", order_id
    tab.assert_clean()


def test_the_queue_shows_a_new_order_without_a_reload(
    desk: Desk, browser: Browser, stream: pd.DataFrame
) -> None:
    tab = signed_in(browser, desk.url, "/review", "reviewer")
    page = tab.page
    page.evaluate("window.__still_here = 'this page'")
    rows = page.get_by_test_id("case-row")
    expect(rows.filter(has_text="rb-live-1")).to_have_count(0)
    score(desk, payload(stream.iloc[320], "rb-live-1", amount="75.00"))
    expect(rows.filter(has_text="rb-live-1")).to_have_count(1, timeout=5_000)
    expect(rows.filter(has_text="rb-live-1").locator(".tier-high")).to_have_text("high")
    assert page.evaluate("window.__still_here") == "this page", "the page was reloaded"
    assert page.url == f"{desk.url}/review"
    shoot(page, "review-queue.png", full_page=False)
    tab.assert_clean()


def test_hostile_order_fields_render_as_inert_text(
    desk: Desk, browser: Browser, stream: pd.DataFrame
) -> None:
    # The validator refuses markup in an e-mail's local part and in a SKU: those are skipped.
    base = stream.iloc[330]
    score(desk, payload(base, "rb-mail", customer={"id": "c-1", "email": f"{IMG}@x.org"}), 422)
    score(desk, payload(base, "rb-sku", items=[{"sku": IMG, "quantity": 1, "unit_price": 1}]), 422)
    address = {"name": IMG, "lines": [SCRIPT, IMG], "city": SCRIPT, "country": "DE"}
    order = payload(stream.iloc[331], "rb-hostile-1", amount="60.00", shipping_address=address)
    order["device"] = {"fingerprint": "dev-rb-hostile", "user_agent": f"{IMG}{SCRIPT}"}
    score(desk, order)
    # The senior reviewer sees name and street in clear: the text reaches the page unmasked.
    tab = signed_in(browser, desk.url, "/review", "senior_reviewer")
    page = tab.page
    row = page.get_by_test_id("case-row").filter(has_text="rb-hostile-1")
    expect(row).to_have_count(1)
    assert page.evaluate("typeof window.__xss") == "undefined"
    tab.assert_clean()
    row.get_by_role("link").click()
    expect(page.locator("h1")).to_contain_text("order rb-hostile-1")
    page.wait_for_load_state("load")
    assert_hostile_order_inert(page)
    tab.assert_clean()
