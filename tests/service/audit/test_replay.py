"""Replay of stored decisions on their archived models, and counterfactuals checked on them.

Two model versions are registered in one MLflow store, each serves some orders
through the real scoring path, and every stored decision is then replayed on
the version that made it.
"""

from __future__ import annotations

import dataclasses
import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from features.build import build_offline_sources
from features.store import apply, materialize
from models.registry import load_version
from models.scorer import Thresholds
from service.audit.replay import counterfactual, replay, stored_row
from service.persistence import DecisionRecord, decision_by_order, make_engine
from service.persistence.chain import dump_json
from service.settings import ServiceSettings
from tests.service.clients import api_client
from tests.tiny_model import tiny_champion
from training.sources.payloads import order_payload

# The tiny models score by the accounts a device was used by: the orders of each version
# share one device, so their scores climb from low to high (and to critical on the second).
FIRST = Thresholds(0.1, 0.5, 0.95)
SECOND = Thresholds(0.1, 0.3, 0.8)


@dataclasses.dataclass(frozen=True)
class Served:
    """The settings of the store, and the order ids each model version decided."""

    settings: ServiceSettings
    by_version: dict[str, list[str]]


def score(client: TestClient, row: pd.Series, order_id: str, device: str) -> dict[str, Any]:
    order = order_payload(row)
    order.pop("created_at")
    order["order_id"] = order_id
    order["customer"] = {**order["customer"], "id": f"cus-{order_id}"}
    order["device"] = {"fingerprint": device, "user_agent": "Mozilla/5.0 replay"}
    answer = client.post("/v1/orders/score", json=order)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, stream: pd.DataFrame) -> Served:
    settings = ServiceSettings(data_dir=Path(tmp_path_factory.mktemp("replay")))
    build_offline_sources(stream.iloc[:200], settings)
    apply(settings)
    materialize(settings)
    by_version: dict[str, list[str]] = {}
    first = tiny_champion(settings, FIRST, seed=0)
    with api_client(settings) as client:
        for n in range(8):
            decided = score(client, stream.iloc[300 + n], f"rp-a-{n}", "dev-rp-a")
            by_version.setdefault(decided["model"]["version"], []).append(decided["order_id"])
        second = tiny_champion(settings, SECOND, seed=1)
        reloaded = client.post("/v1/admin/model/reload")
        assert reloaded.status_code == 200 and reloaded.json()["version"] == second
        for n in range(8):
            decided = score(client, stream.iloc[320 + n], f"rp-b-{n}", "dev-rp-b")
            by_version.setdefault(decided["model"]["version"], []).append(decided["order_id"])
    assert set(by_version) == {first, second} and first != second
    return Served(settings, by_version)


@pytest.fixture(scope="module")
def engine(served: Served) -> Iterator[Engine]:
    engine = make_engine(served.settings.db_url)
    yield engine
    engine.dispose()


def records(served: Served, engine: Engine) -> list[DecisionRecord]:
    found = [
        decision_by_order(engine, order_id)
        for order_ids in served.by_version.values()
        for order_id in order_ids
    ]
    assert all(record is not None for record in found)
    return [record for record in found if record is not None]


def test_every_stored_decision_of_two_versions_reproduces_exactly(
    served: Served, engine: Engine
) -> None:
    replayed = [replay(served.settings, record) for record in records(served, engine)]
    assert {r.model_version for r in replayed} == set(served.by_version)
    assert len(replayed) == 16
    for result in replayed:
        assert result.exact, (result.order_id, result.differing)
        assert [q.name for q in result.quantities] == ["raw score", "score", "tier", "base value"]
        assert all(q.exact and q.difference is None for q in result.quantities)
        assert len(result.shap) > 10 and all(q.exact for q in result.shap)


def test_the_two_versions_really_differ(served: Served, engine: Engine) -> None:
    # Replaying on the serving model instead of the archived one would be caught here.
    record = records(served, engine)[0]
    first, second = sorted(served.by_version)
    models = {v: load_version(served.settings, v) for v in (first, second)}
    row = stored_row(record, list(models[first].card.features))
    scores = {v: float(m.score(row)[0]) for v, m in models.items()}
    assert scores[first] != scores[second]


