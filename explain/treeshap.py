"""Exact TreeSHAP over precomputed path tables, compiled with numba.

A row takes four flat passes, written without data-dependent branches (the
way a row goes is data, and mispredicted branches would cost most of the
time): route it through every split as LightGBM's `Tree::Decision` does;
hand each split's children their masks of disagreeing path features; add,
per leaf group, the row of its table that its hot set indexes; integrate
the few leaves too wide for a table. The values equal `pred_contrib=True`.
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
from numba import njit

from explain.shap_tables import MAX_TABLE_FEATURES, path_tables
from explain.tree_paths import CATEGORICAL

# LightGBM's kZeroThreshold is the float 1e-35f, read as a double.
_ZERO = float(np.float32(1e-35))
# static_cast<int> of a larger value is INT_MIN on x86, a negative category.
_INT_LIMIT = 2147483648.0
# The kernel computes indices in uint64 throughout: an index of a signed type costs a
# check for negative values on every access, and mixing signed and unsigned gives floats.
_NO, _YES = np.uint64(0), np.uint64(1)
_WORD, _BIT = np.uint64(5), np.uint64(31)
_CATEGORICAL = np.uint64(CATEGORICAL)
# The kernel's arrays, packed in this order into one integer and one float array:
# a call then costs the unboxing of four arrays, not of two dozen.
INTS = (
    "split_feature",
    "split_flags",
    "split_bit",
    "category_start",
    "category_length",
    "category_bits",
    "roots",
    "left_child",
    "right_child",
    "group_place",
    "group_full",
    "group_split",
    "group_shift",
    "group_width",
    "group_start",
    "slot_feature",
    "wide_place",
    "wide_width",
    "wide_feature",
    "quad_stride",
)
FLOATS = ("split_threshold", "table", "wide_value", "wide_zero", "quad_nodes", "quad_weights")


@njit(cache=False, nogil=True)
def route(
    row: np.ndarray, left: np.ndarray, ints: tuple[np.ndarray, ...], threshold: np.ndarray
) -> None:
    """Set `left[n]` to 1 where LightGBM sends the row left at split n, else 0."""
    feature, flags, _, start, length, bits = ints[:6]
    for n in range(len(feature)):
        value, flag = row[feature[n]], flags[n]
        if flag & _CATEGORICAL:
            # NaN, negative and unseen categories go right; the value is truncated to an int.
            way = _NO
            if not (np.isnan(value) or value <= -1.0 or value >= _INT_LIMIT):
                category = np.uint64(np.int64(value))
                if category >> _WORD < length[n]:
                    way = (bits[start[n] + (category >> _WORD)] >> (category & _BIT)) & _YES
            left[n] = way
            continue
        # LightGBM drops near-zero entries of a dense row: a split reads them as 0.
        # Flag bit 0 takes the comparison, bit 1 says where NaN goes, bit 2 where zero goes.
        nan, zero = np.uint64(np.isnan(value)), np.uint64(abs(value) <= _ZERO)
        left[n] = ((flag | np.uint64(value <= threshold[n])) >> (nan + zero + zero)) & _YES


@njit(cache=False, nogil=True)
def spread_masks(left: np.ndarray, masks: np.ndarray, ints: tuple[np.ndarray, ...]) -> None:
    """Set every split's and leaf's mask of the path features the row disagrees with."""
    bit, roots, left_child, right_child = ints[2], ints[6], ints[7], ints[8]
    for root in roots:
        masks[root] = _NO
    for n in range(len(bit)):
        # Multiplied, not selected: a select of loaded data may compile to a branch.
        mask, way = masks[n], left[n]
        masks[left_child[n]] = mask | bit[n] * (way ^ _YES)
        masks[right_child[n]] = mask | bit[n] * way


@njit(cache=False, nogil=True)
def add_groups(
    phi: np.ndarray,
    left: np.ndarray,
    masks: np.ndarray,
    ints: tuple[np.ndarray, ...],
    table: np.ndarray,
) -> None:
    """Add every leaf group's values: the row of its table that its hot set indexes."""
    place, full, split, shift, width, start, feature = ints[9:16]
    slot = _NO
    for g in range(len(place)):
        hot = (full[g] & ~masks[place[g]]) | (left[split[g]] << shift[g])
        row = start[g] + hot * width[g]
        for k in range(width[g]):
            phi[feature[slot + k]] += table[row + k]
        slot += width[g]


