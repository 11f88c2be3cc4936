"""Counterfactuals: the smallest change of one or two features that brings a score below a cut.

The search runs on the booster itself. A tree sends a value x left when x <= t, so
the model's output, as one feature moves with the others held, can only change at
that feature's split thresholds: between two neighbouring thresholds (and for the
missing value) it is constant. Trying one value of every such interval is
therefore an exact search of all single-feature changes, and of all pairs among
the features considered.

A change is measured on the model's own grid: the number of a feature's distinct
thresholds lying between the old and the new value. A change from missing (a
device never seen, say, becoming a known one) costs one more than half of the
feature's thresholds; a known value never becomes missing, since "had we known
less" is no answer to give a customer. Ties go to the smaller absolute change
(from missing, to the value nearest zero), then to the lower score.

Pairs are only scored where they can cross: the trees that split on one feature of
the pair but not the other add up exactly from the single changes, and the trees
that split on both are bounded by the lowest leaf the pair can reach.
"""

from __future__ import annotations

import itertools
import math
import weakref
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np

from explain.reasons import describe
from explain.trees import Trees, lowest_leaf, nodes
from features.catalog import current
from models.scorer import Scorer

# LightGBM writes infinite thresholds (splits that only separate missing values) as +-1e300.
_INFINITE = 1e300
# Slack for sums of leaf values that LightGBM adds in another order.
_SLACK = 1e-9
_FIRST_BATCH = 2048
_LARGEST_BATCH = 65536


@dataclass(frozen=True)
class Change:
    """One feature's value before and after the change; None is missing."""

    feature: str
    was: float | None
    becomes: float | None


@dataclass(frozen=True)
class Counterfactual:
    """The changes, the score they lead to, the cut it falls below, and a sentence."""

    changes: tuple[Change, ...]
    score: float
    cut: float
    text: str


@dataclass(frozen=True)
class _FeatureGrid:
    """One feature's distinct finite split thresholds, and whether a split reads 0 as missing."""

    thresholds: np.ndarray
    zero_is_missing: bool

    @property
    def missing_cost(self) -> float:
        """Return the distance of a change to or from missing."""
        return 1.0 + len(self.thresholds) / 2


@dataclass(frozen=True)
class _Options:
    """The values one feature can change to, one per interval, with their distances."""

    values: np.ndarray
    costs: np.ndarray
    deltas: np.ndarray


