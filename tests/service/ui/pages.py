"""Browser test helpers: a served data dir, a signed-in tab that keeps errors, inert text."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from features.build import build_offline_sources
from features.store import apply, materialize
from models.scorer import Thresholds
from service.settings import ServiceSettings
from tests.service.clients import PASSWORD, create_people
from tests.tiny_model import tiny_champion

SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 900}
# Records every CSP violation the page reports, before any of the page's own scripts run.
WATCH_CSP = (
    "window.__csp = [];"
    "document.addEventListener('securitypolicyviolation',"
    " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
)
IMG = '<img src=x onerror="window.__xss=1">'
SCRIPT = "<script>window.__xss=1</script>"


def served_settings(
    data_dir: Path, orders: pd.DataFrame, thresholds: Thresholds, roles: list[str]
) -> ServiceSettings:
    """Return a data dir's settings: Feast repo applied, a tiny champion, a person per role."""
    settings = ServiceSettings(data_dir=data_dir)
    build_offline_sources(orders, settings)
    apply(settings)
    materialize(settings)
    tiny_champion(settings, thresholds)
    create_people(settings, roles)
    return settings


@dataclass
class Tab:
    """A signed-in page and the console errors and page errors it produced."""

    page: Page
    errors: list[str] = field(default_factory=list)

    def console(self, message: ConsoleMessage) -> None:
        """Keep a console error, but the browser's own ask for the missing /favicon.ico."""
        where = message.location.get("url", "")
        if message.type == "error" and not where.endswith("/favicon.ico"):
            self.errors.append(f"{message.text} ({where})")

    def assert_clean(self, expected: str = "") -> None:
        """Fail on any CSP violation, script error or failed load (but the `expected` one)."""
        assert self.page.evaluate("window.__csp") == []
        assert [e for e in self.errors if not (expected and expected in e)] == []


def signed_in(browser: Browser, url: str, landing: str, username: str) -> Tab:
    """Sign in on a fresh context (its own cookies) and land on the `landing` path."""
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    context.add_init_script(WATCH_CSP)
    tab = Tab(context.new_page())
    tab.page.on("console", tab.console)
    tab.page.on("pageerror", lambda error: tab.errors.append(str(error)))
    tab.page.goto(f"{url}{landing}")
    expect(tab.page).to_have_url(f"{url}/login?next={landing}")
    tab.page.fill("#username", username)
    tab.page.fill("#password", PASSWORD)
    tab.page.click("button[type=submit]")
    expect(tab.page).to_have_url(f"{url}{landing}")
    tab.page.wait_for_load_state("load")  # deferred scripts (keys.js) listen from `load` on
    return tab


def shoot(page: Page, name: str, full_page: bool) -> None:
    """Write a screenshot into docs/screenshots/ when ORDERSHIELD_SCREENSHOTS=1."""
    if os.environ.get("ORDERSHIELD_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / name), full_page=full_page)


def assert_no_markup_ran(page: Page) -> None:
    """Fail if the page holds an injected image or inline script, or either one ran."""
    assert page.locator('img[src="x"]').count() == 0
    assert page.locator("script:not([src])").count() == 0
    assert page.evaluate("typeof window.__xss") == "undefined"


def assert_hostile_order_inert(page: Page) -> None:
    """Fail unless the hostile address and user agent show as the text they are, and inert."""

    def cell(path: str) -> str:
        return page.locator(f'tr[data-attribute="{path}"] td').inner_text()

    assert cell("shipping_address.name") == IMG
    assert cell("shipping_address.lines") == f"{SCRIPT}, {IMG}"
    assert cell("shipping_address.city") == SCRIPT
    assert cell("device.user_agent") == f"{IMG}{SCRIPT}"
    assert_no_markup_ran(page)
