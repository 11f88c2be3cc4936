"""Tables of every leaf's SHAP values over its hot sets, built once per booster.

For a leaf of value v and d unique path features with zero fractions z, and a
row that agrees with the features in P (its hot set), TreeSHAP gives a cold
feature -T[P] and a hot feature j T[P - {j}] (1 - z_j) / z_j, where

    T[P] = v * F(P) * prod(z_k for k not in P),
    F(P) = sum over S in P of |S|! (d-1-|S|)! / d! * prod(z_k for k in P - S)

(the idea of Fast TreeSHAP v2, Yang 2021). Two sibling leaves share one table,
indexed by their parent's hot set and the way the row went there. A group's
table holds, per index, its features' values side by side, so that a row
reads one short run per group. Leaves too wide for the table budget are left
to Gauss-Legendre quadrature in the kernel (as in Linear TreeShap).
"""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
from numba import njit

from explain.tree_paths import Leaf, TreeWalk, expected_value

# The tables' size in float64 entries at most (32 MiB); the widest leaves are integrated.
TABLE_BUDGET = 1 << 22
MAX_TABLE_FEATURES = 10


@dataclass(frozen=True)
class PathTables:
    """A booster's splits, leaf groups and tables, as flat arrays for the kernel."""

    feature_count: int
    base: float
    ints: dict[str, np.ndarray]
    floats: dict[str, np.ndarray]


def path_tables(booster: lgb.Booster, max_table_features: int = MAX_TABLE_FEATURES) -> PathTables:
    """Build the path tables of a booster with one tree per iteration from its dump."""
    dump = booster.dump_model()
    if dump["num_tree_per_iteration"] != 1 or dump.get("average_output"):
        raise ValueError("exact SHAP supports one tree per iteration, summed (not averaged)")
    trees = [info["tree_structure"] for info in dump["tree_info"]]
    walk = TreeWalk(trees)
    width = max_table_features
    while width > 0 and walk.table_size(width) > TABLE_BUDGET:
        width -= 1
    pairs, singles, wide = walk.plan(width)
    splits = len(walk.splits)
    # Each split, single and wide leaf has a place for its mask; paired leaves share a spare.
    place = {id(leaf): splits + i for i, leaf in enumerate(singles + wide)}
    spare = splits + len(place)
    children = np.array(
        [
            [c if isinstance(c, int) else place.get(id(c), spare) for c in cs]
            for cs in walk.children
        ],
        dtype=np.int64,
    ).reshape(-1, 2)
    split = np.array(walk.splits, dtype=np.int64).reshape(-1, 5)
    groups, table = leaf_groups(walk, pairs, singles)
    nodes, weights = quadrature(max((leaf.width for leaf in wide), default=0))
    ints = {
        "split_feature": split[:, 0],
        "split_flags": split[:, 1],
        "split_bit": split[:, 2],
        "category_start": split[:, 3],
        "category_length": split[:, 4],
        "category_bits": np.array(walk.words, dtype=np.int64),
        "roots": np.array(walk.roots, dtype=np.int64),
        "left_child": children[:, 0],
        "right_child": children[:, 1],
        **groups,
        "wide_place": np.array([place[id(leaf)] for leaf in wide], dtype=np.int64),
        "wide_width": np.array([leaf.width for leaf in wide], dtype=np.int64),
        "wide_feature": np.array([f for leaf in wide for f in leaf.path.features], np.int64),
        "quad_stride": np.array([nodes.shape[1]], dtype=np.int64),
    }
    floats = {
        "split_threshold": np.array(walk.thresholds, dtype=np.float64),
        "table": table,
        "wide_value": np.array([leaf.value for leaf in wide], dtype=np.float64),
        "wide_zero": np.array([z for leaf in wide for z in leaf.path.zeros], dtype=np.float64),
        "quad_nodes": nodes.ravel(),
        "quad_weights": weights.ravel(),
    }
    return PathTables(
        feature_count=int(dump["max_feature_idx"]) + 1,
        base=float(sum(expected_value(root) for root in trees)),
        ints={name: np.ascontiguousarray(a, dtype=np.int64) for name, a in ints.items()},
        floats={name: np.ascontiguousarray(a, dtype=np.float64) for name, a in floats.items()},
    )


