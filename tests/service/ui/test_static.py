"""Static files come from a fixed table, and every page sends a strict CSP and complies with it."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, Route
from starlette.requests import Request

from service import errors, security_headers
from service.security_headers import CSP
from service.settings import ServiceSettings
from service.ui import static
from service.ui.charts import RingEntity, RingOrder, ring_graph, waterfall
from service.ui.templates import page
from tests.service.clients import api_client, create_people, sign_in
from training.sources.payloads import order_payload

FOLDER = Path(static.__file__).with_name("static")
STRICT = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}
INLINE = [
    re.compile(r"<style", re.I),
    re.compile(r"\sstyle\s*=", re.I),
    re.compile(r"\son[a-z]+\s*=", re.I),
    re.compile(r"<script(?![^>]*\ssrc=)[^>]*>", re.I),  # a script without src has a body
    re.compile(r"<script[^>]*>\s*[^<\s]", re.I),  # a script with src and a body anyway
    re.compile(r"javascript:", re.I),
]


def bare_app() -> FastAPI:
    app = FastAPI()
    errors.install(app)
    security_headers.install(app)
    app.include_router(static.router)

    @app.get("/page")
    def a_page(request: Request) -> HTMLResponse:
        return page(request, "error.html", title="A page", message="<b>no</b>")

    return app


@pytest.fixture(scope="module")
def bare() -> TestClient:
    return TestClient(bare_app())


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("htmx.min.js", "text/javascript; charset=utf-8"),
        ("keys.js", "text/javascript; charset=utf-8"),
        ("app.js", "text/javascript; charset=utf-8"),
        ("app.css", "text/css; charset=utf-8"),
        ("LICENSE.htmx", "text/plain; charset=utf-8"),
    ],
)
def test_the_static_files_are_served_with_their_media_types(
    bare: TestClient, name: str, media_type: str
) -> None:
    answer = bare.get(f"/static/{name}")
    assert answer.status_code == 200
    assert answer.content == (FOLDER / name).read_bytes()
    assert answer.headers["content-type"] == media_type
    assert answer.headers["cache-control"] == "public, max-age=3600"
    assert answer.headers["x-content-type-options"] == "nosniff"
    again = bare.get(f"/static/{name}", headers={"If-None-Match": answer.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_the_table_is_the_folder_listing() -> None:
    assert set(static.ASSETS) == {p.name for p in FOLDER.iterdir() if p.is_file()}
    assert {"htmx.min.js", "keys.js", "app.js", "app.css", "LICENSE.htmx"} <= set(static.ASSETS)


def test_hidden_files_and_folders_stay_out_of_the_table(tmp_path: Path) -> None:
    (tmp_path / "ok.css").write_text("a {}")
    (tmp_path / ".env").write_text("SECRET=1")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.js").write_text("1")
    (tmp_path / "link.js").symlink_to(tmp_path / "ok.css")
    assert set(static.load(tmp_path)) == {"ok.css"}


def test_htmx_is_the_vendored_release_with_its_licence() -> None:
    body = (FOLDER / "htmx.min.js").read_bytes()
    licence = (FOLDER / "LICENSE.htmx").read_text()
    assert hashlib.sha256(body).hexdigest() in licence, "the file is the one the note names"
    assert "htmx.org 2." in licence and "Zero-Clause BSD" in licence
    assert b'version:"2.' in body
    assert not re.search(rb"https?://(?!www\.w3\.org/)[a-z0-9.-]+/[^\s\"']*\.js", body)


TRAVERSALS = [
    "/static/../static.py",
    "/static/%2e%2e/static.py",
    "/static/..%2fstatic.py",
    "/static/..%2Ftemplates.py",
    "/static/%2e%2e%2f%2e%2e%2fapp.py",
    "/static/..%5cstatic.py",
    "/static/..\\static.py",
    "/static/%2fetc%2fpasswd",
    "/static//etc/passwd",
    "/static/%252e%252e%252fstatic.py",
    "/static/app.css%00.py",
    "/static/.",
    "/static/..",
    "/static/%2e",
    "/static/",
    "/static",
    "/static/APP.CSS",
    "/static/templates%2fbase.html",
    "/static/static.py",
    "/static/__init__.py",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_anything_but_a_listed_name_is_404(bare: TestClient, path: str) -> None:
    answer = bare.get(path, follow_redirects=False)
    assert answer.status_code == 404, (path, answer.status_code)
    assert b"import" not in answer.content and b"root:" not in answer.content


# --- Through the whole app ---------------------------------------------------------------


@pytest.fixture(scope="module")
def app_pages(
    settings: ServiceSettings, stream: pd.DataFrame
) -> Iterator[dict[str, tuple[int, dict[str, str], str]]]:
    """Return path -> (status, headers, html) of every page of the app, as someone may see it."""
    create_people(settings)
    order = order_payload(stream.iloc[260])
    seen: dict[str, tuple[int, dict[str, str], str]] = {}
    with api_client(settings) as client:
        assert client.post("/v1/orders/score", json=order).status_code == 200
        client.headers.pop("Authorization")
        for path, who in [
            ("/login", None),
            ("/", "legal"),
            ("/cases", "legal"),
            ("/orders/{id}", "legal"),
            ("/audit/personal-data", "legal"),
            ("/cases#403", "logistics"),  # the refusal page
        ]:
            client.cookies.clear()
            if who:
                sign_in(client, who)
            answer = client.get(path.split("#")[0].replace("{id}", str(order["order_id"])))
            seen[path] = (answer.status_code, dict(answer.headers), answer.text)
        for path in sorted({a for _, _, html in seen.values() for a in assets(html)}):
            answer = client.get(path)
            seen[path] = (answer.status_code, dict(answer.headers), answer.text)
        yield seen


def assets(html: str) -> list[str]:
    return re.findall(r'<(?:script|link)[^>]+(?:src|href)="(/static/[^"]+)"', html)


PAGES = ["/login", "/", "/cases", "/orders/{id}", "/audit/personal-data", "/cases#403"]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_sends_the_strict_policy_and_has_nothing_inline(
    app_pages: dict[str, tuple[int, dict[str, str], str]], path: str
) -> None:
    status, headers, html = app_pages[path]
    assert status == (403 if path.endswith("#403") else 200)
    assert {name: headers.get(name) for name in STRICT} == STRICT
    assert [p.pattern for p in INLINE if p.search(html)] == []
    assert set(assets(html)) == {
        "/static/app.css",
        "/static/htmx.min.js",
        "/static/keys.js",
        "/static/app.js",
    }


def test_the_app_serves_the_assets_its_pages_load(
    app_pages: dict[str, tuple[int, dict[str, str], str]],
) -> None:
    """Passes once service/app.py includes `service.ui.static.router`."""
    served = {path: got[0] for path, got in app_pages.items() if path.startswith("/static/")}
    assert served == dict.fromkeys(served, 200) and len(served) == 4


def test_the_policy_is_the_strict_one() -> None:
    directives = dict(d.strip().split(" ", 1) for d in CSP.split(";"))
    assert directives == {
        "default-src": "'none'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self' data:",
        "connect-src": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
        "base-uri": "'none'",
    }


def test_the_templates_have_nothing_inline() -> None:
    folder = FOLDER.with_name("templates")
    for template in sorted(folder.glob("*.html")):
        text = template.read_text()
        assert [p.pattern for p in INLINE if p.search(text)] == [], template.name


# --- In a real browser, under the policy -------------------------------------------------

ORIGIN = "http://ordershield.test"
HEAD = (
    '<meta name="htmx-config" content=\'{"includeIndicatorStyles": false, "allowEval": false}\'>'
    '<link rel="stylesheet" href="/static/app.css">'
    '<script src="/static/htmx.min.js" defer></script><script src="/static/keys.js" defer></script>'
)
DESK = """<!doctype html><html><head><title>desk</title>{head}</head><body><main data-keys>
<input id="note" name="note">
<form data-key="n" method="get" action="/done/next"></form>
<form method="get" action="/done/approve"><button data-key="a">Approve</button></form>
<form method="get" action="/done/reject"><textarea data-key="r" name="why"></textarea></form>
<div id="queue" hx-get="/rows" hx-trigger="load" hx-swap="innerHTML"></div>
<div id="key-help" hidden><kbd>n</kbd> next case</div>
{charts}</main></body></html>"""
ROW = '<tr data-key-row="c{0}"><td><a href="/done/case-{0}">case {0}</a></td></tr>'
ROWS = "<table data-key-list>" + "".join(ROW.format(i) for i in range(3)) + "</table>"


def browser_app() -> FastAPI:
    app = bare_app()
    strict = {"Content-Security-Policy": CSP}

    @app.get("/desk")
    def desk() -> HTMLResponse:
        graph = ring_graph(
            "c", [RingOrder("o1", "o1", "high", "open")], [RingEntity("d", "device", "phone")],
            [("c", "d"), ("o1", "d")],
        )  # fmt: skip
        charts = waterfall(-1.0, [("towards", 0.8), ("away", -0.3)], 0.38) + graph
        return HTMLResponse(DESK.format(head=HEAD, charts=charts), headers=strict)

    @app.get("/rows")
    def rows() -> HTMLResponse:
        return HTMLResponse(ROWS)

    @app.get("/done/{what}")
    def done(what: str) -> HTMLResponse:
        return HTMLResponse(f"<p id='done'>{what}</p>", headers=strict)

    return app


@pytest.fixture
def tab(browser: Browser) -> Iterator[tuple[Page, list[str]]]:
    """A page whose requests the bare app answers, and the CSP complaints it logs."""
    client = TestClient(browser_app())
    page_ = browser.new_page()
    complaints: list[str] = []
    page_.on("console", lambda m: complaints.append(m.text) if m.type == "error" else None)

    def answer(route: Route) -> None:
        got = client.request(route.request.method, route.request.url.removeprefix(ORIGIN))
        headers = {k: v for k, v in got.headers.items() if k != "content-length"}
        route.fulfill(status=got.status_code, headers=headers, body=got.content)

    page_.route(f"{ORIGIN}/**", answer)
    yield page_, complaints
    page_.close()


def test_the_real_page_loads_its_assets_without_a_complaint(tab: tuple[Page, list[str]]) -> None:
    page_, complaints = tab
    page_.goto(f"{ORIGIN}/page")
    page_.wait_for_function("window.htmx !== undefined")
    config = page_.evaluate("[htmx.config.includeIndicatorStyles, htmx.config.allowEval]")
    assert config == [False, False], "the meta tag configures htmx"
    assert page_.evaluate("document.querySelectorAll('style, [style]').length") == 0
    background = page_.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(246, 247, 249)", "app.css applies"
    assert complaints == []


def test_the_keys_work_under_the_policy(tab: tuple[Page, list[str]]) -> None:
    page_, complaints = tab
    page_.goto(f"{ORIGIN}/desk")
    page_.wait_for_selector("[data-key-row]")  # htmx fetched the queue
    page_.keyboard.press("?")
    assert page_.locator("#key-help").is_visible()
    page_.keyboard.press("Escape")
    assert not page_.locator("#key-help").is_visible()
    page_.keyboard.press("j")
    page_.keyboard.press("j")
    page_.keyboard.press("k")
    page_.keyboard.press("j")
    assert page_.locator(".key-current").get_attribute("data-key-row") == "c1"
    page_.focus("#note")
    page_.keyboard.type("an")  # typing, not approving or moving on
    assert page_.input_value("#note") == "an" and page_.url.endswith("/desk")
    page_.locator("#note").blur()
    page_.keyboard.press("Control+a")
    assert page_.url.endswith("/desk")
    page_.keyboard.press("r")
    assert page_.evaluate("document.activeElement.name") == "why", "r focuses a field"
    page_.locator("textarea").blur()
    fill = page_.evaluate("getComputedStyle(document.querySelector('rect.push-fraud')).fill")
    assert fill == "rgb(198, 40, 40)", "chart colours come from app.css"
    page_.keyboard.press("Enter")
    page_.wait_for_url(re.compile("/done/case-1$"))
    for key, landing in (("n", "next"), ("a", "approve")):
        page_.goto(f"{ORIGIN}/desk")
        page_.wait_for_selector("[data-key-row]")
        page_.keyboard.press(key)
        page_.wait_for_url(re.compile(f"/done/{landing}"))
    assert complaints == []
