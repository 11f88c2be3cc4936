"""Exact TreeSHAP from path tables equals LightGBM's pred_contrib on every value.

Each model is compared on thousands of rows with the tables (the default), with
some leaves integrated instead (a narrow table width), and with every leaf
integrated (width 0), so that each way of computing a leaf is held to 1e-9.
"""

from __future__ import annotations

import gc
import threading
import weakref
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest

from explain.contributions import explain, explainer
from explain.trees import nodes
from explain.treeshap import TreeShap
from models.registry import CHALLENGER, load_scorer
from tests.trained import Trained
from training.dataset import training_frame

ROWS = 3000
BASE = {"objective": "binary", "verbose": -1, "num_threads": 1, "seed": 3, "deterministic": True}


def assert_exact(booster: lgb.Booster, matrix: np.ndarray) -> None:
    """Assert every contribution and the base value equal pred_contrib's within 1e-9."""
    expected = np.asarray(booster.predict(matrix, pred_contrib=True, num_threads=1))
    ours = explain(booster, matrix)
    np.testing.assert_allclose(ours.values, expected[:, :-1], atol=1e-9, rtol=0)
    np.testing.assert_allclose(ours.base, expected[:, -1], atol=1e-9, rtol=0)
    for width in (3, 0):
        got = TreeShap(booster, max_table_features=width).contributions(matrix)
        np.testing.assert_allclose(got, expected, atol=1e-9, rtol=0)


def train(matrix: np.ndarray, labels: np.ndarray, rounds: int = 60, **params: Any) -> lgb.Booster:
    """Train a small binary booster."""
    dataset = lgb.Dataset(
        matrix, labels, params={"verbose": -1}, categorical_feature=params.pop("categorical", [])
    )
    return lgb.train({**BASE, **params}, dataset, num_boost_round=rounds)


def splits(booster: lgb.Booster) -> list[dict[str, Any]]:
    """Return every split of the booster's dumped trees."""
    roots = [tree["tree_structure"] for tree in booster.dump_model()["tree_info"]]
    return [node for root in roots for node in nodes(root) if "split_feature" in node]


def on_thresholds(booster: lgb.Booster, matrix: np.ndarray, seed: int = 0) -> np.ndarray:
    """Return rows whose values sit exactly on, or one ulp around, the numerical thresholds."""
    rng = np.random.default_rng(seed)
    cuts: dict[int, list[float]] = {}
    for split in splits(booster):
        if split["decision_type"] == "<=":
            cuts.setdefault(split["split_feature"], []).append(float(split["threshold"]))
    rows = matrix[rng.integers(0, len(matrix), ROWS)].copy()
    for feature, values in cuts.items():
        chosen = rng.choice(np.array(values), ROWS)
        nudged = np.nextafter(chosen, rng.choice([-np.inf, np.inf], ROWS))
        picked = np.where(rng.random(ROWS) < 0.7, chosen, nudged)
        rows[:, feature] = np.where(rng.random(ROWS) < 0.6, picked, rows[:, feature])
    return rows


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    """Eight numerical features with NaN, one mostly zero, and a label that uses them."""
    rng = np.random.default_rng(11)
    n = 4000
    matrix = rng.normal(size=(n, 8))
    matrix[rng.random((n, 8)) < 0.15] = np.nan
    matrix[:, 7] = np.where(rng.random(n) < 0.6, 0.0, rng.exponential(2.0, n))
    signal = np.nan_to_num(matrix[:, 0]) + np.where(np.isnan(matrix[:, 1]), 1.5, matrix[:, 1])
    labels = (signal + 0.4 * matrix[:, 7] + rng.normal(scale=0.7, size=n) > 1.0).astype(int)
    return matrix, labels


