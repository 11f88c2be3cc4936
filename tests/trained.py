"""A small model trained once per test session on the shipped, mapped order history."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from models.settings import ModelSettings
from training.sources.history import load_history
from training.train import TrainingResult, train

DATA = Path(__file__).parent / "training" / "data"
HISTORY = DATA / "history_mapped.parquet"
MAPPING = DATA / "history_mapping.yaml"


@dataclass(frozen=True)
class Trained:
    """The settings of a data dir with a trained, registered model, and the run's result."""

    settings: ModelSettings
    result: TrainingResult


def train_on_history(data_dir: Path) -> Trained:
    """Import the shipped history into `data_dir`, build features and train on them."""
    from features.build import build_offline_sources
    from features.store import apply

    settings = ModelSettings(data_dir=data_dir)
    orders = load_history(HISTORY, MAPPING)
    data_dir.mkdir(parents=True, exist_ok=True)
    orders.to_parquet(settings.orders_path, index=False)
    build_offline_sources(orders, settings)
    apply(settings)
    return Trained(settings, train(settings))
