"""A tiny champion over every feature of the spec, for service tests that need any model."""

from __future__ import annotations

import lightgbm as lgb
import mlflow
import numpy as np

from features.catalog import current, spec_hash
from models.registry import connect, log_scorer, promote
from models.scorer import ModelCard, Thresholds
from models.settings import ModelSettings


def tiny_champion(
    settings: ModelSettings, thresholds: Thresholds | None = None, seed: int = 0
) -> str:
    """Train a small booster on random data over all features, register and promote it."""
    rng = np.random.default_rng(seed)
    names = [f.name for f in current().features]
    matrix = rng.normal(size=(3000, len(names)))
    labels = (matrix[:, 0] + matrix[:, 1] + rng.normal(scale=0.5, size=3000) > 2).astype(int)
    booster = lgb.train(
        {
            "objective": "binary",
            "num_leaves": 7,
            "max_depth": 3,
            "verbose": -1,
            "num_threads": 1,
            "seed": seed,
        },
        lgb.Dataset(matrix, labels, feature_name=names),
        num_boost_round=20,
    )
    cuts = thresholds or Thresholds(0.3, 0.6, 0.9)
    card = ModelCard(names, cuts, spec_hash(), degraded_thresholds=cuts)
    connect(settings)
    with mlflow.start_run():
        version = log_scorer(booster, card, settings)
    promote(settings, version)
    return version