Slot = tuple[int, int, int, float, float]


def leaf_groups(
    walk: TreeWalk, pairs: list[tuple[int, Leaf, Leaf]], singles: list[Leaf]
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Return the groups' arrays for the kernel and their tables."""
    splits = len(walk.splits)
    tabled = singles + [leaf for _, a, b in pairs for leaf in (a, b)]
    starts = np.cumsum([0] + [1 << leaf.width for leaf in tabled])
    entry = {id(leaf): int(start) for leaf, start in zip(tabled, starts, strict=False)}
    # Scratch: each leaf's T, then each pair's joint T and its split feature's values.
    scratch = np.zeros(int(starts[-1]) + sum(4 << a.width for _, a, _ in pairs))
    leaf_tables(
        np.array([leaf.value for leaf in tabled]),
        np.array([z for leaf in tabled for z in leaf.path.zeros]),
        np.array([leaf.width for leaf in tabled], dtype=np.int64),
        starts[:-1].astype(np.int64),
        scratch,
    )
    # A group: its mask place, the hot bits it takes from there, the split whose way it
    # takes and that way's bit, the bits its index implies, and its index's width. A slot,
    # one per feature of a group: the feature, where its scratch values start, the hot
    # bits it keeps, and its factor when cold or hot.
    groups: list[tuple[tuple[int, ...], list[Slot]]] = []
    for i, leaf in enumerate(singles):
        d = leaf.width
        groups.append(((splits + i, (1 << d) - 1, splits, d, 0, d), slots(leaf, entry[id(leaf)])))
    blocks = []
    joint = int(starts[-1])
    for n, a, b in pairs:
        d, own = a.width, walk.splits[n][2].bit_length() - 1
        blocks.append(
            (entry[id(a)], entry[id(b)], d, own, joint, a.path.zeros[own], b.path.zeros[own])
        )
        pair_slots = slots(a, joint)
        pair_slots[own] = (a.path.features[own], joint + (2 << d), -1, 1.0, 1.0)
        if walk.fresh[n]:
            # New at the split, the feature is hot above it: its bit carries the way instead.
            groups.append(((n, (1 << own) - 1, n, own, 1 << own, d), pair_slots))
        else:
            groups.append(((n, (1 << d) - 1, n, d, 0, d + 1), pair_slots))
        joint += 4 << d
    block = np.array(blocks, dtype=np.float64).reshape(-1, 7)
    pair_tables(block[:, :5].astype(np.int64), block[:, 5:].copy(), scratch)
    # By width, so that the kernel's loop over a group's features runs alike for long stretches.
    groups.sort(key=lambda g: len(g[1]))
    group = np.array([g for g, _ in groups], dtype=np.int64).reshape(-1, 6)
    widths = np.array([len(s) for _, s in groups], dtype=np.int64)
    sizes = widths << group[:, 5]
    slot = np.array([s for _, group_slots in groups for s in group_slots]).reshape(-1, 5)
    table = np.zeros(int(sizes.sum()))
    spread_tables(
        np.column_stack([widths, sizes, group[:, 1], group[:, 4], group[:, 3]]),
        slot[:, 1:3].astype(np.int64),
        slot[:, 3:].copy(),
        scratch,
        table,
    )
    arrays = {
        "group_place": group[:, 0],
        "group_full": group[:, 1],
        "group_split": group[:, 2],
        "group_shift": group[:, 3],
        "group_width": widths,
        "group_start": np.cumsum(sizes) - sizes,
        "slot_feature": slot[:, 0].astype(np.int64),
    }
    return arrays, table


def slots(leaf: Leaf, entry: int) -> list[Slot]:
    """Return a leaf's slots: a cold feature reads T[P], a hot one T[P - {j}] (1 - z) / z."""
    features, zeros = leaf.path.features, leaf.path.zeros
    return [
        (f, entry, ~(1 << k), -1.0, (1 - z) / z)
        for k, (f, z) in enumerate(zip(features, zeros, strict=True))
    ]


def quadrature(max_features: int) -> tuple[np.ndarray, np.ndarray]:
    """Return Gauss-Legendre nodes and weights on [0, 1], row d exact to degree d - 1."""
    stride = max(1, (max_features + 1) // 2)
    nodes, weights = np.zeros((max_features + 1, stride)), np.zeros((max_features + 1, stride))
    for d in range(1, max_features + 1):
        x, w = np.polynomial.legendre.leggauss((d + 1) // 2)
        nodes[d, : len(x)], weights[d, : len(w)] = (x + 1) / 2, w / 2
    return nodes, weights


@njit(cache=False, nogil=True)
def leaf_tables(
    values: np.ndarray, zeros: np.ndarray, widths: np.ndarray, starts: np.ndarray, out: np.ndarray
) -> None:
    """Write each leaf's T over its hot sets at its start in `out`; the full set's stays 0."""
    elementary = np.zeros(widths.max() + 2 if len(widths) else 1)
    first = 0
    for leaf in range(len(values)):
        d = widths[leaf]
        for hot in range((1 << d) - 1):
            # The elementary symmetric polynomials of the hot zero fractions.
            elementary[:] = 0.0
            elementary[0] = 1.0
            size, cold = 0, 1.0
            for k in range(d):
                if (hot >> k) & 1:
                    size += 1
                    for j in range(size, 0, -1):
                        elementary[j] += zeros[first + k] * elementary[j - 1]
                else:
                    cold *= zeros[first + k]
            total, weight = 0.0, 1.0 / d
            for s in range(size + 1):
                total += weight * elementary[size - s]
                weight *= (s + 1) / (d - 1 - s) if s + 1 < d else 0.0
            out[starts[leaf] + hot] = values[leaf] * total * cold
        first += d


@njit(cache=False, nogil=True)
def pair_tables(blocks: np.ndarray, split_zeros: np.ndarray, scratch: np.ndarray) -> None:
    """Write each pair of sibling leaves' joint tables after the leaves' own.

    A pair's index is its parent's hot set plus, at bit d, whether the row went left.
    The first table sums both leaves' T, which every feature but the split's own reads
    as a leaf's (their zero fractions agree above the split); the second holds the
    split feature's value from both leaves.
    """
    for i in range(len(blocks)):
        left, right, d, own, start = blocks[i]
        bit, full = 1 << own, (1 << d) - 1
        ratio_left = (1 - split_zeros[i, 0]) / split_zeros[i, 0]
        ratio_right = (1 - split_zeros[i, 1]) / split_zeros[i, 1]
        for index in range(2 << d):
            hot = index & full
            hot_left = hot if index >> d else hot & ~bit
            hot_right = hot & ~bit if index >> d else hot
            scratch[start + index] = scratch[left + hot_left] + scratch[right + hot_right]
            without = hot & ~bit
            own_value = scratch[left + without] * (ratio_left if hot_left & bit else -1.0)
            own_value += scratch[right + without] * (ratio_right if hot_right & bit else -1.0)
            scratch[start + (2 << d) + index] = own_value


@njit(cache=False, nogil=True)
def spread_tables(
    groups: np.ndarray, reads: np.ndarray, factors: np.ndarray, scratch: np.ndarray, out: np.ndarray
) -> None:
    """Write each group's table: per index, its features' values side by side.

    Index x stands for the hot set and way (x & low) | implied | (x >> shift) << d; a
    feature's value there is its scratch entry at start + (that & keep), times its
    factor for whether it is hot.
    """
    slot, start = 0, 0
    for g in range(len(groups)):
        d, size, low, implied, shift = groups[g]
        for k in range(d):
            entry, keep = reads[slot + k, 0], reads[slot + k, 1]
            for x in range(size // d):
                index = (x & low) | implied | ((x >> shift) << d)
                factor = factors[slot + k, 1] if index & ~keep else factors[slot + k, 0]
                out[start + x * d + k] = scratch[entry + (index & keep)] * factor
        slot += d
        start += size
