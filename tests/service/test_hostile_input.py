"""Hostile input is turned away cleanly: a 4xx naming the field, nothing written, no 500.

Times out of range or given as numbers, control characters in any text,
malformed and oversized JSON: each gets a 4xx in the one error shape, the
database holds what it held before, and the connection serves the next request.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from service.cli.server import running_server
from service.inputs import TimeBounds, bounded
from service.review.schemas import ActionIn
from service.scoring.schemas import Order, canonical_of
from service.settings import ServiceSettings
from tests.service.clients import api_client, new_key
from tests.service.hostile import ago, fields_named, iso, valid_order, written

FUTURE = "an hour from now"  # stands for a time computed when the test runs
SCORE = "/v1/orders/score"
REVIEW_CASE = "/v1/review/cases/" + "0" * 32 + "/approve"


def _set(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    *parents, leaf = path.split(".")
    node: Any = changed
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[leaf] = iso(ago(hours=-1)) if value == FUTURE else value
    return changed


@pytest.fixture(scope="module")
def scored(client: TestClient) -> dict[str, Any]:
    """An order scored two hours ago: later events attach to it."""
    order = valid_order("hostile-base", created_at=ago(hours=2))
    answer = client.post(SCORE, json=order)
    assert answer.status_code == 200, answer.text
    return order


@pytest.fixture(scope="module")
def reviewer(settings: ServiceSettings) -> dict[str, str]:
    return {"Authorization": f"Bearer {new_key(settings, ['review'], 'reviewer')}"}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("created_at", "0001-01-01T00:00:00Z"),
        ("created_at", "9999-12-31T23:59:59Z"),
        ("created_at", "1999-12-31T23:59:59Z"),
        ("created_at", "2000-01-01T00:00:00+14:00"),  # 1999 in UTC
        ("created_at", "0001-01-01T00:00:00+14:00"),  # no UTC form at all
        ("created_at", "9999-12-31T23:59:59-14:00"),
        ("created_at", FUTURE),
        ("created_at", 1767225600),
        ("created_at", 1767225600.5),
        ("created_at", "1767225600"),
        ("created_at", True),
        ("created_at", "2026-01-01T10:00:00"),
        ("created_at", "2026-02-30T10:00:00Z"),
        ("customer.account_created_at", "1969-12-31T23:59:59Z"),
        ("customer.account_created_at", "0001-01-01T00:00:00Z"),
        ("customer.account_created_at", FUTURE),
        ("customer.account_created_at", 0),
    ],
)
def test_an_order_time_out_of_range_or_not_iso_is_a_422_naming_it(
    client: TestClient, settings: ServiceSettings, path: str, value: Any
) -> None:
    before = written(settings)
    order = _set(valid_order(f"times-{path}-{value}".replace(" ", "")[:100]), path, value)
    assert path in fields_named(client.post(SCORE, json=order))
    assert written(settings) == before


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("created_at", "2000-01-01T00:00:00Z"),  # the earliest event time itself
        ("created_at", "2026-06-01T12:00:00.123456+02:00"),
        ("customer.account_created_at", "1970-01-01T00:00:00Z"),
    ],
)
def test_times_at_the_edges_of_the_range_are_taken(
    client: TestClient, path: str, value: str
) -> None:
    order = _set(valid_order(f"edge-{len(path)}-{value[:19]}".replace(":", "")), path, value)
    answer = client.post(SCORE, json=order)
    assert answer.status_code == 200, answer.text


def test_a_time_within_the_clock_skew_is_taken(client: TestClient) -> None:
    order = valid_order("within-skew", created_at=ago(seconds=-60))
    assert client.post(SCORE, json=order).status_code == 200


def test_the_range_comes_from_the_settings(settings: ServiceSettings) -> None:
    narrow = settings.model_copy(
        update={"earliest_event_time": ago(days=1), "max_clock_skew_seconds": 0}
    )
    with api_client(narrow) as client:
        early = client.post(SCORE, json=valid_order("narrow-early", created_at=ago(days=2)))
        assert fields_named(early) == ["created_at"]
        assert iso(narrow.earliest_event_time)[:16] in early.json()["detail"][0]["message"]
        ahead = client.post(SCORE, json=valid_order("narrow-ahead", created_at=ago(seconds=-30)))
        assert fields_named(ahead) == ["created_at"]
        inside = client.post(SCORE, json=valid_order("narrow-inside", created_at=ago(hours=1)))
        assert inside.status_code == 200, inside.text


def test_a_stored_order_is_not_held_to_todays_request_rules() -> None:
    """Replays and later events read stored orders: rules added since must not drop them."""
    stored = _set(valid_order("stored-long-ago"), "created_at", "1990-01-01T00:00:00Z")
    stored = _set(stored, "device.user_agent", "tab\tseparated")
    with bounded(TimeBounds()):
        with pytest.raises(ValidationError):
            Order.model_validate(stored)
        canonical = canonical_of(stored, ago(seconds=0))
    assert canonical is not None and canonical["user_agent"] == "tab\tseparated"


def _later_events(scored: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    order_id = scored["order_id"]
    return [
        ("/v1/labels", {"order_id": order_id, "label": "fraud", "reason": "chargeback"}),
        (f"/v1/orders/{order_id}/payment", {"status": "declined"}),
    ]


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "0001-01-01T00:00:00+14:00",
        "1999-12-31T23:59:59Z",
        FUTURE,
        1767225600,
        "2026-01-01T10:00:00",
        "before the order",
    ],
)
def test_a_known_at_out_of_range_is_a_422_naming_it(
    client: TestClient, settings: ServiceSettings, scored: dict[str, Any], value: Any
) -> None:
    if value == "before the order":
        value = iso(ago(hours=2, minutes=1))
    for url, body in _later_events(scored):
        before = written(settings)
        answer = client.post(url, json=_set(body, "known_at", value))
        assert fields_named(answer) == ["known_at"], url
        assert written(settings) == before, url


CONTROL_IN_ORDERS = [
    ("order_id", "ord-\x00"),
    ("order_id", "ord-1\n"),
    ("customer.id", "cust\x00"),
    ("customer.email", "buyer\x00@shop.test"),
    ("customer.phone", "+49\x0030 1234"),
    ("device.user_agent", "Mozilla\x07"),
    ("device.fingerprint", "dev\x1b"),
    ("payment.account_id", "pay\x7f"),
    ("shipping_address.name", "Ann\x1b[31m"),
    ("shipping_address.city", "Ber\u0085lin"),
    ("shipping_address.postal_code", "10\t117"),
    ("shipping_address.lines", ["Unter den Linden 1", "Hof\x00"]),
    ("items.0.sku", "sku\x00"),
    ("currency", "EU\x00"),
]


@pytest.mark.parametrize(("path", "value"), CONTROL_IN_ORDERS)
def test_a_control_character_in_any_order_text_is_a_422_naming_the_field(
    client: TestClient, settings: ServiceSettings, path: str, value: Any
) -> None:
    before = written(settings)
    order = _set(valid_order(f"control-{len(value)}-{path}"), path, value)
    assert path in fields_named(client.post(SCORE, json=order))
    assert written(settings) == before


def test_a_lone_surrogate_is_a_422_naming_the_field(
    client: TestClient, settings: ServiceSettings
) -> None:
    before = written(settings)
    raw = json.dumps(_set(valid_order("surrogate"), "shipping_address.city", "\ud800"))
    answer = client.post(SCORE, content=raw.encode(), headers={"content-type": "application/json"})
    assert "shipping_address.city" in fields_named(answer)
    assert written(settings) == before


@pytest.mark.parametrize(
    ("label", "field", "value"),
    [
        (True, "reason", "charge\x00back"),
        (True, "event_id", "evt\n1"),
        (False, "event_id", "e\x00"),
    ],
)
def test_a_control_character_in_a_later_event_is_a_422_naming_the_field(
    client: TestClient,
    settings: ServiceSettings,
    scored: dict[str, Any],
    label: bool,
    field: str,
    value: str,
) -> None:
    url, body = _later_events(scored)[0 if label else 1]
    before = written(settings)
    assert fields_named(client.post(url, json={**body, field: value})) == [field]
    assert written(settings) == before


def test_control_characters_in_paths_and_queries_are_a_422_naming_them(
    client: TestClient, reviewer: dict[str, str]
) -> None:
    assert fields_named(client.get("/v1/orders/ord%00x/decision")) == ["order_id"]
    assert fields_named(client.get("/v1/orders/ord%1Bx")) == ["order_id"]
    payment = client.post("/v1/orders/ord%00x/payment", json={"status": "declined"})
    assert fields_named(payment) == ["order_id"]
    assert fields_named(client.get("/v1/review/cases?tier=%00", headers=reviewer)) == ["tier"]


def test_a_reviewers_note_may_hold_line_breaks_but_no_other_control(
    client: TestClient, reviewer: dict[str, str]
) -> None:
    assert ActionIn(reason_code="confirmed", note="first line\r\n\tsecond line").note
    with pytest.raises(ValidationError):
        ActionIn(reason_code="confirmed", note="bell\x07")
    with pytest.raises(ValidationError):
        ActionIn(reason_code="two\nlines")
    refused = client.post(
        REVIEW_CASE, json={"reason_code": "customer_verified", "note": "a\x00"}, headers=reviewer
    )
    assert fields_named(refused) == ["note"]
    taken = client.post(
        REVIEW_CASE, json={"reason_code": "customer_verified", "note": "a\nb"}, headers=reviewer
    )
    assert taken.status_code == 404, taken.text  # the note passed; there is no such case


def _raw_order(amount: str) -> bytes:
    """Return a valid order's JSON whose amount is the raw JSON text `amount`."""
    text = json.dumps(valid_order(f"raw-{abs(hash(amount))}"))
    return text.replace('"amount": "499.00"', f'"amount": {amount}').encode()


