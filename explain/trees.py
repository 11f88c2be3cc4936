"""LightGBM's trees as `Booster.dump_model` writes them: walking, routing, bounding.

The counterfactual search reads a booster through these: which way a value
goes at a split, the lowest leaf a row can reach when some features are
free, and every tree's output from leaf indices.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterator
from typing import Any

import numpy as np

Node = dict[str, Any]
# LightGBM reads |x| <= 1e-35 as zero where a split treats zero as missing.
_ZERO = 1e-35


def nodes(root: Node) -> Iterator[Node]:
    """Yield every node of one dumped tree."""
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        if "split_feature" in node:
            stack.extend((node["left_child"], node["right_child"]))


def goes_left(split: Node, value: float) -> bool | None:
    """Return LightGBM's way for a value at a numerical split; None for a categorical one."""
    if split["decision_type"] != "<=":
        return None
    missing = split["missing_type"]
    if math.isnan(value) and missing != "NaN":
        value = 0.0
    if (missing == "Zero" and abs(value) <= _ZERO) or (missing == "NaN" and math.isnan(value)):
        return bool(split["default_left"])
    return bool(value <= split["threshold"])


def lowest_leaf(node: Node, row: np.ndarray, free: Collection[int]) -> float:
    """Return the lowest leaf value reachable when only the `free` features may change."""
    if "leaf_value" in node:
        return float(node["leaf_value"])
    way = (
        None
        if node["split_feature"] in free
        else goes_left(node, float(row[node["split_feature"]]))
    )
    if way is None:
        return min(
            lowest_leaf(node["left_child"], row, free),
            lowest_leaf(node["right_child"], row, free),
        )
    return lowest_leaf(node["left_child" if way else "right_child"], row, free)


class Trees:
    """The dumped trees: their leaf values and the features each one splits on."""

    def __init__(self, roots: list[Node], feature_count: int) -> None:
        self.roots = roots
        indices = [
            int(n.get("leaf_index", 0)) for r in roots for n in nodes(r) if "leaf_value" in n
        ]
        width = max(indices, default=0) + 1
        self.leaf_values = np.zeros((len(roots), width))
        self.splits_on = np.zeros((feature_count, len(roots)), dtype=bool)
        for t, root in enumerate(roots):
            for node in nodes(root):
                if "leaf_value" in node:
                    self.leaf_values[t, int(node.get("leaf_index", 0))] = node["leaf_value"]
                else:
                    self.splits_on[int(node["split_feature"]), t] = True

    def outputs(self, leaves: np.ndarray) -> np.ndarray:
        """Return every tree's output for rows of leaf indices (`predict(pred_leaf=True)`)."""
        return np.asarray(self.leaf_values[np.arange(len(self.roots)), leaves.astype(int)])
