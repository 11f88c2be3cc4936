"""People's sign-in: cookies, CSRF, logout, expiry, lockout; and API keys' lifecycle."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import text

from service.app import create_app
from service.auth.credentials import digest
from service.auth.keys import InvalidKey, create_key, list_keys, revoke_key
from service.auth.people import disable_user
from service.persistence import make_engine
from service.settings import ServiceSettings
from tests.service.clients import PASSWORD, create_people, csrf_token, new_key, sign_in


@pytest.fixture(scope="module")
def people(settings: ServiceSettings) -> ServiceSettings:
    create_people(settings)
    return settings


def client_for(
    settings: ServiceSettings, address: str = "testclient", **changes: object
) -> TestClient:
    """Return a client of an app with changed settings, calling from `address`."""
    return TestClient(create_app(settings.model_copy(update=changes)), client=(address, 50000))


@pytest.fixture()
def browser(people: ServiceSettings) -> Iterator[TestClient]:
    with client_for(people) as client:
        yield client


def attempt(client: TestClient, username: str, password: str) -> int:
    return sign_in_answer(client, username, password).status_code


def sign_in_answer(client: TestClient, username: str, password: str) -> Response:
    token = csrf_token(client.get("/login").text)
    form = {"username": username, "password": password, "csrf_token": token}
    answer: Response = client.post("/login", data=form, follow_redirects=False)
    return answer


def test_signing_in_sets_a_locked_down_session_cookie(browser: TestClient) -> None:
    token = csrf_token(browser.get("/login").text)
    form = {"username": "reviewer", "password": PASSWORD, "csrf_token": token, "next": "/cases"}
    answer = browser.post("/login", data=form, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/cases"
    cookie = next(
        c for c in answer.headers.get_list("set-cookie") if c.startswith("ordershield_session=")
    )
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    assert "reviewer (reviewer)" in browser.get("/cases").text


def test_over_https_the_session_cookie_is_secure(people: ServiceSettings) -> None:
    with TestClient(create_app(people), base_url="https://testserver") as client:
        token = csrf_token(client.get("/login").text)
        form = {"username": "legal", "password": PASSWORD, "csrf_token": token}
        answer = client.post("/login", data=form, follow_redirects=False)
        assert "Secure" in answer.headers["set-cookie"]


def test_a_wrong_password_opens_no_session(browser: TestClient) -> None:
    assert attempt(browser, "reviewer", "not the password") == 401
    assert attempt(browser, "nobody-here", PASSWORD) == 401
    assert "ordershield_session" not in browser.cookies
    assert browser.get("/", follow_redirects=False).status_code == 303


def test_sign_in_without_the_forms_csrf_token_is_refused(browser: TestClient) -> None:
    browser.get("/login")
    form = {"username": "reviewer", "password": PASSWORD, "csrf_token": "forged"}
    assert browser.post("/login", data=form, follow_redirects=False).status_code == 403
    assert "ordershield_session" not in browser.cookies


def test_logout_needs_the_sessions_csrf_token_and_ends_the_session(browser: TestClient) -> None:
    token = sign_in(browser, "reviewer")
    forged = browser.post("/logout", data={"csrf_token": "x"}, follow_redirects=False)
    assert forged.status_code == 403
    assert browser.get("/", follow_redirects=False).status_code == 200, "still signed in"
    cookie = browser.cookies["ordershield_session"]
    done = browser.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/login"
    browser.cookies.set("ordershield_session", cookie)  # a stolen copy of the cookie
    assert browser.get("/", follow_redirects=False).headers["location"] == "/login?next=/"


LIMIT_S = 3.0


@pytest.mark.parametrize("limit", ["session_idle_seconds", "session_max_seconds"])
def test_a_session_expires_on_the_server(people: ServiceSettings, limit: str) -> None:
    # Long enough that a busy machine still reads the page inside the limit once.
    with client_for(people, "testclient", **{limit: LIMIT_S}) as client:
        sign_in(client, "logistics")
        assert client.get("/", follow_redirects=False).status_code == 200
        cookie = client.cookies["ordershield_session"]
        time.sleep(LIMIT_S + 0.2)
        client.cookies.set("ordershield_session", cookie)  # a browser that kept it
        assert client.get("/", follow_redirects=False).status_code == 303


def test_repeated_failures_lock_the_username_for_a_while(people: ServiceSettings) -> None:
    with client_for(people, login_max_failures=3, login_lockout_seconds=2.0) as client:
        for _ in range(3):
            assert attempt(client, "senior_reviewer", "guess") == 401
        locked = sign_in_answer(client, "senior_reviewer", PASSWORD)
        assert locked.status_code == 429, "locked, even with the right password"
        assert "Too many failed sign-ins" in locked.text
        assert attempt(client, "admin", PASSWORD) == 303, "other usernames are not locked"
        time.sleep(2.1)
        assert attempt(client, "senior_reviewer", PASSWORD) == 303


def test_a_disabled_account_loses_its_sessions(people: ServiceSettings) -> None:
    from service.auth.people import create_user

    engine = make_engine(people.db_url)
    create_user(engine, "temp-worker", "reviewer", PASSWORD)
    with client_for(people) as client:
        sign_in(client, "temp-worker")
        disable_user(engine, "temp-worker")
        assert client.get("/", follow_redirects=False).status_code == 303
        assert attempt(client, "temp-worker", PASSWORD) == 401
    engine.dispose()


def test_keys_are_stored_hashed_and_stop_at_once_when_revoked(people: ServiceSettings) -> None:
    engine = make_engine(people.db_url)
    with client_for(people) as client:
        key, token = create_key(engine, "shop", ["score"])
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get("/v1/orders/none/decision", headers=headers).status_code == 404
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT * FROM api_keys WHERE id = :id"), {"id": key.id})
            stored = " ".join(str(v) for v in rows.one())
        assert token not in stored and digest(token) in stored
        (used,) = [k for k in list_keys(engine) if k.id == key.id]
        assert used.last_used_at is not None, "the last use is recorded"
        assert revoke_key(engine, key.id)
        refused = client.get("/v1/orders/none/decision", headers=headers)
        assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
        assert refused.headers["www-authenticate"] == "Bearer"
    engine.dispose()


def test_a_key_without_the_scope_or_in_the_wrong_form_is_refused(people: ServiceSettings) -> None:
    with client_for(people) as client:
        labels_only = {"Authorization": f"Bearer {new_key(people, ['labels'])}"}
        answer = client.post("/v1/admin/model/reload", headers=labels_only)
        assert answer.status_code == 403 and "admin" in answer.json()["detail"]
        basic = {"Authorization": "Basic dXNlcjpwYXNz"}
        assert client.post("/v1/admin/model/reload", headers=basic).status_code == 401


def test_keys_need_known_scopes_and_roles(people: ServiceSettings) -> None:
    engine = make_engine(people.db_url)
    with pytest.raises(InvalidKey, match="scopes"):
        create_key(engine, "x", ["everything"])
    with pytest.raises(InvalidKey, match="role"):
        create_key(engine, "x", ["orders:read"], "owner")
    with pytest.raises(InvalidKey, match="score scope goes with the service role"):
        create_key(engine, "x", ["score", "orders:read"], "logistics")
    engine.dispose()


def test_parallel_guesses_cannot_pass_the_lockout_together(people: ServiceSettings) -> None:
    settings = {"login_max_failures": 3, "login_lockout_seconds": 30.0}
    with client_for(people, "192.0.2.11", **settings) as client:
        token = csrf_token(client.get("/login").text)
        form = {"username": "reviewer", "password": "guess", "csrf_token": token}

        # Each answer sets a new form token in the jar: send the one the form carries.
        cookie = {"cookie": f"ordershield_login_csrf={token}"}

        def guess(_: int) -> int:
            answer: Response = client.post(
                "/login", data=form, headers=cookie, follow_redirects=False
            )
            return answer.status_code

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(guess, range(24)))
        assert answers.count(401) <= 3 and answers.count(429) >= 21, sorted(answers)


def test_one_client_trying_many_usernames_is_slowed(people: ServiceSettings) -> None:
    settings = {"login_max_failures": 2, "login_lockout_seconds": 30.0}
    with client_for(people, "192.0.2.10", **settings) as client:
        answers = [attempt(client, f"sprayed-{n}", "Summer2026!") for n in range(10)]
        assert answers[:8] == [401] * 8 and answers[8:] == [429, 429], answers
        assert attempt(client, "admin", PASSWORD) == 429, "the client as a whole waits"


@pytest.mark.parametrize(
    ("next_path", "lands"),
    [
        ("/audit/personal-data?order_id=x", "/audit/personal-data?order_id=x"),
        ("//evil.test", "/"),
        ("/\\evil.test", "/"),
        ("https://evil.test/", "/"),
        ("/\t/evil.test", "/"),
    ],
)
def test_a_redirect_after_sign_in_stays_on_this_site(
    browser: TestClient, next_path: str, lands: str
) -> None:
    token = csrf_token(browser.get("/login").text)
    form = {"username": "admin", "password": PASSWORD, "csrf_token": token, "next": next_path}
    assert browser.post("/login", data=form, follow_redirects=False).headers["location"] == lands


def test_signing_in_comes_back_to_the_page_and_its_query(browser: TestClient) -> None:
    answer = browser.get("/audit/personal-data?order_id=o-1", follow_redirects=False)
    assert answer.headers["location"] == "/login?next=/audit/personal-data%3Forder_id%3Do-1"


def test_pages_refuse_to_be_framed_or_cached(browser: TestClient) -> None:
    sign_in(browser, "reviewer")
    headers = browser.get("/").headers
    assert (
        headers["x-frame-options"] == "DENY"
        and "frame-ancestors 'none'" in (headers["content-security-policy"])
    )
    assert headers["cache-control"] == "no-store"
    refused = browser.get("/audit/personal-data")
    assert refused.status_code == 403 and "reviewer (reviewer)" in refused.text


def test_cookies_can_be_forced_secure_behind_a_proxy(people: ServiceSettings) -> None:
    with client_for(people, cookie_secure=True) as client:
        token = csrf_token(client.get("/login").text)
        form = {"username": "legal", "password": PASSWORD, "csrf_token": token}
        assert (
            "Secure"
            in client.post("/login", data=form, follow_redirects=False).headers["set-cookie"]
        )