def test_numerical_features_with_nan(data: tuple[np.ndarray, np.ndarray]) -> None:
    matrix, labels = data
    booster = train(matrix, labels, num_leaves=31, learning_rate=0.1)
    assert {s["missing_type"] for s in splits(booster)} >= {"NaN", "None"}
    assert {s["default_left"] for s in splits(booster)} == {True, False}
    assert_exact(booster, matrix[:ROWS])
    rows = on_thresholds(booster, matrix)
    # The dump clips infinite thresholds to 1e300: values beyond it must still go left.
    assert any(abs(float(s["threshold"])) == 1e300 for s in splits(booster))
    extreme = np.array([np.inf, -np.inf, 1e301, -1e301, 1e300, 2e300, np.finfo(float).max])
    rng = np.random.default_rng(4)
    rows[:, 4] = np.where(rng.random(ROWS) < 0.3, rng.choice(extreme, ROWS), rows[:, 4])
    assert_exact(booster, rows)


def test_zeros_as_missing(data: tuple[np.ndarray, np.ndarray]) -> None:
    matrix, labels = data
    booster = train(matrix, labels, num_leaves=15, zero_as_missing=True)
    assert "Zero" in {s["missing_type"] for s in splits(booster)}
    rows = on_thresholds(booster, matrix, seed=1)
    rng = np.random.default_rng(2)
    # Exact and signed zeros, values LightGBM still reads as zero, and ones it does not.
    tiny = np.array([0.0, -0.0, 1e-36, -1e-36, 1e-35, -1e-35, 1.0000001e-35, 1e-34, np.nan])
    rows[:, 7] = np.where(rng.random(ROWS) < 0.5, rng.choice(tiny, ROWS), rows[:, 7])
    rows[:, 2] = np.where(rng.random(ROWS) < 0.3, rng.choice(tiny, ROWS), rows[:, 2])
    assert_exact(booster, rows)


def test_missing_values_off(data: tuple[np.ndarray, np.ndarray]) -> None:
    matrix, labels = data
    booster = train(np.nan_to_num(matrix), labels, num_leaves=15, use_missing=False)
    assert {s["missing_type"] for s in splits(booster)} == {"None"}
    # NaN at prediction time reads as 0 on every split.
    assert_exact(booster, matrix[:ROWS])
    assert_exact(booster, on_thresholds(booster, matrix, seed=3))


def test_categorical_splits() -> None:
    rng = np.random.default_rng(5)
    n = 4000
    matrix = np.column_stack(
        [
            rng.integers(0, 40, n).astype(float),
            rng.integers(0, 3, n).astype(float),
            rng.normal(size=n),
            rng.normal(size=n),
        ]
    )
    matrix[rng.random(n) < 0.1, 0] = np.nan
    risky = np.isin(matrix[:, 0], [1, 3, 7, 12, 33, 35]) | (matrix[:, 1] == 2)
    labels = (risky + 0.5 * matrix[:, 2] + rng.normal(scale=0.5, size=n) > 0.8).astype(int)
    booster = train(
        matrix, labels, num_leaves=15, categorical=[0, 1], max_cat_to_onehot=2, cat_smooth=1.0
    )
    categorical = [s for s in splits(booster) if s["decision_type"] == "=="]
    assert any("||" in str(s["threshold"]) for s in categorical)
    assert {s["split_feature"] for s in categorical} == {0, 1}
    rows = matrix[rng.integers(0, n, ROWS)].copy()
    # Unseen, negative, fractional (truncated), huge, infinite and missing categories.
    odd = [40, 41, 63, 64, 1000, -1, -3, -0.5, 2.7, 7.999, 32.5, 1e10, 3e9, np.inf, -np.inf, np.nan]
    rows[:, 0] = np.where(rng.random(ROWS) < 0.5, rng.choice(odd, ROWS), rows[:, 0])
    rows[:, 1] = np.where(
        rng.random(ROWS) < 0.3, rng.choice([-1, 2.5, 5, np.nan], ROWS), rows[:, 1]
    )
    assert_exact(booster, rows)


