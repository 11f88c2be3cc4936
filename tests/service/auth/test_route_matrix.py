"""Every route by every caller: allowed, 403, or 401 / sign-in redirect, as the table says.

The table is written here, independently of the guards the routes declare: a
route the app has and the table lacks fails the test, so a new route needs a
decision about who may call it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest
from fastapi import Request
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient

from service.app import create_app
from service.auth.guards import routes_with_access, unguarded_routes
from service.auth.roles import PERSON_ROLES, SCOPES
from service.settings import ServiceSettings
from tests.service.clients import PASSWORD, create_people, csrf_token, new_key, sign_in
from training.sources.payloads import order_payload

ALL = frozenset(PERSON_ROLES)


@dataclass(frozen=True)
class Rule:
    """Who may call a route: everybody, keys with a scope, or people with a role."""

    scope: str | None = None
    roles: frozenset[str] = frozenset()

    def expect(self, caller: str) -> str:
        kind, _, what = caller.partition(":")
        if self.scope is None and not self.roles:
            return "allowed"
        if self.scope is not None:
            if kind != "key":
                return "unauthenticated"
            return "allowed" if what == self.scope else "forbidden"
        if kind != "user":
            return "sign-in"
        return "allowed" if what in self.roles else "forbidden"


PUBLIC = Rule()
LEGAL = frozenset({"legal", "admin"})
CASE_WORKERS = frozenset({"reviewer", "senior_reviewer", "legal", "admin"})
REVIEWERS = frozenset({"reviewer", "senior_reviewer"})
ROUTES: dict[tuple[str, str], Rule] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/static/{name}"): PUBLIC,
    # Open by default; ORDERSHIELD_DOCS_REQUIRE_SIGN_IN puts the page and schema behind sign-in.
    ("GET", "/docs"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs/assets/{name}"): PUBLIC,
    ("POST", "/v1/orders/score"): Rule(scope="score"),
    ("GET", "/v1/orders/{order_id}/decision"): Rule(scope="score"),
    ("GET", "/v1/orders/{order_id}"): Rule(scope="orders:read"),
    ("POST", "/v1/labels"): Rule(scope="labels"),
    ("POST", "/v1/orders/{order_id}/payment"): Rule(scope="labels"),
    ("POST", "/v1/admin/model/reload"): Rule(scope="admin"),
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): Rule(roles=ALL),
    ("GET", "/"): Rule(roles=ALL),
    ("GET", "/cases"): Rule(roles=CASE_WORKERS),
    ("GET", "/orders/{order_id}"): Rule(roles=ALL),
    ("GET", "/audit/personal-data"): Rule(roles=LEGAL),
    ("GET", "/legal"): Rule(roles=LEGAL),
    ("GET", "/legal/decisions/{order_id}"): Rule(roles=LEGAL),
    ("POST", "/legal/decisions/{order_id}/replay"): Rule(roles=LEGAL),
    ("POST", "/legal/decisions/{order_id}/counterfactual"): Rule(roles=LEGAL),
    ("GET", "/legal/models/{version}"): Rule(roles=LEGAL),
    # A bundle carries the committed bytes whole: only a role that sees everything gets one.
    ("GET", "/legal/decisions/{order_id}/bundle.json"): Rule(roles=frozenset({"legal"})),
    ("GET", "/legal/decisions/{order_id}/evidence.pdf"): Rule(roles=LEGAL),
    ("GET", "/legal/export"): Rule(roles=LEGAL),
    ("GET", "/v1/review/cases"): Rule(scope="review"),
    ("POST", "/v1/review/cases/next"): Rule(scope="review"),
    ("GET", "/v1/review/cases/{case_id}"): Rule(scope="review"),
    ("POST", "/v1/review/cases/{case_id}/claim"): Rule(scope="review"),
    ("POST", "/v1/review/cases/{case_id}/release"): Rule(scope="review"),
    ("POST", "/v1/review/cases/{case_id}/approve"): Rule(scope="review"),
    ("POST", "/v1/review/cases/{case_id}/reject"): Rule(scope="review"),
    ("POST", "/v1/review/cases/{case_id}/escalate"): Rule(scope="review"),
    ("POST", "/v1/review/bulk"): Rule(scope="review"),
    ("GET", "/v1/review/stats"): Rule(scope="review"),
    ("GET", "/review"): Rule(roles=CASE_WORKERS),
    ("GET", "/review/rows"): Rule(roles=CASE_WORKERS),
    ("POST", "/review/next"): Rule(roles=REVIEWERS),
    ("GET", "/review/cases/{case_id}"): Rule(roles=CASE_WORKERS),
    ("POST", "/review/cases/{case_id}/claim"): Rule(roles=REVIEWERS),
    ("POST", "/review/cases/{case_id}/release"): Rule(roles=REVIEWERS),
    ("POST", "/review/cases/{case_id}/act"): Rule(roles=REVIEWERS),
    ("GET", "/admin/webhooks"): Rule(roles=frozenset({"admin"})),
    ("POST", "/admin/webhooks/deliveries/{delivery_id}/retry"): Rule(roles=frozenset({"admin"})),
}
CALLERS = ["anonymous", *(f"key:{s}" for s in SCOPES), *(f"user:{r}" for r in PERSON_ROLES)]


@pytest.fixture(scope="module")
def app_client(settings: ServiceSettings) -> Iterator[TestClient]:
    create_people(settings)
    # Every caller without a key tries every /v1/ route: more than a client's default
    # allowance of failed key attempts (tests/service/test_rate_limit.py tests that).
    generous = settings.model_copy(update={"rate_limit_failed_keys_per_client": "10000/minute"})
    with TestClient(create_app(generous)) as client:
        yield client


@pytest.fixture(scope="module")
def keys(settings: ServiceSettings, app_client: TestClient) -> dict[str, str]:
    # A review key acts as a reviewer; every other key is the order system's.
    roles = {"review": "reviewer"}
    return {scope: new_key(settings, [scope], roles.get(scope, "service")) for scope in SCOPES}


@pytest.fixture(scope="module")
def scored(app_client: TestClient, keys: dict[str, str], stream: pd.DataFrame) -> str:
    order = order_payload(stream.iloc[250])
    headers = {"Authorization": f"Bearer {keys['score']}"}
    assert app_client.post("/v1/orders/score", json=order, headers=headers).status_code == 200
    return str(order["order_id"])


def test_every_route_of_the_app_has_a_rule(settings: ServiceSettings) -> None:
    app = create_app(settings)
    routes = {(method, path) for method, path, _ in routes_with_access(app)}
    assert routes == set(ROUTES), "a route needs a rule in ROUTES (and a guard)"
    assert unguarded_routes(app) == []


def test_the_app_names_a_route_without_a_guard(settings: ServiceSettings) -> None:
    app = create_app(settings)

    @app.get("/v1/forgotten")
    def forgotten() -> dict[str, str]:
        return {}

    async def plain(_: Request) -> PlainTextResponse:
        return PlainTextResponse("")

    app.add_route("/plain", plain)
    assert unguarded_routes(app) == ["GET /v1/forgotten", "Route /plain"]


def outcome(answer: Any) -> str:
    if answer.status_code == 303 and answer.headers["location"].startswith("/login?next="):
        return "sign-in"
    return {401: "unauthenticated", 403: "forbidden"}.get(answer.status_code, "allowed")


def body(path: str, order_id: str, stream: pd.DataFrame) -> dict[str, Any]:
    if path == "/v1/orders/score":
        return {"json": order_payload(stream.iloc[251])}
    if path == "/v1/labels":
        return {"json": {"order_id": order_id, "label": "legit"}}
    if path.endswith("/payment"):
        return {"json": {"status": "authorized"}}
    return {}


@pytest.mark.parametrize("caller", CALLERS)
def test_route_by_caller(
    caller: str,
    app_client: TestClient,
    keys: dict[str, str],
    scored: str,
    stream: pd.DataFrame,
) -> None:
    seen: dict[tuple[str, str], tuple[str, str, int]] = {}
    for (method, path), rule in ROUTES.items():
        app_client.cookies.clear()
        headers: dict[str, str] = {}
        extra = body(path, scored, stream)
        kind, _, what = caller.partition(":")
        if kind == "key":
            headers["Authorization"] = f"Bearer {keys[what]}"
        elif kind == "user":
            extra.setdefault("data", {})["csrf_token"] = sign_in(app_client, what)
        if path == "/login" and method == "POST":
            token = csrf_token(app_client.get("/login").text)
            extra["data"] = {"username": "reviewer", "password": PASSWORD, "csrf_token": token}
        answer = app_client.request(
            method,
            path.replace("{order_id}", scored),
            headers=headers,
            follow_redirects=False,
            **extra,
        )
        assert answer.status_code < 500, (method, path, answer.text)
        seen[(method, path)] = (outcome(answer), rule.expect(caller), answer.status_code)
    wrong = {route: got for route, got in seen.items() if got[0] != got[1]}
    assert wrong == {}, f"(got, expected, status) per route for {caller}"
