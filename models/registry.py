"""The MLflow model registry: register a trained scorer, load by alias, promote."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import mlflow
from mlflow import MlflowClient

from features.catalog import spec_hash
from models.scorer import ModelCard, Scorer
from models.settings import ModelSettings

CHALLENGER = "challenger"
CHAMPION = "champion"
EXPERIMENT = "ordershield"
# Model-version tags carrying the card's protocol, so a listing needs no model download.
PROTOCOL_TAG = "protocol."


class RegistryError(RuntimeError):
    """Raised when the registry has no model where one was asked for."""


def connect(settings: ModelSettings) -> MlflowClient:
    """Point MLflow at the configured tracking store and make sure the experiment exists."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    client = MlflowClient(settings.tracking_uri, settings.tracking_uri)
    if client.get_experiment_by_name(EXPERIMENT) is None:
        location = None if settings.mlflow_tracking_uri else settings.artifact_root.as_uri()
        client.create_experiment(EXPERIMENT, artifact_location=location)
    mlflow.set_experiment(EXPERIMENT)
    return client


def log_scorer(booster: lgb.Booster, card: ModelCard, settings: ModelSettings) -> str:
    """Log the booster and its card, register it as challenger; return the version."""
    # Naming the requirement spares MLflow a subprocess that re-imports the model to infer it.
    info = mlflow.lightgbm.log_model(
        booster,
        name="model",
        metadata={"card": card.to_dict()},
        pip_requirements=[f"lightgbm=={lgb.__version__}"],
        registered_model_name=settings.model_name,
    )
    version = str(info.registered_model_version)
    client = MlflowClient()
    for key, value in card.protocol.items():
        client.set_model_version_tag(settings.model_name, version, PROTOCOL_TAG + key, value)
    client.set_registered_model_alias(settings.model_name, CHALLENGER, version)
    return version


def load_scorer(
    settings: ModelSettings, alias: str = CHAMPION, running_spec: str | None = None
) -> Scorer:
    """Load the model version an alias points to, refusing one built for another feature spec."""
    client = connect(settings)
    try:
        version = client.get_model_version_by_alias(settings.model_name, alias)
    except mlflow.exceptions.MlflowException as error:
        raise RegistryError(
            f"no version of model {settings.model_name!r} has the alias {alias!r}: "
            "train one (`ordershield train`) and promote it (`ordershield models promote VERSION`)"
        ) from error
    scorer = _load(settings, str(version.version))
    scorer.check_spec(running_spec or spec_hash())
    return scorer


def load_version(settings: ModelSettings, version: str) -> Scorer:
    """Load an archived version as it was registered, whatever feature spec runs now.

    Replaying a stored decision feeds it the stored feature vector, so the
    running spec does not matter.
    """
    client = connect(settings)
    try:
        client.get_model_version(settings.model_name, version)
    except mlflow.exceptions.MlflowException as error:
        raise RegistryError(f"model {settings.model_name!r} has no version {version}") from error
    return _load(settings, version)


def _load(settings: ModelSettings, version: str) -> Scorer:
    uri = f"models:/{settings.model_name}/{version}"
    booster = mlflow.lightgbm.load_model(uri)
    metadata = mlflow.models.get_model_info(uri).metadata or {}
    if "card" not in metadata:
        raise RegistryError(f"model {uri} carries no OrderShield model card")
    return Scorer(booster, ModelCard.from_dict(metadata["card"]), settings.model_name, version)


@dataclass(frozen=True)
class VersionDetails:
    """What the registry knows of one version: its run's parameters and metrics."""

    version: str
    run_id: str | None
    created: int
    params: dict[str, str]
    metrics: dict[str, float]


def version_details(settings: ModelSettings, version: str) -> VersionDetails:
    """Return a version's training run: data ranges, thresholds, held-out metrics."""
    client = connect(settings)
    try:
        found = client.get_model_version(settings.model_name, version)
    except mlflow.exceptions.MlflowException as error:
        raise RegistryError(f"model {settings.model_name!r} has no version {version}") from error
    run = client.get_run(found.run_id) if found.run_id else None
    return VersionDetails(
        version=str(found.version),
        run_id=found.run_id,
        created=int(found.creation_timestamp or 0),
        params=dict(run.data.params) if run else {},
        metrics=dict(run.data.metrics) if run else {},
    )


def champion_version(settings: ModelSettings, alias: str = CHAMPION) -> str | None:
    """Return the version an alias points to, or None if it points nowhere."""
    client = MlflowClient(settings.tracking_uri, settings.tracking_uri)
    try:
        return str(client.get_model_version_by_alias(settings.model_name, alias).version)
    except mlflow.exceptions.MlflowException:
        return None


def promote(settings: ModelSettings, version: str, alias: str = CHAMPION) -> None:
    """Point an alias (champion by default) at a version."""
    client = connect(settings)
    try:
        client.get_model_version(settings.model_name, version)
    except mlflow.exceptions.MlflowException as error:
        raise RegistryError(f"model {settings.model_name!r} has no version {version}") from error
    client.set_registered_model_alias(settings.model_name, alias, version)


@dataclass(frozen=True)
class VersionSummary:
    """One registered version with its aliases, headline metrics and out-of-time protocol."""

    version: str
    aliases: list[str]
    created: int
    metrics: dict[str, Any]
    protocol: dict[str, str] = field(default_factory=dict)
    """Its card's protocol (periods, gap, labels); empty for versions registered before it."""


def list_versions(settings: ModelSettings) -> list[VersionSummary]:
    """Return every version of the model, newest first, with headline test metrics."""
    client = connect(settings)
    versions = client.search_model_versions(f"name='{settings.model_name}'")
    aliases: dict[str, list[str]] = {}
    if versions:
        for alias, version in client.get_registered_model(settings.model_name).aliases.items():
            aliases.setdefault(str(version), []).append(alias)
    out = []
    for v in sorted(versions, key=lambda v: int(v.version), reverse=True):
        run = client.get_run(v.run_id) if v.run_id else None
        metrics = {
            k: round(val, 4)
            for k, val in (run.data.metrics if run else {}).items()
            if k.startswith("test_")
        }
        out.append(
            VersionSummary(
                str(v.version),
                sorted(aliases.get(str(v.version), [])),
                int(v.creation_timestamp),
                metrics,
                {
                    key.removeprefix(PROTOCOL_TAG): value
                    for key, value in (v.tags or {}).items()
                    if key.startswith(PROTOCOL_TAG)
                },
            )
        )
    return out
