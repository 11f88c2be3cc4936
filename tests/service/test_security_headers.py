"""Every response of the app carries the security headers: pages, API, static, docs, errors."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient
from httpx import Response

from service.app import create_app
from service.auth.guards import routes_with_access, unguarded_routes
from service.security_headers import CSP
from service.settings import ServiceSettings
from tests.service.clients import create_people, new_key, sign_in

EXPECTED = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}
# A real file for the routes that serve files by name; any other parameter gets a made-up value.
SAMPLES = {
    "/static/{name}": "/static/app.css",
    "/docs/assets/{name}": "/docs/assets/swagger-ui.css",
}


def security_headers(answer: Response) -> dict[str, str | None]:
    return {name: answer.headers.get(name) for name in EXPECTED}


@pytest.fixture(scope="module")
def signed_in_client(settings: ServiceSettings) -> Iterator[TestClient]:
    """A client signed in as admin that also sends the order system's API key."""
    create_people(settings)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        sign_in(client, "admin")
        client.headers["Authorization"] = f"Bearer {new_key(settings)}"
        yield client


def test_the_policy_is_strict() -> None:
    directives = dict(d.strip().split(" ", 1) for d in CSP.split(";"))
    assert directives["default-src"] == "'none'"  # objects, frames, fonts: none of them
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'" and directives["base-uri"] == "'none'"
    assert directives["form-action"] == "'self'"
    assert not [d for d in directives.values() if "unsafe" in d or "*" in d or "http" in d]


def test_every_route_of_the_app_answers_with_the_headers(
    settings: ServiceSettings, signed_in_client: TestClient
) -> None:
    app = signed_in_client.app
    assert unguarded_routes(app) == []  # type: ignore[arg-type]
    routes = routes_with_access(app)  # type: ignore[arg-type]
    statuses: dict[int, int] = {}
    wrong: dict[str, dict[str, str | None]] = {}
    for method, path, _ in routes:
        url = SAMPLES.get(path) or re.sub(r"\{[^}]+\}", "x", path)
        answer = signed_in_client.request(method, url, follow_redirects=False)
        statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
        if security_headers(answer) != EXPECTED:
            wrong[f"{method} {path} ({answer.status_code})"] = security_headers(answer)
    assert wrong == {}
    assert sum(statuses.values()) == len(routes) >= 45, "every route was asked"
    assert {200, 403, 404, 422} <= set(statuses), statuses  # answers, and errors among them


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/no/such/page", 404),
        ("DELETE", "/healthz", 405),
        ("GET", "/v1/orders/x/decision#anonymous", 401),
        ("POST", "/v1/orders/score#oversized", 413),
        ("GET", "/static/app.css#cached", 304),
    ],
)
def test_errors_and_bare_answers_carry_them_too(
    signed_in_client: TestClient, method: str, path: str, status: int
) -> None:
    path, _, case = path.partition("#")
    headers: dict[str, str] = {}
    if case == "anonymous":
        headers["Authorization"] = "Bearer osk_unknown"
    if case == "oversized":
        headers["Content-Length"] = str(10**9)
    if case == "cached":
        headers["If-None-Match"] = signed_in_client.get(path).headers["etag"]
    answer = signed_in_client.request(method, path, headers=headers, content=b"")
    assert answer.status_code == status
    assert security_headers(answer) == EXPECTED


def test_an_unexpected_failure_carries_them(settings: ServiceSettings) -> None:
    app = create_app(settings)

    @app.get("/boom", include_in_schema=False)
    def boom() -> None:
        raise RuntimeError("a bug")

    # Without the lifespan: the 500 comes from Starlette's outermost error handler.
    answer = TestClient(app, raise_server_exceptions=False).get("/boom")
    assert answer.status_code == 500
    assert security_headers(answer) == EXPECTED


def test_a_route_cannot_weaken_them(settings: ServiceSettings) -> None:
    app = create_app(settings)

    @app.get("/weak", include_in_schema=False)
    def weak() -> PlainTextResponse:
        return PlainTextResponse("", headers={"Content-Security-Policy": "default-src *"})

    answer = TestClient(app).get("/weak")
    assert answer.headers.get_list("content-security-policy") == [CSP]
