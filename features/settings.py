"""Settings of the feature layer: the data dir, the online store and the reporting currency.

Every layer extends the settings of the one below it (`models.settings`,
`service.settings`), so one object carries them all, read from environment
variables with the one prefix `ORDERSHIELD_`; `ordershield config` prints them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import iso4217
from pydantic import Field, SecretStr, field_validator
from pydantic_extra_types.currency_code import Currency
from pydantic_settings import BaseSettings, SettingsConfigDict

PREFIX = "ORDERSHIELD_"
# The rate table read when no path is set, if the data dir has one (`features.currency`).
RATES_FILE = "exchange_rates.csv"


class FeatureSettings(BaseSettings):
    """Where the features are computed and kept, and which online store serves them."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore")

    data_dir: Path = Field(Path(".ordershield"), description="all state of the embedded defaults")
    online_store: Literal["sqlite", "redis"] = Field("sqlite", description="Feast online store")
    redis_url: SecretStr = Field(
        SecretStr("redis://localhost:6379/0"), description="Redis for the online store"
    )
    redis_timeout_seconds: float = Field(
        5.0, gt=0, description="longest wait for Redis in bulk work (materialize, rebuild)"
    )
    online_store_timeout_ms: float = Field(
        20.0, gt=0, description="longest wait for the online store on the scoring path"
    )
    online_lateness_seconds: float = Field(
        600.0,
        gt=0,
        description="how late an event may arrive after its entity's newest and count exactly",
    )
    online_store_breaker_failures: int = Field(
        3, ge=1, description="failed online store calls in a row that open its circuit breaker"
    )
    online_store_breaker_reset_seconds: float = Field(
        1.0, gt=0, description="how long an open breaker waits before one probe call"
    )
    reporting_currency: Currency = Field(
        Currency("EUR"), description="ISO 4217 currency every amount feature is in"
    )
    exchange_rates_path: Path | None = Field(
        None,
        description=f"CSV of dated rates (date,currency,per_<reporting currency>); default: "
        f"{RATES_FILE} in the data dir if there, else only the reporting currency converts",
    )

    feature_pack: Path | None = Field(
        None, description="YAML feature pack whose features join the built-in ones"
    )

    @field_validator("reporting_currency")
    @classmethod
    def _has_minor_units(cls, code: Currency) -> Currency:
        """Refuse a reporting currency ISO 4217 gives no minor units to round to (XSU, XUA)."""
        if iso4217.Currency(code).exponent is None:
            raise ValueError(f"{code} has no minor units to round amounts to")
        return code

    @property
    def exchange_rates(self) -> Path | None:
        """Return the rate table in use: the one set, else the data dir's if it has one."""
        if self.exchange_rates_path is not None:
            return self.exchange_rates_path
        # Beside the rest of the data: `simulate`, `demo` and `serve` find it with no setting.
        in_data_dir = self.data_dir / RATES_FILE
        return in_data_dir if in_data_dir.exists() else None

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
