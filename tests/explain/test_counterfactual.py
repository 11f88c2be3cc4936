"""Counterfactuals: they cross the cut, are minimal on the model's grid, and read plainly."""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pytest

from explain.counterfactual import Counterfactual, candidate_values, find_counterfactual
from explain.reasons import describe
from features.catalog import current

COUNTS = ("device_orders_1h", "payment_declines_1h", "address_orders_24h", "ip_is_hosting")
CONTINUOUS = ("amount", "account_age_days", "device_age_hours", "ip_hosting_share_7d")
NAMES = (*COUNTS, *CONTINUOUS)
CUT = 0.5
FIXED = ("device_orders_1h",)

Result = tuple[np.ndarray, tuple[str, ...], Counterfactual | None]


@dataclass(frozen=True)
class Model:
    """A small booster, its training matrix, and the rows it scores at or above the cut."""

    booster: lgb.Booster
    matrix: np.ndarray
    risky: np.ndarray


def probability(booster: lgb.Booster, matrix: np.ndarray) -> np.ndarray:
    """Score rows independently of the module under test."""
    raw = np.asarray(booster.predict(matrix, raw_score=True), dtype=float)
    return np.asarray(1.0 / (1.0 + np.exp(-raw)))


@pytest.fixture(scope="module")
def model() -> Model:
    rng = np.random.default_rng(7)
    n = 2000
    columns = {
        "device_orders_1h": rng.poisson(1.5, n),
        "payment_declines_1h": rng.poisson(0.5, n),
        "address_orders_24h": rng.poisson(2.0, n),
        "ip_is_hosting": (rng.random(n) < 0.2).astype(float),
        "amount": rng.lognormal(4.0, 1.0, n),
        "account_age_days": rng.exponential(200.0, n),
        "device_age_hours": np.where(rng.random(n) < 0.15, np.nan, rng.exponential(500.0, n)),
        "ip_hosting_share_7d": rng.beta(1.0, 4.0, n),
    }
    matrix = np.column_stack([np.asarray(columns[name], dtype=float) for name in NAMES])
    c = columns
    logit = (
        -3.5
        + 0.6 * np.minimum(c["device_orders_1h"], 3)
        + 1.2 * np.minimum(c["payment_declines_1h"], 1)
        + 0.4 * np.minimum(c["address_orders_24h"], 4)
        + 1.2 * c["ip_is_hosting"]
        + 0.4 * np.clip(np.log(c["amount"] / 50.0), -1.0, 2.0)
        - 1.2 * np.minimum(c["account_age_days"] / 300.0, 1.0)
        + 1.0 * np.isnan(c["device_age_hours"])
        + 2.0 * c["ip_hosting_share_7d"]
    )
    labels = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(int)
    params = {
        "objective": "binary",
        "num_leaves": 15,
        "min_data_in_leaf": 20,
        "learning_rate": 0.2,
        "verbose": -1,
        "seed": 7,
        "deterministic": True,
    }
    booster = lgb.train(
        params, lgb.Dataset(matrix, labels, feature_name=list(NAMES)), num_boost_round=30
    )
    scores = probability(booster, matrix)
    above = np.flatnonzero(scores >= CUT)
    above = above[np.argsort(scores[above])]
    spread = np.linspace(0, len(above) - 41, 30).astype(int)
    risky = matrix[np.concatenate([above[spread], above[-40:]])]
    return Model(booster, matrix, risky)


def thresholds(booster: lgb.Booster) -> dict[str, np.ndarray]:
    """Read every feature's distinct finite split thresholds from the tree table."""
    table = booster.trees_to_dataframe()
    splits = table[table["split_feature"].notna()]
    return {
        name: np.unique(t[np.abs(t) < 1e300])
        for name in NAMES
        for t in [splits.loc[splits["split_feature"] == name, "threshold"].to_numpy(float)]
    }


@dataclass(frozen=True)
class Crossing:
    """A one-feature change, old and new value (NaN is missing)."""

    feature: str
    old: float
    new: float

    def distance(self, grids: dict[str, np.ndarray]) -> float:
        """Count the thresholds between the values; to or from missing costs 1 + half of them."""
        grid = grids[self.feature]
        if math.isnan(self.old) != math.isnan(self.new):
            return 1.0 + len(grid) / 2
        low, high = min(self.old, self.new), max(self.old, self.new)
        return float(np.count_nonzero((grid >= low) & (grid < high)))

    @property
    def step(self) -> float:
        """Return the absolute change."""
        return abs(self.new - self.old)