DEEP = 60_000  # levels of nesting: far past any parser's recursion limit, under the body limit

MALFORMED: list[tuple[str, bytes]] = [
    ("not JSON", b"{not json"),
    ("not UTF-8", b"\xff\xfe\x00garbage"),
    ("UTF-8 broken inside", b'{"order_id": "\xc3\x28"}'),
    ("cut short", b'{"order_id": "x", "customer": {'),
    ("an array", b"[]"),
    ("null", b"null"),
    ("a string", b'"order"'),
    ("amount 1e400", _raw_order("1e400")),
    ("amount -1e400", _raw_order("-1e400")),
    ("amount NaN token", _raw_order("NaN")),
    ("amount Infinity token", _raw_order("Infinity")),
    ("amount NaN text", _raw_order('"NaN"')),
    ("amount Infinity text", _raw_order('"Infinity"')),
    ("amount 10**400", _raw_order("1" + "0" * 400)),
    ("amount 0.00001", _raw_order('"0.00001"')),
    ("amount a list", _raw_order("[499]")),
    ("amount an object", _raw_order('{"value": 499}')),
    ("deep in a field", _raw_order("[" * DEEP + "]" * DEEP)),
    ("deep in an unknown field", _raw_order('"1", "extra": ' + "[" * DEEP + "]" * DEEP)),
    ("deep body", b"[" * DEEP + b"]" * DEEP),
]


