"""The legal panel in a real headless Chromium: search, evidence, replay, counterfactual, bundle.

One server (a child uvicorn) serves the module. Three orders share one device, so
the tiny champion scores them low, medium and high; the high one is frozen and
has a counterfactual. Set ORDERSHIELD_SCREENSHOTS=1 to write the search and
evidence screenshots into docs/screenshots/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pandas as pd
import pytest
from playwright.sync_api import Browser, expect

from features.catalog import current
from models.scorer import Thresholds
from service.audit.signing import generate_signing_key
from service.cli.server import running_server
from tests.service.clients import new_key
from tests.service.ui.pages import (
    IMG,
    SCRIPT,
    assert_hostile_order_inert,
    assert_no_markup_ran,
    served_settings,
    shoot,
    signed_in,
)
from training.sources.payloads import order_payload

RING = ("lb-1", "lb-2", "lb-3")


@pytest.fixture(scope="module")
def panel(tmp_path_factory: pytest.TempPathFactory, stream: pd.DataFrame) -> Iterator[str]:
    data_dir = Path(tmp_path_factory.mktemp("legal-ui"))
    roles = ["legal", "admin"]
    settings = served_settings(data_dir, stream.iloc[:200], Thresholds(0.1, 0.5, 0.95), roles)
    generate_signing_key(Path(settings.signing_key_source))
    headers = {"Authorization": f"Bearer {new_key(settings)}"}
    with running_server(settings) as server:
        for n, order_id in enumerate(RING):
            order = payload(stream.iloc[300 + n], order_id)
            order["device"] = {"fingerprint": "dev-lb-ring", "user_agent": "Mozilla/5.0 ring"}
            score(server.url, headers, order)
        address = {"name": IMG, "lines": [SCRIPT, IMG], "city": SCRIPT, "country": "DE"}
        hostile = payload(stream.iloc[310], "lb-hostile", shipping_address=address)
        hostile["device"] = {"fingerprint": "dev-lb-hostile", "user_agent": f"{IMG}{SCRIPT}"}
        score(server.url, headers, hostile)
        yield server.url


def payload(row: pd.Series, order_id: str, **changes: Any) -> dict[str, Any]:
    order = order_payload(row)
    order.pop("created_at")
    order.update(order_id=order_id, ip=None)
    order["customer"] = {"id": f"cus-{order_id}", "email": f"{order_id}@example.org"}
    order["payment"] = {**(order["payment"] or {}), "account_id": f"pm-{order_id}"}
    order.update(changes)
    return order


def score(url: str, headers: dict[str, str], order: dict[str, Any]) -> None:
    answer = httpx.post(f"{url}/v1/orders/score", json=order, headers=headers)
    assert answer.status_code == 200, answer.text


def test_legal_searches_opens_the_evidence_replays_and_downloads_the_bundle(
    panel: str, browser: Browser
) -> None:
    tab = signed_in(browser, panel, "/legal", "legal")
    page = tab.page
    page.select_option("select[name=entity_kind]", "device")
    page.fill("input[name=entity_key]", "dev-lb-ring")
    page.get_by_test_id("search-button").click()
    expect(page).to_have_url(f"{panel}/legal?" + "&".join(search_query()))
    rows = page.get_by_test_id("result-row")
    expect(rows).to_have_count(3)
    assert [rows.nth(n).locator("td").first.inner_text() for n in range(3)] == list(RING[::-1])
    expect(rows.filter(has_text="lb-3").locator(".tier-high")).to_have_text("high")
    shoot(page, "legal_search.png", full_page=True)

    rows.filter(has_text="lb-3").get_by_role("link", name="lb-3").click()
    expect(page).to_have_url(f"{panel}/legal/decisions/lb-3")
    expect(page.locator("h1")).to_have_text("Evidence: order lb-3")
    expect(page.get_by_test_id("summary")).to_contain_text("so it fell in the high tier")
    features = page.get_by_test_id("features").locator("tr[data-feature]")
    expect(features).to_have_count(len(current().features))
    expect(features.first.locator(".definition")).not_to_be_empty()
    expect(page.locator('[data-testid="waterfall"] svg')).to_be_visible()
    expect(page.locator('tr[data-attribute="customer.email"] td')).to_have_text("lb-3@example.org")
    page.wait_for_load_state("load")

    page.get_by_test_id("replay").click()
    verdict = page.locator("#replay").get_by_test_id("replay-verdict")
    expect(verdict).to_contain_text("reproduces exactly")
    page.get_by_test_id("counterfactual").click()
    found = page.locator("#counterfactual")
    expect(found.get_by_test_id("counterfactual-text")).to_contain_text("below the cut point")
    expect(found.get_by_test_id("counterfactual-check")).to_contain_text(", below the high cut")
    assert page.url == f"{panel}/legal/decisions/lb-3", "the fragments came without a reload"
    shoot(page, "legal_evidence.png", full_page=True)

    bundle = page.get_by_test_id("bundle-link")
    assert bundle.get_attribute("href") == "/legal/decisions/lb-3/bundle.json"
    answer = page.request.get(f"{panel}/legal/decisions/lb-3/bundle.json")
    assert answer.status == 200, answer.text()
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json()["decision"]["order_id"] == "lb-3"
    pdf = page.get_by_test_id("pdf-link")
    assert pdf.get_attribute("href") == "/legal/decisions/lb-3/evidence.pdf"
    answer = page.request.get(f"{panel}/legal/decisions/lb-3/evidence.pdf")
    assert answer.status == 200 and answer.body().startswith(b"%PDF")

    page.get_by_role("link", name="how this version decided overall").click()
    expect(page.locator("h1")).to_have_text("Model ordershield version 1")
    expect(page.get_by_test_id("model-figures")).to_contain_text("4 stored decisions")
    bars = page.locator('[data-testid="importance"] svg rect.bar')
    expect(bars).to_have_count(15)
    expect(page.get_by_test_id("days").locator("tr")).to_have_count(2)
    tab.assert_clean()


def search_query() -> list[str]:
    """Return the query string the search form sends for the device search."""
    fields = ["order_id", "customer_id", "entity_kind", "entity_key", "start", "end"]
    fields += ["tier", "action", "reason", "model_version", "reviewer"]
    given = {"entity_kind": "device", "entity_key": "dev-lb-ring"}
    return [f"{name}={given.get(name, '')}" for name in fields]


def test_hostile_order_fields_and_search_input_render_as_inert_text(
    panel: str, browser: Browser
) -> None:
    tab = signed_in(browser, panel, "/legal", "legal")
    page = tab.page
    page.goto(f"{panel}/legal/decisions/lb-hostile")
    expect(page.locator("h1")).to_have_text("Evidence: order lb-hostile")
    page.wait_for_load_state("load")
    assert_hostile_order_inert(page)
    tab.assert_clean()

    with page.expect_response(lambda r: "/legal?" in r.url) as refused:
        page.goto(f"{panel}/legal?tier={quote(IMG)}&reviewer={quote(SCRIPT)}")
    assert refused.value.status == 422
    expect(page.get_by_test_id("search-error")).to_contain_text("tier: must be one of")
    expect(page.get_by_test_id("search-error")).to_contain_text(IMG)
    assert page.locator("input[name=reviewer]").input_value() == SCRIPT
    assert_no_markup_ran(page)
    tab.assert_clean(expected="status of 422")


def test_admin_sees_the_evidence_with_personal_data_masked(panel: str, browser: Browser) -> None:
    tab = signed_in(browser, panel, "/legal", "admin")
    page = tab.page
    page.goto(f"{panel}/legal/decisions/lb-2")
    email = page.locator('tr[data-attribute="customer.email"] td')
    expect(email).to_contain_text("masked")
    assert "lb-2@example.org" not in page.content()
    tab.assert_clean()