def altered_copy(served: Served, tmp_path: Path, order_id: str, changes: dict[str, Any]) -> Engine:
    """Copy the database and change one stored feature vector in the copy, by SQL."""
    source = served.settings.db_url.removeprefix("sqlite:///")
    copy = tmp_path / "copy.db"
    with sqlite3.connect(source) as live, sqlite3.connect(copy) as target:
        live.backup(target)
    altered = make_engine(f"sqlite:///{copy}")
    original = decision_by_order(altered, order_id)
    assert original is not None
    features = {**original.features, **changes}
    with altered.begin() as connection:
        updated = connection.execute(
            text("UPDATE decisions SET features = :features WHERE order_id = :order_id"),
            {"features": dump_json(features), "order_id": order_id},
        )
        assert updated.rowcount == 1
    return altered


def test_an_altered_stored_feature_is_reported_as_a_difference(
    served: Served, engine: Engine, tmp_path: Path
) -> None:
    record = records(served, engine)[0]
    scorer = load_version(served.settings, record.model_version)
    names = list(scorer.card.features)
    row = stored_row(record, names)
    # The feature that mattered most, moved to whichever extreme changes the model's output.
    top = max(record.shap_values, key=lambda name: abs(record.shap_values[name]))
    column = names.index(top)
    for extreme in (-1e6, 1e6):
        moved = row.copy()
        moved[0, column] = extreme
        if float(scorer.score(moved)[0]) != float(scorer.score(row)[0]):
            break
    else:
        pytest.fail(f"no value of {top} changes the score")
    altered = altered_copy(served, tmp_path, record.order_id, {top: extreme})
    try:
        changed = decision_by_order(altered, record.order_id)
        assert changed is not None and changed.features[top] == extreme
        result = replay(served.settings, changed)
    finally:
        altered.dispose()
    assert not result.exact
    differing = {q.name: q for q in result.differing}
    assert "score" in differing and "raw score" in differing
    assert differing["score"].difference == differing["score"].replayed - record.score  # type: ignore[operator]
    assert top in differing, "the altered feature's own SHAP value moved"
    assert replay(served.settings, record).exact, "the original still reproduces"


def test_a_stored_value_off_by_one_ulp_is_not_exact(served: Served, engine: Engine) -> None:
    record = records(served, engine)[0]
    nudged = dataclasses.replace(record, score=math.nextafter(record.score, 1.0))
    result = replay(served.settings, nudged)
    assert not result.exact
    [score] = result.differing
    assert score.name == "score" and score.difference != 0.0


def test_counterfactuals_of_frozen_orders_score_below_the_high_cut(
    served: Served, engine: Engine
) -> None:
    frozen = [r for r in records(served, engine) if r.tier in ("high", "critical")]
    assert {r.model_version for r in frozen} == set(served.by_version)
    assert {r.tier for r in frozen} == {"high", "critical"}
    found = 0
    for record in frozen:
        outcome = counterfactual(served.settings, record)
        assert outcome.cut == record.thresholds["high"]
        if outcome.counterfactual is None:
            continue
        found += 1
        # Scored again here, on the archived model, independently of the module.
        scorer = load_version(served.settings, record.model_version)
        names = list(scorer.card.features)
        row = stored_row(record, names)
        assert float(scorer.score(row)[0]) >= outcome.cut, "it was frozen to begin with"
        for change in outcome.counterfactual.changes:
            assert change.was == record.features[change.feature] or (
                change.was is None and record.features[change.feature] is None
            )
            row[0, names.index(change.feature)] = (
                np.nan if change.becomes is None else change.becomes
            )
        raw = float(np.asarray(scorer.booster.predict(row, raw_score=True))[0])
        assert 1.0 / (1.0 + math.exp(-raw)) < outcome.cut
        assert outcome.checked_score is not None and outcome.checked_score < outcome.cut
        assert "below the cut point" in outcome.note
    assert found == len(frozen)


def test_a_fixed_feature_is_never_changed(served: Served, engine: Engine) -> None:
    record = next(r for r in records(served, engine) if r.tier in ("high", "critical"))
    free = counterfactual(served.settings, record)
    assert free.counterfactual is not None
    used = {change.feature for change in free.counterfactual.changes}
    held = counterfactual(served.settings, record, fixed=used)
    assert held.counterfactual is not None, "another way below the cut exists"
    assert not used & {change.feature for change in held.counterfactual.changes}


def test_an_approved_order_has_nothing_to_undo(served: Served, engine: Engine) -> None:
    record = dataclasses.replace(records(served, engine)[0], tier="low", action="approve")
    outcome = counterfactual(served.settings, record)
    assert outcome.counterfactual is None and "nothing to undo" in outcome.note
