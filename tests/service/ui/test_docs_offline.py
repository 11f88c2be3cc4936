"""The API docs come from this server alone and work under the strict policy, open or signed-in."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Request, Route

from service.app import create_app
from service.security_headers import CSP
from service.settings import ServiceSettings
from tests.service.clients import create_people, sign_in

ORIGIN = "http://ordershield.test"
LOADED = re.compile(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"')


@pytest.fixture(scope="module")
def docs_client(settings: ServiceSettings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def test_the_page_names_no_other_host_and_its_files_come_from_here(
    docs_client: TestClient,
) -> None:
    page = docs_client.get("/docs")
    assert page.status_code == 200 and page.headers["content-security-policy"] == CSP
    assert not re.search(r"(?:https?:)?//", page.text), "no URL of another host"
    loaded = LOADED.findall(page.text)
    assert sorted(loaded) == [
        "/docs/assets/favicon.png",
        "/docs/assets/swagger-ui-bundle.js",
        "/docs/assets/swagger-ui.css",
        "/static/docs.js",
    ]
    kinds = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
    for path in loaded:
        answer = docs_client.get(path)
        assert answer.status_code == 200 and len(answer.content) > 100, path
        assert answer.headers["content-type"].startswith(kinds[path[path.rindex(".") :]])
    assert "SwaggerUIBundle" in docs_client.get("/docs/assets/swagger-ui-bundle.js").text
    assert docs_client.get("/docs/assets/redoc.standalone.js").status_code == 404


def test_the_schema_describes_the_api(docs_client: TestClient) -> None:
    schema = docs_client.get("/openapi.json").json()
    assert "/v1/orders/score" in schema["paths"]
    assert "/docs" not in schema["paths"], "the docs routes stay out of the schema"
    assert docs_client.get("/redoc").status_code == 404


def test_sign_in_can_be_required(settings: ServiceSettings) -> None:
    create_people(settings, ["logistics"])
    closed = settings.model_copy(update={"docs_require_sign_in": True})
    with TestClient(create_app(closed)) as client:
        for path in ("/docs", "/openapi.json"):
            answer = client.get(path, follow_redirects=False)
            assert answer.status_code == 303, path
            assert answer.headers["location"] == f"/login?next={path}"
        assert client.get("/docs/assets/swagger-ui.css").status_code == 200, "public code"
        sign_in(client, "logistics")
        assert client.get("/docs").status_code == 200
        assert "/v1/orders/score" in client.get("/openapi.json").json()["paths"]


def test_swagger_ui_renders_in_a_browser_under_the_policy(
    browser: Browser, docs_client: TestClient
) -> None:
    """Every request of the page goes to this server, and the browser reports no violation."""
    tab = browser.new_page()
    complaints: list[str] = []
    elsewhere: list[str] = []
    tab.on("console", lambda m: complaints.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: complaints.append(str(e)))

    def answer(route: Route) -> None:
        got = docs_client.get(route.request.url.removeprefix(ORIGIN))
        headers = {k: v for k, v in got.headers.items() if k != "content-length"}
        route.fulfill(status=got.status_code, headers=headers, body=got.content)

    def outside(request: Request) -> None:
        if not request.url.startswith((ORIGIN + "/", "data:")):
            elsewhere.append(request.url)

    tab.on("request", outside)
    tab.route(f"{ORIGIN}/**", answer)
    try:
        tab.goto(f"{ORIGIN}/docs")
        tab.wait_for_selector(".opblock-summary-path", timeout=20_000)
        paths = tab.locator(".opblock-summary-path").all_inner_texts()
        assert any("/v1/orders/score" in p for p in paths), paths
        tab.locator(".opblock-summary-path", has_text="/v1/orders/score").first.click()
        tab.wait_for_selector(".opblock-body", timeout=5_000)
        background = tab.evaluate(
            "getComputedStyle(document.querySelector('.opblock-post')).backgroundColor"
        )
        assert background != "rgba(0, 0, 0, 0)", "swagger-ui.css applies"
    finally:
        tab.close()
    assert complaints == []
    assert elsewhere == []