class CounterfactualSearch:
    """The split grid of one booster, read once, and the single and pair searches on it."""

    def __init__(self, booster: lgb.Booster) -> None:
        self.booster = booster
        count = booster.num_feature()
        roots = [tree["tree_structure"] for tree in booster.dump_model()["tree_info"]]
        self.trees = Trees(roots, count)
        found: list[set[float]] = [set() for _ in range(count)]
        zero_missing = [False] * count
        categorical: set[int] = set()
        for root in roots:
            for split in (n for n in nodes(root) if "split_feature" in n):
                feature = int(split["split_feature"])
                if split["decision_type"] != "<=":
                    categorical.add(feature)
                    continue
                found[feature].add(float(split["threshold"]))
                zero_missing[feature] |= split["missing_type"] == "Zero"
        self.grids = [
            _FeatureGrid(
                np.array(sorted(t for t in thresholds if abs(t) < _INFINITE), dtype=float),
                zero_is_missing,
            )
            for thresholds, zero_is_missing in zip(found, zero_missing, strict=True)
        ]
        self.used = frozenset(
            j for j, thresholds in enumerate(found) if thresholds and j not in categorical
        )

    def candidate_values(self, feature_index: int) -> np.ndarray:
        """Return the values where the output can change: t and the next double up, and NaN."""
        grid = self.grids[feature_index]
        extra = [0.0] if grid.zero_is_missing else []
        values = np.unique(
            np.concatenate([grid.thresholds, np.nextafter(grid.thresholds, np.inf), extra])
        )
        return np.append(values, np.nan)

    def options(self, feature_index: int, value: float) -> _Options:
        """Return the nearest value of every other interval of one feature, and their costs."""
        grid = self.grids[feature_index]
        thresholds = grid.thresholds
        if _is_count(value, thresholds):
            points = np.unique(np.concatenate([np.floor(thresholds), np.floor(thresholds) + 1]))
        else:
            points = self.candidate_values(feature_index)[:-1]
        points = np.union1d(points, [0.0])  # from missing, the value nearest zero of its interval
        interval = np.searchsorted(thresholds, points, side="left")
        if math.isnan(value):
            costs = np.full(len(points), grid.missing_cost)
            deltas = np.abs(points)
        else:
            costs = np.abs(interval - np.searchsorted(thresholds, value, side="left")).astype(float)
            deltas = np.abs(points - value)
        order = np.lexsort((deltas, interval))
        _, first = np.unique(interval[order], return_index=True)
        keep = order[first]
        keep = keep[(costs[keep] > 0) | math.isnan(value)]
        values, costs, deltas = points[keep], costs[keep], deltas[keep]
        if grid.zero_is_missing and value != 0.0:
            values = np.append(values, 0.0)
            costs = np.append(costs, grid.missing_cost)
            deltas = np.append(deltas, abs(value) if not math.isnan(value) else 0.0)
        return _Options(values, costs, deltas)

    def raw(self, matrix: np.ndarray) -> np.ndarray:
        """Return the log-odds scores of a batch of rows."""
        return np.asarray(self.booster.predict(matrix, raw_score=True), dtype=float)

    def scores(self, matrix: np.ndarray) -> np.ndarray:
        """Return the fraud probabilities of a batch of rows."""
        return Scorer.probability(self.raw(matrix))

    def best_single(
        self, names: Sequence[str], row: np.ndarray, cut: float, options: dict[int, _Options]
    ) -> Counterfactual | None:
        """Return the best single-feature change that crosses the cut, if any."""
        if not options:
            return None
        columns = np.concatenate([np.full(len(o.values), j) for j, o in options.items()])
        values = np.concatenate([o.values for o in options.values()])
        costs = np.concatenate([o.costs for o in options.values()])
        deltas = np.concatenate([o.deltas for o in options.values()])
        matrix = np.repeat(row[None, :], len(values), axis=0)
        matrix[np.arange(len(values)), columns] = values
        scores = self.scores(matrix)
        crossing = np.flatnonzero(scores < cut)
        ranked = crossing[np.lexsort((scores[crossing], deltas[crossing], costs[crossing]))]
        for i in ranked:
            found = self._confirm(names, row, cut, [(int(columns[i]), float(values[i]))])
            if found is not None:
                return found
        return None

    def _pair_bounds(
        self, row: np.ndarray, options: dict[int, _Options]
    ) -> dict[tuple[int, int], np.ndarray] | None:
        """Return a lower bound of the log-odds of every pair change, or None if none holds.

        None when the trees' outputs do not add up to the raw score (linear or averaged trees).
        """
        batches = [row[None, :]]
        for j, o in options.items():
            batch = np.repeat(row[None, :], len(o.values), axis=0)
            batch[:, j] = o.values
            batches.append(batch)
        leaves = np.asarray(self.booster.predict(np.vstack(batches), pred_leaf=True))
        outputs = self.trees.outputs(leaves)
        raw = float(self.raw(row[None, :])[0])
        if abs(outputs[0].sum() - raw) > _SLACK:
            return None
        sizes = np.cumsum([len(o.values) for o in options.values()])
        changed = dict(zip(options, np.split(outputs[1:] - outputs[0], sizes[:-1]), strict=True))
        splits_on = self.trees.splits_on
        bounds = {}
        for a, b in itertools.combinations(options, 2):
            only_a = changed[a][:, splits_on[a] & ~splits_on[b]].sum(axis=1)
            only_b = changed[b][:, splits_on[b] & ~splits_on[a]].sum(axis=1)
            both = np.flatnonzero(splits_on[a] & splits_on[b])
            lowest = sum(
                lowest_leaf(self.trees.roots[t], row, (a, b)) - outputs[0, t] for t in both
            )
            bounds[a, b] = raw + only_a[:, None] + only_b[None, :] + lowest
        return bounds

    def best_pair(
        self, names: Sequence[str], row: np.ndarray, cut: float, options: dict[int, _Options]
    ) -> Counterfactual | None:
        """Return the best change of two pool features that crosses the cut, if any."""
        if len(options) < 2:
            return None
        bounds = self._pair_bounds(row, options)
        limit = _logit(cut) + _SLACK
        parts = []
        for a, b in itertools.combinations(options, 2):
            oa, ob = options[a], options[b]
            ia, ib = np.indices((len(oa.values), len(ob.values))).reshape(2, -1)
            if bounds is not None:
                reachable = bounds[a, b].ravel() < limit
                ia, ib = ia[reachable], ib[reachable]
            size = len(ia)
            parts.append(
                (
                    np.full(size, a),
                    oa.values[ia],
                    np.full(size, b),
                    ob.values[ib],
                    oa.costs[ia] + ob.costs[ib],
                )
            )
        col_a, val_a, col_b, val_b, costs = (np.concatenate(p) for p in zip(*parts, strict=True))
        order = np.argsort(costs, kind="stable")
        hits: list[np.ndarray] = []
        hit_scores: list[np.ndarray] = []
        best, start, size = math.inf, 0, _FIRST_BATCH
        while start < len(order) and costs[order[start]] <= best:
            batch = order[start : start + size]
            matrix = np.repeat(row[None, :], len(batch), axis=0)
            rows = np.arange(len(batch))
            matrix[rows, col_a[batch]] = val_a[batch]
            matrix[rows, col_b[batch]] = val_b[batch]
            scores = self.scores(matrix)
            below = scores < cut
            if below.any():
                hits.append(batch[below])
                hit_scores.append(scores[below])
                best = min(best, float(costs[batch[below]].min()))
            start, size = start + len(batch), min(2 * size, _LARGEST_BATCH)
        if not hits:
            return None
        index, scores = np.concatenate(hits), np.concatenate(hit_scores)
        for i in index[np.lexsort((index, scores, costs[index]))]:
            changes = [(int(col_a[i]), float(val_a[i])), (int(col_b[i]), float(val_b[i]))]
            found = self._confirm(names, row, cut, changes)
            if found is not None:
                return found
        return None

    def _confirm(
        self, names: Sequence[str], row: np.ndarray, cut: float, changes: list[tuple[int, float]]
    ) -> Counterfactual | None:
        """Score the changed row once more and return the counterfactual if it is below the cut."""
        changed = row.copy()
        for j, value in changes:
            changed[j] = value
        score = float(self.scores(changed[None, :])[0])
        if not score < cut:
            return None
        made = tuple(Change(names[j], _known(float(row[j])), _known(value)) for j, value in changes)
        return Counterfactual(made, score, cut, sentence(made, score, cut))


