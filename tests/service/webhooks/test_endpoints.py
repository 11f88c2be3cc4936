"""Endpoints: URLs without credentials and shown without tokens, rotation that keeps its grace."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from service.persistence.errors import InvalidRecord
from service.settings import ServiceSettings
from service.webhooks.service import add_endpoint, rotate_secret, shown_url
from service.webhooks.signing import SignatureError, verify_signature


@pytest.mark.parametrize(
    "url",
    ["ftp://shop.example/h", "shop.example/h", "http://user:pw@shop.example/h", "https://@/"],
)
def test_a_url_that_is_not_plain_http_s_to_a_host_is_refused(engine: Engine, url: str) -> None:
    with pytest.raises(InvalidRecord):
        add_endpoint(engine, url)


def test_pages_and_logs_show_a_url_without_its_query() -> None:
    assert shown_url("https://shop.example/h?token=abc#x") == "https://shop.example/h?…"
    assert shown_url("https://shop.example/h") == "https://shop.example/h"


def test_a_second_rotation_in_the_grace_period_needs_force(
    engine: Engine, hook_settings: ServiceSettings
) -> None:
    endpoint, _ = add_endpoint(engine, "https://shop.example/hooks")
    rotate_secret(engine, hook_settings, endpoint.id)
    with pytest.raises(InvalidRecord, match="previous secret"):
        rotate_secret(engine, hook_settings, endpoint.id)
    rotated, _ = rotate_secret(engine, hook_settings, endpoint.id, force=True)
    assert rotated.previous_secret_expires_at is not None


@pytest.mark.parametrize("stamp", ["9" * 400, "-5", "1e9", " 12", ""])
def test_a_timestamp_that_is_no_unix_time_is_a_signature_error(stamp: str) -> None:
    with pytest.raises(SignatureError):
        verify_signature(b"{}", f"t={stamp},v1=00", "whsec_x", now=1_700_000_000)