def _wrong_types() -> Iterator[tuple[str, dict[str, Any]]]:
    order = valid_order("wrong-types")
    yield "customer", _set(order, "customer", "somebody")
    yield "items", _set(order, "items", {"sku": "a"})
    yield "items.0.quantity", _set(order, "items.0.quantity", 1e400)
    yield "items.0.quantity", _set(order, "items.0.quantity", 10**400)
    yield "shipping_address.latitude", _set(order, "shipping_address.latitude", float("nan"))
    yield "shipping_address.longitude", _set(order, "shipping_address.longitude", 1e300)
    yield "device.emulator", _set(order, "device.emulator", "maybe")


@pytest.mark.parametrize(("what", "body"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_json_is_a_4xx_and_the_client_goes_on(
    client: TestClient, settings: ServiceSettings, what: str, body: bytes
) -> None:
    before = written(settings)
    answer = client.post(SCORE, content=body, headers={"content-type": "application/json"})
    assert 400 <= answer.status_code < 500, (what, answer.status_code, answer.text)
    assert answer.json()["error"] == "invalid_request", answer.text
    detail = answer.json()["detail"]
    if isinstance(detail, list):  # a field, or the body: never a character offset
        assert all(not item["field"].isdigit() for item in detail), detail
    assert written(settings) == before
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize(("field", "body"), list(_wrong_types()))
def test_wrong_types_are_a_422_naming_the_field(
    client: TestClient, settings: ServiceSettings, field: str, body: dict[str, Any]
) -> None:
    before = written(settings)
    # Python's encoder writes NaN and infinity as the tokens the chaos tester sends.
    raw = json.dumps(body).encode()
    answer = client.post(SCORE, content=raw, headers={"content-type": "application/json"})
    assert any(name.startswith(field) for name in fields_named(answer)), answer.text
    assert written(settings) == before


def _client_port(response: httpx.Response) -> int:
    """Return the local port of the connection that carried a response."""
    stream = response.extensions["network_stream"]
    return int(stream.get_extra_info("client_addr")[1])


def test_a_real_server_answers_hostile_input_and_keeps_the_connection(
    settings: ServiceSettings,
) -> None:
    headers = {"Authorization": f"Bearer {new_key(settings)}"}
    hostile = [body for _, body in MALFORMED] + [
        json.dumps(_set(valid_order("live-year-1"), "created_at", "0001-01-01T00:00:00Z")).encode(),
        json.dumps(_set(valid_order("live-nul"), "customer.id", "a\x00")).encode(),
    ]
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    with (
        running_server(settings) as server,
        httpx.Client(base_url=server.url, headers=headers, limits=limits, timeout=30) as http,
    ):
        ports = set()
        for body in hostile:
            answer = http.post(SCORE, content=body, headers={"content-type": "application/json"})
            assert 400 <= answer.status_code < 500, answer.text
            assert "error" in answer.json()
            assert answer.headers.get("connection", "").lower() != "close"
            ports.add(_client_port(answer))
        order = valid_order("live-after-hostile")
        assert http.post(SCORE, json=order).status_code == 200
        known = http.post(
            f"/v1/orders/{order['order_id']}/payment",
            json={"status": "declined", "known_at": "0001-01-01T00:00:00Z"},
        )
        assert known.status_code == 422 and known.json()["detail"][0]["field"] == "known_at"
        ports.add(_client_port(known))
    assert len(ports) == 1, "the server closed the connection on the way"


def test_an_ipv6_zone_id_is_refused(client: TestClient) -> None:
    order = valid_order("zone-id")
    order["ip"] = "2001:db8::1%" + "z" * 1000
    answer = client.post("/v1/orders/score", json=order)
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["field"].startswith("ip")
