"""What a decision stores of its features: name → value, a missing value as null."""

from __future__ import annotations

import math

import numpy as np

from features.online import ServedFeatures


def test_served_features_read_as_python_floats_and_missing_ones_as_none() -> None:
    served = ServedFeatures(["a", "b", "c"], np.array([[1.5, math.nan, 0.0]]), None)
    values = served.as_dict()
    assert values == {"a": 1.5, "b": None, "c": 0.0}
    assert all(type(v) is float for v in values.values() if v is not None)
