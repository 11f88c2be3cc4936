"""Test clients of the app that call with an API key, as the order system does."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient

from features.settings import Settings
from service.app import create_app
from service.auth.keys import create_key
from service.auth.roles import SCOPES
from service.persistence import make_engine, migrate


def new_key(settings: Settings, scopes: Iterable[str] = SCOPES, role: str = "service") -> str:
    """Create an API key in the settings' database and return its token."""
    engine = make_engine(settings.db_url)
    try:
        migrate(engine)
        return create_key(engine, "tests", scopes, role)[1]
    finally:
        engine.dispose()


@contextmanager
def api_client(
    settings: Settings, scopes: Iterable[str] = SCOPES, role: str = "service"
) -> Iterator[TestClient]:
    """Run the app and yield a client that sends a key with these scopes."""
    with TestClient(create_app(settings)) as client:
        client.headers["Authorization"] = f"Bearer {new_key(settings, scopes, role)}"
        yield client
