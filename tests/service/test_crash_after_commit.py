"""A process killed between a decision's commit and its feature update: applied once later."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from features.aggregates import AGGREGATES
from features.online import OnlineFeatures, event_id
from features.spec import DEVICE, Stream
from features.state import evaluate
from features.store import open_store
from service.persistence import due_feature_updates, make_engine
from service.settings import ServiceSettings
from tests.service.clients import api_client
from tests.service.conftest import prepared_settings
from training.sources.payloads import order_payload

DEVICE_ORDERS = next(f for f in AGGREGATES if f.name == "device_orders_30d")
# Scores one order in a process whose feature update kills it: after the decision's commit.
KILLED_AFTER_COMMIT = """
import json, os, signal, sys
from features.online import OrderFeatures
OrderFeatures.record = lambda self: os.kill(os.getpid(), signal.SIGKILL)
from service.settings import ServiceSettings
from tests.service.clients import api_client
with api_client(ServiceSettings(data_dir=sys.argv[1])) as client:
    client.post("/v1/orders/score", json=json.loads(sys.argv[2]))
"""


def _count(settings: ServiceSettings, payload: dict[str, Any]) -> float:
    """Return the order's device count as read just after the order."""
    online = OnlineFeatures(open_store(settings), settings)
    device = payload["device"]["fingerprint"]
    state = online.read_states({DEVICE: device}).states[DEVICE]
    return evaluate(state, DEVICE_ORDERS, _ms(payload) + 1)


def _applied(settings: ServiceSettings, payload: dict[str, Any]) -> bool:
    online = OnlineFeatures(open_store(settings), settings)
    return online.applied([event_id(payload["order_id"], Stream.ORDERS, _ms(payload))])[0]


def _drained(engine: Engine, seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while due_feature_updates(engine) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not due_feature_updates(engine)


def test_a_kill_after_the_commit_is_applied_once_after_the_restart(
    tmp_path: Path, stream: pd.DataFrame
) -> None:
    settings = prepared_settings(tmp_path / "data", stream.iloc[:100])
    settings = settings.model_copy(update={"outbox_retry_seconds": 0.2})
    killed, normal = (order_payload(stream.iloc[i]) for i in (150, 151))
    normal["device"] = killed["device"]
    before = _count(settings, killed)
    child = subprocess.run(
        [sys.executable, "-c", KILLED_AFTER_COMMIT, str(settings.data_dir), json.dumps(killed)],
        capture_output=True,
        timeout=120,
        env={"PYTHONPATH": str(Path.cwd()), "PATH": "/usr/bin:/bin"},
    )
    assert child.returncode == -9, child.stderr.decode()[-2000:]
    engine = make_engine(settings.db_url)
    owed = [p["order_id"] for _, p in due_feature_updates(engine)]
    assert owed == [killed["order_id"]], "the decision did not commit with its owed update"
    assert not _applied(settings, killed) and _count(settings, killed) == before

    with api_client(settings) as client:
        assert _drained(engine), "the owed update was not applied after the restart"
        assert _count(settings, killed) == before + 1
        # The same order again is the stored decision: nothing more to count.
        assert client.post("/v1/orders/score", json=killed).status_code == 200
        # An order whose own write landed: the drainer finds it applied and adds nothing.
        assert client.post("/v1/orders/score", json=normal).status_code == 200
        assert _drained(engine)
        time.sleep(0.5)
    latest = normal if _ms(normal) > _ms(killed) else killed
    assert _count(settings, latest) == before + 2
    engine.dispose()


def _ms(payload: dict[str, Any]) -> int:
    return int(pd.Timestamp(payload["created_at"]).value // 1_000_000)
