"""Settings of the model layer: the MLflow store and the registered model's name."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from features.settings import FeatureSettings


class ModelSettings(FeatureSettings):
    """The feature settings, and where the model registry lives."""

    mlflow_tracking_uri: SecretStr | None = Field(
        None, description="MLflow tracking store; default: SQLite under the data dir"
    )
    model_name: str = Field("ordershield", description="registered model name in MLflow")

    @property
    def tracking_uri(self) -> str:
        """Return the MLflow tracking URI (a SQLite store under the data dir by default)."""
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri.get_secret_value()
        return f"sqlite:///{self.data_dir.resolve() / 'mlflow.db'}"

    @property
    def artifact_root(self) -> Path:
        """Return where the embedded MLflow store keeps artifacts."""
        return self.data_dir.resolve() / "mlartifacts"