def _logit(p: float) -> float:
    """Return the log-odds of a probability, infinite at 0 and 1 and beyond."""
    if p <= 0.0:
        return -math.inf
    if p >= 1.0:
        return math.inf
    return math.log(p) - math.log1p(-p)


def _is_count(value: float, thresholds: np.ndarray) -> bool:
    """Return whether a value is integral and no threshold is, so only integers are offered."""
    return value.is_integer() and not np.any(thresholds == np.floor(thresholds))


def _known(value: float) -> float | None:
    """Return the value, or None for missing."""
    return None if math.isnan(value) else value


def _described(name: str, value: float | None) -> str:
    """Return the feature spec's words for a value (None is missing), or plain name and value."""
    if name not in current().by_name:
        return f"{name} is {'unknown' if value is None else f'{value:g}'}"
    return describe(name, math.nan if value is None else value)


def _score_text(score: float, cut: float) -> str:
    """Return the score with enough decimals to read below the cut."""
    for decimals in range(2, 18):
        text = f"{score:.{decimals}f}"
        if float(text) < cut:
            return text
    return repr(score)


def sentence(changes: Sequence[Change], score: float, cut: float) -> str:
    """Return the counterfactual in one plain sentence, from the features' own descriptions."""
    clauses = [
        f"that {_described(c.feature, c.becomes)} (instead of: {_described(c.feature, c.was)})"
        for c in changes
    ]
    return (
        f"Had it been {', and '.join(clauses)}, the score would have been "
        f"{_score_text(score, cut)}, below the cut point {cut:g}."
    )


_SEARCHES: weakref.WeakKeyDictionary[lgb.Booster, CounterfactualSearch] = (
    weakref.WeakKeyDictionary()
)


def _search(booster: lgb.Booster) -> CounterfactualSearch:
    """Return the booster's search, reading its trees only the first time."""
    search = _SEARCHES.get(booster)
    if search is None:
        search = _SEARCHES[booster] = CounterfactualSearch(booster)
    return search


def candidate_values(booster: lgb.Booster, feature_index: int) -> np.ndarray:
    """Return the values at which the model's output for one feature can change, NaN last."""
    return _search(booster).candidate_values(feature_index)


def find_counterfactual(
    booster: lgb.Booster,
    names: Sequence[str],
    row: np.ndarray,
    cut: float,
    *,
    max_changes: int = 2,
    pair_pool: int = 8,
    fixed: Collection[str] = (),
) -> Counterfactual | None:
    """Return the smallest change of one or two features that brings the row below `cut`.

    `row` is one feature vector in `names` order, NaN for missing. One feature is
    preferred over two; pairs are searched among the `pair_pool` features whose SHAP
    contributions raised the score most. Features in `fixed` are never changed.
    Returns None when the row already scores below `cut` or no such change exists.
    """
    search = _search(booster)
    row = np.asarray(row, dtype=float)
    if row.ndim != 1 or len(row) != len(search.grids) or len(names) != len(row):
        raise ValueError(f"expected one row of {len(search.grids)} features in names order")
    if not 0 <= max_changes <= 2:
        raise ValueError("max_changes must be 0, 1 or 2")
    if float(search.scores(row[None, :])[0]) < cut:
        return None
    frozen = set(fixed)
    free = [j for j in sorted(search.used) if names[j] not in frozen]
    options = {j: search.options(j, float(row[j])) for j in free}
    if max_changes >= 1:
        found = search.best_single(names, row, cut, options)
        if found is not None:
            return found
    if max_changes >= 2:
        contributions = np.asarray(booster.predict(row[None, :], pred_contrib=True))[0]
        ranked = sorted(free, key=lambda j: -contributions[j])
        pool = [j for j in ranked if contributions[j] > 0][:pair_pool]
        return search.best_pair(names, row, cut, {j: options[j] for j in sorted(pool)})
    return None