@njit(cache=False, nogil=True)
def integrate(
    phi: np.ndarray,
    masks: np.ndarray,
    ints: tuple[np.ndarray, ...],
    floats: tuple[np.ndarray, ...],
    scratch: np.ndarray,
) -> None:
    """Add the values of the leaves too wide for a table, by exact Gauss-Legendre quadrature.

    A Shapley weight |S|!(d-1-|S|)!/d! is the Beta integral of t^|S| (1-t)^(d-1-|S|),
    so a feature's value is an integral over [0, 1] of a polynomial of degree d - 1.
    """
    place, width, feature, stride = ints[16], ints[17], ints[18], ints[19][0]
    value, zeros, nodes, weights = floats[2:]
    start = _NO
    for i in range(len(place)):
        d = width[i]
        hot = ((_YES << d) - _YES) & ~masks[place[i]]
        points = (d + _YES) >> _YES
        for q in range(points):
            x, product = nodes[d * stride + q], weights[d * stride + q] * value[i]
            for k in range(d):
                product *= (1 - x) * zeros[start + k] + x * ((hot >> k) & _YES)
            scratch[q] = product
        for k in range(d):
            one, z = float((hot >> k) & _YES), zeros[start + k]
            total = 0.0
            for q in range(points):
                x = nodes[d * stride + q]
                total += scratch[q] / ((1 - x) * z + x * one)
            phi[feature[start + k]] += (one - z) * total
        start += d


@njit(cache=False, nogil=True)
def shap_rows(
    matrix: np.ndarray, out: np.ndarray, ints: np.ndarray, floats: np.ndarray, ends: np.ndarray
) -> None:
    """Add the SHAP values of each row of `matrix` to the same row of `out`."""
    i = (
        ints[ends[0] : ends[1]],
        ints[ends[1] : ends[2]],
        ints[ends[2] : ends[3]],
        ints[ends[3] : ends[4]],
        ints[ends[4] : ends[5]],
        ints[ends[5] : ends[6]],
        ints[ends[6] : ends[7]],
        ints[ends[7] : ends[8]],
        ints[ends[8] : ends[9]],
        ints[ends[9] : ends[10]],
        ints[ends[10] : ends[11]],
        ints[ends[11] : ends[12]],
        ints[ends[12] : ends[13]],
        ints[ends[13] : ends[14]],
        ints[ends[14] : ends[15]],
        ints[ends[15] : ends[16]],
        ints[ends[16] : ends[17]],
        ints[ends[17] : ends[18]],
        ints[ends[18] : ends[19]],
        ints[ends[19] : ends[20]],
    )
    e = ends[21:]
    f = (
        floats[e[0] : e[1]],
        floats[e[1] : e[2]],
        floats[e[2] : e[3]],
        floats[e[3] : e[4]],
        floats[e[4] : e[5]],
        floats[e[5] : e[6]],
    )
    count = len(i[0])
    # Per call, so that threads may explain at once. The split after the last one is a
    # spare that always goes right; after the splits' masks come the leaves' and a spare.
    left = np.zeros(count + 1, dtype=np.uint64)
    masks = np.zeros(count + len(i[9]) + len(i[16]) + 1, dtype=np.uint64)
    scratch = np.empty(i[19][0])
    for r in range(matrix.shape[0]):
        route(matrix[r], left, i, f[0])
        spread_masks(left, masks, i)
        add_groups(out[r], left, masks, i, f[1])
        integrate(out[r], masks, i, f, scratch)


class TreeShap:
    """Exact TreeSHAP of one booster: its path tables, built once, and the compiled passes."""

    def __init__(self, booster: lgb.Booster, max_table_features: int = MAX_TABLE_FEATURES) -> None:
        tables = path_tables(booster, max_table_features)
        self.feature_count, self.base = tables.feature_count, tables.base
        ints = [tables.ints[name] for name in INTS]
        floats = [tables.floats[name] for name in FLOATS]
        self._ints = np.concatenate(ints).astype(np.uint64)
        self._floats = np.concatenate(floats)
        self._ends = np.concatenate(
            [np.cumsum([0] + [len(a) for a in ints]), np.cumsum([0] + [len(a) for a in floats])]
        ).astype(np.uint64)
        # Compile now (once per process), not on the first order.
        self.contributions(np.full((1, self.feature_count), np.nan))

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """Return per-row SHAP values with the base value as the last column."""
        rows = np.ascontiguousarray(matrix, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[1] != self.feature_count:
            raise ValueError(
                f"expected a matrix of {self.feature_count} feature columns, got {rows.shape}"
            )
        out = np.zeros((rows.shape[0], self.feature_count + 1))
        shap_rows(rows, out, self._ints, self._floats, self._ends)
        out[:, -1] = self.base
        return out