def number(value: float | None) -> float:
    """Return a change's value as the model reads it: None is NaN."""
    return math.nan if value is None else value


def applied(row: np.ndarray, found: Counterfactual) -> np.ndarray:
    """Return the row with the counterfactual's changes made."""
    changed = row.copy()
    for change in found.changes:
        changed[NAMES.index(change.feature)] = number(change.becomes)
    return changed


def single_crossings(model: Model, row: np.ndarray, fixed: tuple[str, ...]) -> list[Crossing]:
    """Brute force: every one-feature change to a training value that crosses the cut.

    Missing is a value to move away from, never one to move to.
    """
    found: list[Crossing] = []
    for j, name in enumerate(NAMES):
        if name in fixed:
            continue
        column = model.matrix[:, j]
        values = np.unique(column[~np.isnan(column)])
        batch = np.repeat(row[None, :], len(values), axis=0)
        batch[:, j] = values
        scores = probability(model.booster, batch)
        found.extend(
            Crossing(name, float(row[j]), float(v))
            for v, s in zip(values, scores, strict=True)
            if s < CUT
        )
    return found


def pair_distances(
    model: Model, row: np.ndarray, fixed: tuple[str, ...], grids: dict[str, np.ndarray]
) -> list[float]:
    """Brute force on a coarse grid: the distances of the crossing pairs of raising features."""
    contributions = np.asarray(model.booster.predict(row[None, :], pred_contrib=True))[0, :-1]
    pool = [j for j in np.argsort(-contributions) if contributions[j] > 0 and NAMES[j] not in fixed]
    found: list[float] = []
    for a, b in itertools.combinations(pool[:8], 2):
        grid_a, grid_b = coarse(model.matrix[:, a]), coarse(model.matrix[:, b])
        grid_a, grid_b = grid_a[~np.isnan(grid_a)], grid_b[~np.isnan(grid_b)]
        va, vb = (g.ravel() for g in np.meshgrid(grid_a, grid_b, indexing="ij"))
        batch = np.repeat(row[None, :], len(va), axis=0)
        batch[:, a], batch[:, b] = va, vb
        scores = probability(model.booster, batch)
        found.extend(
            Crossing(NAMES[a], row[a], x).distance(grids)
            + Crossing(NAMES[b], row[b], y).distance(grids)
            for x, y in zip(va[scores < CUT], vb[scores < CUT], strict=True)
        )
    return found


def coarse(column: np.ndarray) -> np.ndarray:
    """Return about 25 of a column's values, spread over its range, and NaN."""
    known = column[~np.isnan(column)]
    return np.append(np.unique(np.quantile(known, np.linspace(0, 1, 25), method="nearest")), np.nan)


@pytest.fixture(scope="module")
def results(model: Model) -> list[Result]:
    """Search every risky row, fixing a feature on every other one."""
    found: list[Result] = []
    for i, row in enumerate(model.risky):
        fixed = FIXED if i % 2 else ()
        found.append((row, fixed, find_counterfactual(model.booster, NAMES, row, CUT, fixed=fixed)))
    return found


def test_a_known_value_is_never_suggested_as_missing(results: list[Result]) -> None:
    changes = [c for _, _, r in results if r is not None for c in r.changes]
    assert len(changes) >= 20
    assert all(c.becomes is not None for c in changes if c.was is not None)


def test_counterfactuals_cross_the_cut(model: Model, results: list[Result]) -> None:
    assert len(model.risky) >= 20
    found = [(row, fixed, r) for row, fixed, r in results if r is not None]
    assert len(found) >= 20
    for row, fixed, result in found:
        score = probability(model.booster, applied(row, result)[None, :])[0]
        assert score < CUT
        assert result.score == pytest.approx(score, abs=1e-12)
        assert result.cut == CUT
        assert 1 <= len(result.changes) <= 2
        assert len({c.feature for c in result.changes}) == len(result.changes)
        for change in result.changes:
            assert change.feature not in fixed
            was = row[NAMES.index(change.feature)]
            assert change.was == (None if math.isnan(was) else was)
            assert change.was != change.becomes


