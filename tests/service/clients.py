"""Test clients of the app: with an API key, as the order system calls, or signed in, as people."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient

from service.app import create_app
from service.auth.keys import create_key
from service.auth.people import create_user, list_users
from service.auth.roles import PERSON_ROLES, SERVICE_SCOPES
from service.persistence import make_engine, migrate
from service.settings import ServiceSettings


def new_key(
    settings: ServiceSettings, scopes: Iterable[str] = SERVICE_SCOPES, role: str = "service"
) -> str:
    """Create an API key in the settings' database and return its token."""
    engine = make_engine(settings.db_url)
    try:
        migrate(engine)
        return create_key(engine, "tests", scopes, role)[1]
    finally:
        engine.dispose()


@contextmanager
def api_client(
    settings: ServiceSettings, scopes: Iterable[str] = SERVICE_SCOPES, role: str = "service"
) -> Iterator[TestClient]:
    """Run the app and yield a client that sends a key with these scopes."""
    with TestClient(create_app(settings)) as client:
        client.headers["Authorization"] = f"Bearer {new_key(settings, scopes, role)}"
        yield client


PASSWORD = "correct horse battery"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def create_people(settings: ServiceSettings, roles: Iterable[str] = PERSON_ROLES) -> None:
    """Create one account per role, named after the role, with `PASSWORD`."""
    engine = make_engine(settings.db_url)
    try:
        migrate(engine)
        known = {user.username for user in list_users(engine)}
        for role in roles:
            if role not in known:
                create_user(engine, role, role, PASSWORD)
    finally:
        engine.dispose()


def csrf_token(html: str) -> str:
    """Return the CSRF token a page's form carries."""
    found = CSRF_FIELD.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Sign in through the form as a browser does; return the session's CSRF token."""
    form = client.get("/login")
    answer = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_token(form.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return csrf_token(client.get("/").text)
