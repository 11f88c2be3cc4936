"""A LightGBM booster's dumped trees as splits and root-to-leaf paths, for exact TreeSHAP.

TreeSHAP's value at a leaf depends on a row only through which of the leaf's
unique path features the row agrees with along the whole path (its "hot"
set); the cover fractions, the Shapley weights and the leaf value belong to
the model. So the walk keeps, per split, what routing needs and, per leaf,
its unique path features with their zero fractions: the product of the cover
ratios child / parent of the path's edges on that feature.

A feature's bit on a path is its place among the path's features in order of
first appearance: the same for every leaf below a split, so that a split can
hand its children a mask of the features a row disagrees with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

Node = dict[str, Any]
# A row's disagreements with a path are one 64-bit mask.
MAX_PATH_FEATURES = 63
# A numerical split's flags: where NaN and zero go (bit 0 is left for the comparison).
NAN_LEFT = 2
ZERO_LEFT = 4
CATEGORICAL = 8
# LightGBM's dump writes a threshold of at least this size (in practice only +inf) as it.
_DUMPED_INF = 1e300


@dataclass
class Path:
    """The unique features of a path and their zero fractions."""

    features: list[int] = field(default_factory=list)
    zeros: list[float] = field(default_factory=list)

    def extend(self, feature: int, fraction: float) -> Path:
        """Return the path one edge further down."""
        step = Path(list(self.features), list(self.zeros))
        if feature in self.features:
            # A feature met again on a path: LightGBM's TreeSHAP merges its edges into one.
            step.zeros[self.features.index(feature)] *= fraction
        else:
            step.features.append(feature)
            step.zeros.append(fraction)
        return step


@dataclass(eq=False)
class Leaf:
    """A leaf: its value and its path."""

    value: float
    path: Path

    @property
    def width(self) -> int:
        """Return the number of unique features on the leaf's path."""
        return len(self.path.features)


def cover(node: Node) -> float:
    """Return the number of training rows that reached a node."""
    return float(node["leaf_count"] if "leaf_value" in node else node["internal_count"])


def expected_value(root: Node) -> float:
    """Return a tree's cover-weighted mean leaf value, as LightGBM's `ExpectedValue`."""
    if "leaf_value" in root:
        return float(root["leaf_value"])
    stack, terms = [root], []
    while stack:
        node = stack.pop()
        if "leaf_value" in node:
            terms.append((node["leaf_index"], cover(node) / cover(root) * node["leaf_value"]))
        else:
            stack.extend((node["left_child"], node["right_child"]))
    # Summed in leaf order, as LightGBM does, so that the base value agrees to the bit.
    return float(sum(term for _, term in sorted(terms)))


def routing(node: Node) -> tuple[int, float, list[int]]:
    """Return a split's flags, its numerical threshold and its left categories' bitset."""
    if node["decision_type"] == "==":
        categories = [int(c) for c in str(node["threshold"]).split("||")]
        words = [0] * (max(categories) // 32 + 1)
        for c in categories:
            words[c // 32] |= 1 << (c % 32)
        return CATEGORICAL, 0.0, words
    threshold = float(node["threshold"])
    if abs(threshold) >= _DUMPED_INF:
        # The dump clips infinite thresholds (a split that sends every number left).
        threshold = math.copysign(math.inf, threshold)
    default = bool(node["default_left"])
    # LightGBM reads NaN as 0 unless NaN is the missing value, and 0 as missing if it is.
    zero_left = default if node["missing_type"] == "Zero" else threshold >= 0.0
    nan_left = default if node["missing_type"] != "None" else zero_left
    return NAN_LEFT * nan_left | ZERO_LEFT * zero_left, threshold, []


class TreeWalk:
    """Every split of every tree in pre-order, and every leaf with its path."""

    def __init__(self, trees: list[Node]) -> None:
        # Per split: feature, flags, bit, start and length of its category bitset.
        self.splits: list[tuple[int, int, int, int, int]] = []
        self.thresholds: list[float] = []
        self.words: list[int] = []
        self.children: list[list[Leaf | int]] = []
        # Whether a split's feature is new on its path, so that the row agrees with it above.
        self.fresh: list[bool] = []
        self.leaves: list[Leaf] = []
        self.roots = [self._split(root, Path()) for root in trees if "leaf_value" not in root]

    def _split(self, node: Node, path: Path) -> int:
        """Add a split and the subtree below it; return its index."""
        here = len(self.splits)
        feature = int(node["split_feature"])
        fresh = feature not in path.features
        if fresh and len(path.features) == MAX_PATH_FEATURES:
            raise ValueError(f"a tree path splits on more than {MAX_PATH_FEATURES} features")
        flags, threshold, words = routing(node)
        bit = 1 << (len(path.features) if fresh else path.features.index(feature))
        self.splits.append((feature, flags, bit, len(self.words), len(words)))
        self.thresholds.append(threshold)
        self.words.extend(words)
        self.children.append([])
        self.fresh.append(fresh)
        for key in ("left_child", "right_child"):
            child = node[key]
            below = path.extend(feature, cover(child) / cover(node))
            if "leaf_value" in child:
                self.leaves.append(Leaf(float(child["leaf_value"]), below))
                self.children[here].append(self.leaves[-1])
            else:
                self.children[here].append(self._split(child, below))
        return here

    def plan(self, width: int) -> tuple[list[tuple[int, Leaf, Leaf]], list[Leaf], list[Leaf]]:
        """Return the sibling leaf pairs and single leaves to table, and the wider leaves."""
        pairs = [
            (n, a, b)
            for n, (a, b) in enumerate(self.children)
            if isinstance(a, Leaf) and isinstance(b, Leaf) and a.width < width
        ]
        paired = {id(leaf) for _, a, b in pairs for leaf in (a, b)}
        singles = [x for x in self.leaves if id(x) not in paired and x.width <= width]
        return pairs, singles, [leaf for leaf in self.leaves if leaf.width > width]

    def table_size(self, width: int) -> int:
        """Return the number of table entries when leaves of up to `width` features are tabled."""
        pairs, singles, _ = self.plan(width)
        joint = sum(a.width << (a.width + (not self.fresh[n])) for n, a, _ in pairs)
        return joint + sum(leaf.width << leaf.width for leaf in singles)