def test_single_leaf_trees(data: tuple[np.ndarray, np.ndarray]) -> None:
    matrix, labels = data
    # No split pays for itself: LightGBM keeps one leaf, the average, and stops there.
    stump = train(matrix, labels, rounds=5, num_leaves=7, min_gain_to_split=1e12)
    assert [tree["num_leaves"] for tree in stump.dump_model()["tree_info"]] == [1]
    assert_exact(stump, matrix[:ROWS])
    dataset = lgb.Dataset(matrix, labels, params={"verbose": -1})
    booster = lgb.train({**BASE, "num_leaves": 7}, dataset, num_boost_round=8, init_model=stump)
    leaves = [tree["num_leaves"] for tree in booster.dump_model()["tree_info"]]
    assert leaves[0] == 1 and min(leaves[1:]) > 1
    assert_exact(booster, matrix[:ROWS])


def test_deep_trees_that_split_a_feature_again() -> None:
    rng = np.random.default_rng(9)
    n = 5000
    matrix = rng.normal(size=(n, 3))
    matrix[rng.random((n, 3)) < 0.05] = np.nan
    labels = (np.sin(3 * np.nan_to_num(matrix[:, 0])) + matrix[:, 1] ** 2 > 0.7).astype(int)
    booster = train(matrix, labels, rounds=40, num_leaves=63, min_data_in_leaf=5)
    depths = [len(path) for path in paths(booster)]
    assert max(depths) > 12
    assert any(len(set(path)) < len(path) for path in paths(booster))
    assert_exact(booster, matrix[:ROWS])


def paths(booster: lgb.Booster) -> list[list[int]]:
    """Return the split features on every root-to-leaf path."""
    found: list[list[int]] = []
    roots = [tree["tree_structure"] for tree in booster.dump_model()["tree_info"]]
    stack: list[tuple[dict[str, Any], list[int]]] = [(root, []) for root in roots]
    while stack:
        node, path = stack.pop()
        if "leaf_value" in node:
            found.append(path)
        else:
            below = [*path, node["split_feature"]]
            stack.extend(((node["left_child"], below), (node["right_child"], below)))
    return found


def test_session_model(trained: Trained) -> None:
    scorer = load_scorer(trained.settings, CHALLENGER)
    matrix = training_frame(trained.settings).matrix
    assert_exact(scorer.booster, matrix[:ROWS])


def test_one_build_per_booster_across_threads(data: tuple[np.ndarray, np.ndarray]) -> None:
    matrix, labels = data
    booster = train(matrix, labels, rounds=30, num_leaves=15)
    expected = np.asarray(booster.predict(matrix[:500], pred_contrib=True))
    start = threading.Barrier(8)
    seen: list[TreeShap] = []
    results: list[np.ndarray] = []

    def work() -> None:
        start.wait()
        seen.append(explainer(booster))
        for _ in range(20):
            results.append(explain(booster, matrix[:500]).values)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(found) for found in seen}) == 1
    assert len(results) == 160
    for values in results:
        np.testing.assert_allclose(values, expected[:, :-1], atol=1e-9, rtol=0)


def test_a_reloaded_booster_gets_new_tables(data: tuple[np.ndarray, np.ndarray]) -> None:
    matrix, labels = data
    booster = train(matrix, labels, rounds=10, num_leaves=7)
    first = explainer(booster)
    assert explainer(booster) is first
    reloaded = lgb.Booster(model_str=booster.model_to_string())
    assert explainer(reloaded) is not first
    gone = weakref.ref(first)
    del booster, first
    gc.collect()
    assert gone() is None


def test_rejects_a_matrix_of_another_width(data: tuple[np.ndarray, np.ndarray]) -> None:
    matrix, labels = data
    booster = train(matrix, labels, rounds=5, num_leaves=7)
    with pytest.raises(ValueError, match="8 feature columns"):
        explain(booster, matrix[:, :5])
