"""Delivery to a live receiver: signed, retried with backoff, given up, in order, once each."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from service.persistence import make_engine, save_decision
from service.persistence.db import writing
from service.persistence.outbox import append_event
from service.persistence.webhooks import Delivery, fan_out, lease_due, list_deliveries
from service.settings import ServiceSettings
from service.webhooks.delivery import deliver_due
from service.webhooks.service import add_endpoint, retry, rotate_secret
from service.webhooks.signing import SignatureError, verify_signature
from tests.service.persistence.samples import sample_decision
from tests.service.webhooks.receiver import Receiver

DAY = timedelta(days=1)


def write_events(engine: Engine, *orders: str) -> None:
    with writing(engine) as connection:
        for n, order_id in enumerate(orders):
            append_event(connection, "stock.frozen", order_id, {"n": n})


def log(engine: Engine) -> dict[int, Delivery]:
    return {d.event_id: d for d in list_deliveries(engine)}


def test_a_decision_arrives_signed_and_verifies(
    engine: Engine, receiver: Receiver, hook_settings: ServiceSettings
) -> None:
    endpoint, secret = add_endpoint(engine, receiver.url, "orders")
    save_decision(engine, sample_decision("ord-1"), open_case=False)
    assert deliver_due(engine, hook_settings) == 1
    [got] = receiver.received
    verify_signature(got.body, got.headers["OrderShield-Signature"], secret)
    event = json.loads(got.body)
    assert event["type"] == "decision.created" and event["order_id"] == "ord-1"
    assert event["id"] == got.headers["OrderShield-Event-Id"] and event["id"].startswith("evt_")
    assert event["data"]["tier"] == "high" and datetime.fromisoformat(event["created"])
    assert got.headers["Content-Type"] == "application/json"
    [delivery] = log(engine).values()
    assert (delivery.status, delivery.attempts, delivery.last_status) == ("delivered", 1, 200)
    assert deliver_due(engine, hook_settings) == 0, "delivered once"
    assert endpoint.url == receiver.url


def test_an_endpoint_added_later_gets_only_newer_events(
    engine: Engine, receiver: Receiver, hook_settings: ServiceSettings
) -> None:
    write_events(engine, "old")
    add_endpoint(engine, receiver.url)
    write_events(engine, "new")
    assert deliver_due(engine, hook_settings) == 1
    assert [json.loads(r.body)["order_id"] for r in receiver.received] == ["new"]


def test_a_failing_receiver_is_retried_with_backoff_until_it_recovers(
    engine: Engine, receiver: Receiver, hook_settings: ServiceSettings
) -> None:
    add_endpoint(engine, receiver.url)
    write_events(engine, "ord-1")
    receiver.status = 500
    t0 = datetime.now(UTC)
    assert deliver_due(engine, hook_settings, now=t0) == 0
    [first] = log(engine).values()
    assert (first.status, first.attempts, first.last_status) == ("pending", 1, 500)
    assert t0 <= first.next_attempt_at <= t0 + timedelta(seconds=2), "base 2 s, full jitter"
    if first.next_attempt_at > t0:
        deliver_due(engine, hook_settings, now=first.next_attempt_at - timedelta(microseconds=1))
        assert len(receiver.received) == 1, "not retried before its time"
    receiver.down()
    t1 = first.next_attempt_at
    assert deliver_due(engine, hook_settings, now=t1) == 0
    [second] = log(engine).values()
    assert second.attempts == 2 and second.last_status is None
    assert "ConnectError" in (second.last_error or "")
    assert t1 <= second.next_attempt_at <= t1 + timedelta(seconds=4), "doubled"
    receiver.status = 200
    receiver.up()
    assert deliver_due(engine, hook_settings, now=second.next_attempt_at) == 1
    [done] = log(engine).values()
    assert (done.status, done.attempts, done.last_status) == ("delivered", 3, 200)
    assert len(receiver.received) == 2, "the 500 and the success reached it"


def test_the_delay_is_capped(engine: Engine, receiver: Receiver) -> None:
    settings = ServiceSettings(webhook_backoff_max_seconds=10, webhook_timeout_seconds=2)
    add_endpoint(engine, receiver.url)
    write_events(engine, "ord-1")
    receiver.status = 503
    now = datetime.now(UTC)
    for _ in range(8):
        deliver_due(engine, settings, now=now)
        [row] = log(engine).values()
        assert row.next_attempt_at - now <= timedelta(seconds=10)
        now = row.next_attempt_at
    assert row.attempts == 8


def test_after_the_horizon_a_delivery_fails_and_retry_delivers_it(
    engine: Engine, receiver: Receiver, hook_settings: ServiceSettings
) -> None:
    add_endpoint(engine, receiver.url)
    write_events(engine, "ord-1")
    receiver.status = 500
    t0 = datetime.now(UTC)
    deliver_due(engine, hook_settings, now=t0)
    deliver_due(engine, hook_settings, now=t0 + 2 * DAY)
    assert next(iter(log(engine).values())).status == "pending", "still within 3 days"
    deliver_due(engine, hook_settings, now=t0 + 3 * DAY + timedelta(hours=1))
    [failed] = log(engine).values()
    assert (failed.status, failed.attempts) == ("failed", 3)
    assert deliver_due(engine, hook_settings, now=t0 + 4 * DAY) == 0, "failed is not retried"
    assert len(receiver.received) == 3
    receiver.status = 200
    retry(engine, hook_settings, failed.id, now=t0 + 4 * DAY)
    assert deliver_due(engine, hook_settings, now=t0 + 4 * DAY) == 1
    assert next(iter(log(engine).values())).status == "delivered"


def test_rotation_signs_with_both_secrets_during_the_grace_only(
    engine: Engine, receiver: Receiver, hook_settings: ServiceSettings
) -> None:
    endpoint, old = add_endpoint(engine, receiver.url)
    _, new = rotate_secret(engine, hook_settings, endpoint.id)
    write_events(engine, "during")
    now = datetime.now(UTC)
    deliver_due(engine, hook_settings, now=now)
    later = now + timedelta(seconds=hook_settings.webhook_secret_grace_seconds + 1)
    write_events(engine, "after")
    deliver_due(engine, hook_settings, now=later)
    during, after = receiver.received
    for secret in (old, new):
        verify_signature(
            during.body, during.headers["OrderShield-Signature"], secret, now=now.timestamp()
        )
    header = after.headers["OrderShield-Signature"]
    verify_signature(after.body, header, new, now=later.timestamp())
    with pytest.raises(SignatureError):
        verify_signature(after.body, header, old, now=later.timestamp())


def test_a_failed_event_holds_back_later_events_of_its_order_only(
    engine: Engine, receiver: Receiver, hook_settings: ServiceSettings
) -> None:
    add_endpoint(engine, receiver.url)
    write_events(engine, "A", "A", "B")  # events 1, 2 (order A) and 3 (order B)
    receiver.failing = {"evt_1"}
    t0 = datetime.now(UTC)
    assert deliver_due(engine, hook_settings, now=t0) == 1
    assert receiver.event_ids() == ["evt_1", "evt_3"]
    deliver_due(engine, hook_settings, now=t0 + 4 * DAY)
    rows = log(engine)
    assert (rows[1].status, rows[2].status, rows[2].attempts) == ("failed", "pending", 0)
    assert rows[2].blocked
    deliver_due(engine, hook_settings, now=t0 + 5 * DAY)
    assert receiver.event_ids() == ["evt_1", "evt_3", "evt_1"], "nothing passes a failed event"
    receiver.failing = set()
    retry(engine, hook_settings, rows[1].id, now=t0 + 5 * DAY)
    assert deliver_due(engine, hook_settings, now=t0 + 5 * DAY) == 2
    assert receiver.event_ids()[-2:] == ["evt_1", "evt_2"], "in order"


def test_two_drainers_deliver_each_event_exactly_once(
    db_url: str, engine: Engine, receiver: Receiver, hook_settings: ServiceSettings
) -> None:
    add_endpoint(engine, receiver.url)
    write_events(engine, *(f"ord-{n}" for n in range(60)))
    receiver.delay = 0.005
    engines = [make_engine(db_url) for _ in range(2)]
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def drain(own: Engine) -> None:
        try:
            start.wait()
            for _ in range(50):
                deliver_due(own, hook_settings)
                if all(d.status == "delivered" for d in list_deliveries(own)):
                    return
        except BaseException as error:  # reported by the test thread
            errors.append(error)

    threads = [threading.Thread(target=drain, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for own in engines:
        own.dispose()
    assert errors == []
    ids = receiver.event_ids()
    assert sorted(ids) == sorted(f"evt_{n}" for n in range(1, 61)), "each once"
    assert {d.attempts for d in list_deliveries(engine)} == {1}


def test_a_crash_before_delivery_loses_no_event(
    db_url: str, receiver: Receiver, hook_settings: ServiceSettings, engine: Engine
) -> None:
    add_endpoint(engine, receiver.url)
    scoring = make_engine(db_url)  # the process that decides, then dies before any drain
    save_decision(scoring, sample_decision("ord-crash"), open_case=True)
    scoring.dispose()
    now = datetime.now(UTC)
    drainer = make_engine(db_url)
    try:
        # A drainer that leases and dies before posting: its lease runs out.
        assert fan_out(drainer, now, now + DAY) == 2
        leased = lease_due(drainer, "dead", now, now + timedelta(minutes=5), limit=10)
        assert [d.kind for d in leased] == ["decision.created"]
        assert deliver_due(drainer, hook_settings, now=now) == 0, "leased by the dead drainer"
        assert deliver_due(drainer, hook_settings, now=now + timedelta(minutes=6)) == 2
    finally:
        drainer.dispose()
    kinds = [json.loads(r.body)["type"] for r in receiver.received]
    assert kinds == ["decision.created", "stock.frozen"]
