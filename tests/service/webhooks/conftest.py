"""Webhook fixtures: a migrated database of each kind, a live receiver, fast settings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from service.settings import ServiceSettings
from tests.service.persistence.conftest import db_url, engine
from tests.service.webhooks.receiver import Receiver

__all__ = ["db_url", "engine", "hook_settings", "receiver"]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """Start a recording HTTP receiver on a free loopback port."""
    server = Receiver()
    server.up()
    yield server
    server.down()


@pytest.fixture
def hook_settings(tmp_path_factory: pytest.TempPathFactory) -> ServiceSettings:
    """Settings with a short timeout; backoff and horizon at their defaults."""
    return ServiceSettings(data_dir=tmp_path_factory.mktemp("data"), webhook_timeout_seconds=2)
