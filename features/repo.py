"""The Feast feature repo, generated from the feature spec.

Per entity there are two feature views:
- `<entity>_aggregates`: offline only; one row per order with the entity's
  aggregates as of just before the order. Training reads them through Feast's
  point-in-time join (`features.training_frame`).
- `<entity>_state`: online; the entity's bucketed aggregate state
  (`features.state`), materialized from the log's last snapshot and updated by
  every scored order through its push source. Scoring reads it and evaluates the
  windows at the moment of the order, so served values decay like offline ones.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from feast import Entity, FeatureService, FeatureView, Field, FileSource, PushSource, ValueType
from feast.types import Float64, String

from features.catalog import current
from features.online_stores.redis_store import OrderShieldRedisOnlineStoreConfig
from features.online_stores.sqlite import OrderShieldSqliteOnlineStoreConfig
from features.settings import FeatureSettings
from features.spec import Entity as SpecEntity

PROJECT = "ordershield"
FEATURE_SERVICE = "ordershield_model"
TIMESTAMP_FIELD = "event_timestamp"
STATE_FIELD = "state"
AGGREGATES_TTL = timedelta(seconds=1)


def aggregates_view_name(entity: SpecEntity) -> str:
    """Return the name of an entity's offline aggregates view."""
    return f"{entity.name}_aggregates"


def state_view_name(entity: SpecEntity) -> str:
    """Return the name of an entity's online state view."""
    return f"{entity.name}_state"


def push_source_name(entity: SpecEntity) -> str:
    """Return the name of the push source that updates an entity's state."""
    return f"{entity.name}_state_push"


def aggregates_path(settings: FeatureSettings, entity: SpecEntity) -> Path:
    """Return the parquet file behind an entity's aggregates view."""
    return settings.offline_dir / f"{entity.name}_aggregates.parquet"


def state_path(settings: FeatureSettings, entity: SpecEntity) -> Path:
    """Return the parquet file behind an entity's state view."""
    return settings.offline_dir / f"{entity.name}_state.parquet"


def definitions(settings: FeatureSettings) -> list[object]:
    """Return every Feast object of the repo."""
    objects: list[object] = []
    aggregate_views: list[Any] = []
    for spec_entity in current().entities:
        entity = Entity(
            name=spec_entity.name,
            join_keys=[spec_entity.key],
            value_type=ValueType.STRING,
            description=spec_entity.description,
        )
        names = [f.name for f in current().aggregates_of[spec_entity]]
        aggregates = FeatureView(
            name=aggregates_view_name(spec_entity),
            entities=[entity],
            # A row holds the entity's aggregates at the instant of one order; later
            # instants are served from the state view. The short TTL also keeps
            # Feast's point-in-time join from pairing every order with every
            # earlier row of a busy entity.
            ttl=AGGREGATES_TTL,
            schema=[Field(name=name, dtype=Float64) for name in names],
            source=FileSource(
                name=f"{spec_entity.name}_aggregates_source",
                path=str(aggregates_path(settings, spec_entity)),
                timestamp_field=TIMESTAMP_FIELD,
            ),
            online=False,
        )
        push = PushSource(
            name=push_source_name(spec_entity),
            batch_source=FileSource(
                name=f"{spec_entity.name}_state_source",
                path=str(state_path(settings, spec_entity)),
                timestamp_field=TIMESTAMP_FIELD,
            ),
        )
        state = FeatureView(
            name=state_view_name(spec_entity),
            entities=[entity],
            ttl=timedelta(0),
            schema=[Field(name=STATE_FIELD, dtype=String)],
            source=push,
            online=True,
        )
        aggregate_views.append(aggregates)
        objects += [entity, aggregates, push, state]
    objects.append(
        FeatureService(
            name=FEATURE_SERVICE,
            features=aggregate_views,
            description="entity aggregates the model is trained on",
        )
    )
    return objects


def store_config(settings: FeatureSettings) -> dict[str, object]:
    """Return feature_store.yaml's content for the configured online store."""
    online: OrderShieldRedisOnlineStoreConfig | OrderShieldSqliteOnlineStoreConfig
    if settings.online_store == "redis":
        online = OrderShieldRedisOnlineStoreConfig(
            url=settings.redis_url.get_secret_value(),
            socket_timeout=settings.redis_timeout_seconds,
            socket_connect_timeout=settings.redis_timeout_seconds,
        )
    else:
        online = OrderShieldSqliteOnlineStoreConfig(path=str(settings.feature_repo / "online.db"))
    return {
        "project": PROJECT,
        "provider": "local",
        "registry": {
            "registry_type": "file",
            "path": str(settings.feature_repo / "registry.db"),
            "cache_ttl_seconds": 0,
        },
        "online_store": online.model_dump(),
        "offline_store": {"type": "duckdb"},
        "entity_key_serialization_version": 3,
    }


DEFINITIONS_PY = '''"""Feast definitions of OrderShield, generated from the feature spec."""

from features.repo import definitions
from features.settings import FeatureSettings

for _object in definitions(FeatureSettings()):
    globals()[f"{type(_object).__name__}_{_object.name}"] = _object
'''


def write_repo(settings: FeatureSettings) -> Path:
    """Write feature_store.yaml (and a definitions module for the feast CLI); return the folder."""
    settings.feature_repo.mkdir(parents=True, exist_ok=True)
    settings.offline_dir.mkdir(parents=True, exist_ok=True)
    # The file holds the online store's URL, password included: readable by its owner only.
    path = settings.feature_repo / "feature_store.yaml"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(yaml.safe_dump(store_config(settings)))
    path.chmod(0o600)  # a file written before keeps the mode it had: narrow it too
    (settings.feature_repo / "definitions.py").write_text(DEFINITIONS_PY)
    return settings.feature_repo
