"""OrderShield's settings: environment variables prefixed `ORDERSHIELD_`.

The settings live in the lowest package so that every layer reads the same
object; `ordershield config` prints them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where OrderShield keeps its state and which production parts it talks to."""

    model_config = SettingsConfigDict(env_prefix="ORDERSHIELD_", extra="ignore")

    data_dir: Path = Field(Path(".ordershield"), description="all state of the embedded defaults")
    online_store: Literal["sqlite", "redis"] = Field("sqlite", description="Feast online store")
    redis_url: str = Field("redis://localhost:6379/0", description="Redis for the online store")
    mlflow_tracking_uri: str | None = Field(None, description="default: SQLite under the data dir")
    model_name: str = Field("ordershield", description="registered model name in MLflow")
    database_url: str | None = Field(
        None, description="decisions DB; default: SQLite under the data dir"
    )
    threads: int = Field(4, ge=1, description="threads running scoring work in one process")
    max_body_bytes: int = Field(262_144, description="largest accepted request body")
    model_poll_seconds: float = Field(30.0, description="how often to check the champion alias")
    outbox_retry_seconds: float = Field(
        5.0, description="how often to retry queued feature updates"
    )
    masking_policy: Path | None = Field(
        None, description="YAML attribute masking policy; default: the one shipped"
    )
    session_idle_seconds: float = Field(1800.0, gt=0, description="idle time that ends a session")
    session_max_seconds: float = Field(43_200.0, gt=0, description="longest life of a session")
    cookie_secure: bool | None = Field(
        None, description="mark session cookies Secure; default: when the request came over HTTPS"
    )
    login_max_failures: int = Field(5, ge=1, description="failed sign-ins that lock a username")
    login_lockout_seconds: float = Field(
        900.0, gt=0, description="window of counted failures, and length of the lock"
    )

    @property
    def feature_repo(self) -> Path:
        """Return the folder of the generated Feast repo."""
        return self.data_dir.resolve() / "feature_repo"

    @property
    def offline_dir(self) -> Path:
        """Return the folder of the offline sources (parquet)."""
        return self.data_dir.resolve() / "offline"

    @property
    def orders_path(self) -> Path:
        """Return the canonical order log the features are computed from."""
        return self.data_dir.resolve() / "orders.parquet"

    @property
    def tracking_uri(self) -> str:
        """Return the MLflow tracking URI (a SQLite store under the data dir by default)."""
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{self.data_dir.resolve() / 'mlflow.db'}"

    @property
    def db_url(self) -> str:
        """Return the decisions database URL (SQLite in WAL mode under the data dir by default)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir.resolve() / 'ordershield.db'}"

    @property
    def artifact_root(self) -> Path:
        """Return where the embedded MLflow store keeps artifacts."""
        return self.data_dir.resolve() / "mlartifacts"

    def feast_redis_connection(self) -> str:
        """Return the Redis URL in Feast's `host:port,db=N,password=P` form."""
        url = urlparse(self.redis_url)
        parts = [f"{url.hostname or 'localhost'}:{url.port or 6379}"]
        db = (url.path or "/0").lstrip("/") or "0"
        parts.append(f"db={db}")
        if url.password:
            parts.append(f"password={url.password}")
        if url.scheme == "rediss":
            parts.append("ssl=true")
        return ",".join(parts)
