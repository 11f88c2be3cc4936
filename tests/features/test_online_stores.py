"""Our Feast online stores: Feast finds them from feature_store.yaml, with our settings."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest
from feast.infra.online_stores.helpers import get_online_store_from_config
from feast.repo_config import RepoConfig, get_online_config_from_type
from pydantic import SecretStr

from features.online_stores.redis_store import (
    OrderShieldRedisOnlineStore,
    OrderShieldRedisOnlineStoreConfig,
    redis_rows,
)
from features.online_stores.rows import Row, entity_id, micros, moment
from features.online_stores.sqlite import (
    OrderShieldSqliteOnlineStore,
    OrderShieldSqliteOnlineStoreConfig,
    database,
)
from features.repo import store_config
from features.settings import FeatureSettings


@pytest.mark.parametrize(
    ("kind", "store_class", "config_class"),
    [
        ("sqlite", OrderShieldSqliteOnlineStore, OrderShieldSqliteOnlineStoreConfig),
        ("redis", OrderShieldRedisOnlineStore, OrderShieldRedisOnlineStoreConfig),
    ],
)
def test_feast_resolves_our_store_from_the_generated_yaml(
    tmp_path: Path, kind: str, store_class: type, config_class: type
) -> None:
    settings = FeatureSettings(data_dir=tmp_path, online_store=kind)
    config = RepoConfig(**store_config(settings))
    assert config.online_store.type == f"{store_class.__module__}.{store_class.__qualname__}"
    assert get_online_config_from_type(config.online_store.type) is config_class
    assert isinstance(config.online_store, config_class)
    assert isinstance(get_online_store_from_config(config.online_store), store_class)


def test_the_redis_store_takes_a_plain_url_and_the_client_timeouts(tmp_path: Path) -> None:
    url = "rediss://:s3cret@cache.internal:6380/2"
    settings = FeatureSettings(data_dir=tmp_path, online_store="redis", redis_url=SecretStr(url))
    yaml_config = store_config(settings)
    yaml_config["online_store"] = {
        **cast(dict[str, object], yaml_config["online_store"]),
        "socket_timeout": 0.25,
        "socket_connect_timeout": 0.5,
        "key_ttl_seconds": 60,
    }
    rows = redis_rows(RepoConfig(**yaml_config))
    options = rows.client.connection_pool.connection_kwargs
    assert (options["host"], options["port"], options["db"]) == ("cache.internal", 6380, 2)
    assert options["password"] == "s3cret"
    assert (options["socket_timeout"], options["socket_connect_timeout"]) == (0.25, 0.5)
    assert rows.client.connection_pool.connection_class.__name__ == "SSLConnection"
    assert rows.ttl_seconds == 60


def test_a_relative_sqlite_path_is_in_the_feature_repo(tmp_path: Path) -> None:
    config = RepoConfig(
        project="p",
        provider="local",
        registry=str(tmp_path / "registry.db"),
        online_store={"type": OrderShieldSqliteOnlineStoreConfig().type, "path": "states.db"},
        repo_path=tmp_path,
        entity_key_serialization_version=3,
    )
    db = database(config)
    assert db.path == str(tmp_path / "states.db")
    db.write([Row("v", "k", {"f": b"value"}, event_us=micros(moment(1_700_000_000_000_001)))])
    cells = [("v", "k", "f"), ("v", "other", "f"), ("w", "k", "f")]
    assert db.read(cells) == [b"value", None, None]
    ((event_us, values),) = [r for r in db.read_rows("v", ["k"], ["f"]) if r]
    assert (event_us, values) == (1_700_000_000_000_001, {"f": b"value"})


def test_a_redis_read_gives_every_cell_in_its_place(tmp_path: Path, redis_url: str) -> None:
    settings = FeatureSettings(
        data_dir=tmp_path, online_store="redis", redis_url=SecretStr(redis_url)
    )
    rows = redis_rows(RepoConfig(**store_config(settings)))
    written = micros(moment(1_700_000_000_000_001))
    rows.write([Row("v", "cells-k", {"f": b"\x00value\xff", "g": b""}, event_us=written)])
    # Missing cells first, between and last: each reads as None in its own place.
    cells = [("v", "cells-none", "f"), ("v", "cells-k", "f"), ("v", "cells-k", "missing")]
    cells += [("v", "cells-k", "g"), ("w", "cells-k", "f")]
    assert rows.read(cells) == [None, b"\x00value\xff", None, b"", None]
    assert rows.read([]) == []


def test_the_redis_client_parses_replies_in_c(tmp_path: Path) -> None:
    # hiredis packs and parses in C: without it every scored order pays Python's parser.
    settings = FeatureSettings(data_dir=tmp_path, online_store="redis")
    pool = redis_rows(RepoConfig(**store_config(settings))).client.connection_pool
    connection = pool.make_connection()  # built, not connected: no server needed
    assert type(connection._parser).__name__ == "_HiredisParser"


def test_rows_are_keyed_by_one_string_join_key() -> None:
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    device = EntityKey(join_keys=["device_id"], entity_values=[Value(string_val="d1")])
    assert entity_id(device) == "d1"
    with pytest.raises(ValueError, match="one string join key"):
        entity_id(EntityKey(join_keys=["n"], entity_values=[Value(int64_val=1)]))
