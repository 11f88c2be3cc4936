"""feature_store.yaml: Redis timeouts from the settings, and a file only its owner reads."""

from __future__ import annotations

import stat
from pathlib import Path

import yaml

from features.repo import write_repo
from features.settings import FeatureSettings


def test_the_redis_store_gets_timeouts_and_its_password_stays_private(tmp_path: Path) -> None:
    settings = FeatureSettings(
        data_dir=tmp_path,
        online_store="redis",
        redis_url="redis://:hunter22@cache:6379/0",
        redis_timeout_seconds=0.25,
    )
    (tmp_path / "feature_repo").mkdir()
    (tmp_path / "feature_repo" / "feature_store.yaml").write_text("old")
    path = write_repo(settings) / "feature_store.yaml"
    online = yaml.safe_load(path.read_text())["online_store"]
    assert (online["socket_timeout"], online["socket_connect_timeout"]) == (0.25, 0.25)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600, "it holds the Redis password"
