"""Exact SHAP: additivity and equality with shap.TreeExplainer on the trained model."""

from __future__ import annotations

import numpy as np
import shap

from explain.contributions import explain
from models.registry import CHALLENGER, load_scorer
from tests.trained import Trained
from training.dataset import training_frame


def test_contributions_add_up_and_match_shap(trained: Trained) -> None:
    scorer = load_scorer(trained.settings, CHALLENGER)
    matrix = training_frame(trained.settings).matrix[:300]
    ours = explain(scorer.booster, matrix)
    raw = scorer.raw_score(matrix)
    np.testing.assert_allclose(ours.values.sum(axis=1) + ours.base, raw, atol=1e-6)
    reference = shap.TreeExplainer(scorer.booster)
    theirs = reference.shap_values(matrix)
    np.testing.assert_allclose(ours.values, np.asarray(theirs), atol=1e-6)
    np.testing.assert_allclose(ours.base, reference.expected_value, atol=1e-6)