def test_changes_are_the_smallest_and_two_only_when_needed(
    model: Model, results: list[Result]
) -> None:
    grids = thresholds(model.booster)
    sizes = {1: 0, 2: 0}
    for row, fixed, result in results:
        if result is None:
            continue
        sizes[len(result.changes)] += 1
        crossings = single_crossings(model, row, fixed)
        if len(result.changes) == 2:
            assert crossings == []
            pair = sum(
                Crossing(c.feature, number(c.was), number(c.becomes)).distance(grids)
                for c in result.changes
            )
            assert pair <= min(pair_distances(model, row, fixed, grids))
            continue
        (change,) = result.changes
        ours = Crossing(change.feature, number(change.was), number(change.becomes))
        ours_distance = ours.distance(grids)
        distances = [c.distance(grids) for c in crossings]
        assert ours_distance <= min(distances)
        if math.isnan(ours.old) or math.isnan(ours.new):
            continue
        for other, other_distance in zip(crossings, distances, strict=True):
            if other_distance == ours_distance and not math.isnan(other.new):
                assert ours.step <= other.step
    assert sizes[1] >= 20
    assert sizes[2] >= 5


def test_pairs_come_from_the_features_that_raised_the_score(
    model: Model, results: list[Result]
) -> None:
    found = 0
    for row, fixed, result in results:
        if result is None or len(result.changes) < 2:
            continue
        contributions = np.asarray(model.booster.predict(row[None, :], pred_contrib=True))[0, :-1]
        raising = [
            NAMES[j]
            for j in np.argsort(-contributions)
            if contributions[j] > 0 and NAMES[j] not in fixed
        ]
        narrow = find_counterfactual(model.booster, NAMES, row, CUT, fixed=fixed, pair_pool=3)
        if narrow is not None:
            found += 1
            assert {c.feature for c in narrow.changes} <= set(raising[:3])
            assert narrow.score < CUT
    assert found


def test_count_features_get_whole_numbers(model: Model, results: list[Result]) -> None:
    changes = [
        c
        for row, _, r in results
        if r is not None
        for c in r.changes
        if c.feature in COUNTS and c.was is not None and c.becomes is not None
    ]
    assert changes
    for change in changes:
        assert change.becomes is not None and change.becomes.is_integer()
    j = NAMES.index("device_orders_1h")
    assert not all(v.is_integer() for v in candidate_values(model.booster, j)[:-1])


def test_candidate_values_are_the_split_points_and_missing(model: Model) -> None:
    grids = thresholds(model.booster)
    for j, name in enumerate(NAMES):
        values = candidate_values(model.booster, j)
        assert math.isnan(values[-1])
        expected = np.unique(np.concatenate([grids[name], np.nextafter(grids[name], np.inf)]))
        np.testing.assert_array_equal(values[:-1], expected)


def test_no_counterfactual_when_below_or_out_of_reach(model: Model) -> None:
    safe = model.matrix[probability(model.booster, model.matrix) < CUT][0]
    assert find_counterfactual(model.booster, NAMES, safe, CUT) is None
    risky = model.risky[0]
    assert find_counterfactual(model.booster, NAMES, risky, CUT, max_changes=0) is None
    assert find_counterfactual(model.booster, NAMES, risky, CUT, fixed=NAMES) is None
    assert find_counterfactual(model.booster, NAMES, risky, 1e-9) is None


def test_text_names_the_changes_and_the_new_score(results: list[Result]) -> None:
    texts = 0
    for _, _, result in results:
        if result is None:
            continue
        texts += 1
        for change in result.changes:
            assert change.feature in current().by_name
            assert describe(change.feature, number(change.becomes)) in result.text
            assert describe(change.feature, number(change.was)) in result.text
        match = re.search(r"would have been (\d\.\d+), below the cut point 0\.5\.$", result.text)
        assert match is not None
        assert float(match.group(1)) == pytest.approx(result.score, abs=0.005)
        assert float(match.group(1)) < CUT
    assert texts
