"""MLflow registry: load by alias, promote to champion, refuse another feature spec."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from models.registry import CHALLENGER, RegistryError, list_versions, load_scorer, promote
from models.scorer import SpecMismatchError, Tier
from tests.trained import Trained
from training.dataset import training_frame


def test_challenger_loads_and_scores_like_the_trained_model(trained: Trained) -> None:
    scorer = load_scorer(trained.settings, CHALLENGER)
    assert scorer.version == trained.result.version
    assert scorer.card == trained.result.card
    frame = training_frame(trained.settings)
    scores = scorer.score(frame.matrix)
    assert scores.shape == (len(frame.labels),)
    assert scores[frame.labels == 1].mean() > 5 * scores[frame.labels == 0].mean()


def test_promote_moves_the_champion_alias(trained: Trained) -> None:
    with pytest.raises(RegistryError, match="alias 'champion'"):
        load_scorer(trained.settings.model_copy(update={"model_name": "nothing-here"}))
    promote(trained.settings, trained.result.version)
    assert load_scorer(trained.settings).version == trained.result.version
    listed = {v.version: v for v in list_versions(trained.settings)}
    assert "champion" in listed[trained.result.version].aliases
    assert "test_roc_auc" in listed[trained.result.version].metrics
    with pytest.raises(RegistryError, match="no version 999"):
        promote(trained.settings, "999")


def test_a_model_of_another_feature_spec_is_refused(trained: Trained) -> None:
    with pytest.raises(SpecMismatchError, match="retrain"):
        load_scorer(trained.settings, CHALLENGER, running_spec="0000000000000000")
    scorer = load_scorer(trained.settings, CHALLENGER)
    other = dataclasses.replace(
        scorer, card=dataclasses.replace(scorer.card, spec_hash="feedfacefeedface")
    )
    with pytest.raises(SpecMismatchError, match="feedfacefeedface"):
        other.check_spec(trained.result.card.spec_hash)


def test_tiers_follow_the_thresholds(trained: Trained) -> None:
    cuts = trained.result.card.thresholds
    assert cuts.tier(np.nextafter(cuts.high, 0)) in (Tier.LOW, Tier.MEDIUM)
    assert cuts.tier(cuts.high) in (Tier.HIGH, Tier.CRITICAL)
    assert cuts.tier(1.0) is Tier.CRITICAL
