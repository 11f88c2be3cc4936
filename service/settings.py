"""Settings of the service: its database, web server, sessions and sign-in lockout."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import AwareDatetime, Field, SecretStr, model_validator

from models.settings import ModelSettings


class ServiceSettings(ModelSettings):
    """The model settings, and everything the running service adds to them."""

    database_url: SecretStr | None = Field(
        None, description="decisions DB; default: SQLite under the data dir"
    )
    threads: int = Field(4, ge=1, description="threads running scoring work in one process")
    decision_deadline_ms: float = Field(
        50.0, gt=0, description="budget of one decision; every call on its path times out inside it"
    )
    decision_write_timeout_ms: float = Field(
        200.0,
        gt=0,
        description="least time the decision's durable write may wait for the database "
        "(queue, locks, statements) when the deadline has less left; past it: 503",
    )
    fail_policy: Literal["open", "review", "model"] = Field(
        "model",
        description="how an order is decided when its entity features cannot be read: "
        "model (request-time features, degraded cut points), review (hold, stock frozen), "
        "open (approve, flag)",
    )
    ready_when_degraded: bool = Field(
        True,
        description="/readyz answers 200 while only the online store is out "
        "(the instance still decides, degraded): keep it in the load balancer's rotation",
    )
    health_probe_seconds: float = Field(
        1.0, gt=0, description="how often the dependencies /readyz reports are probed"
    )
    rebuild_features_automatically: bool = Field(
        True, description="rebuild the online store's states when it lost them"
    )
    max_body_bytes: int = Field(262_144, description="largest accepted request body")
    earliest_event_time: AwareDatetime = Field(
        datetime(2000, 1, 1, tzinfo=UTC),
        description="earliest created_at or known_at a request may name (422 before it)",
    )
    max_clock_skew_seconds: float = Field(
        300.0, ge=0, description="how far past now a request's times may lie (clocks differ)"
    )
    model_poll_seconds: float = Field(30.0, description="how often to check the champion alias")
    outbox_retry_seconds: float = Field(
        1.0, gt=0, description="how often to drain the feature-update outbox"
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
    docs_require_sign_in: bool = Field(
        False, description="serve /docs and /openapi.json to signed-in people only"
    )
    rate_limit_per_key: str = Field(
        "1000/second", description="calls one API key may make per window (`limits` notation)"
    )
    rate_limit_failed_keys_per_client: str = Field(
        "60/minute", description="calls with a missing or unknown key one client address may make"
    )
    rate_limit_storage_url: SecretStr | None = Field(
        None,
        description="where rate limits are counted (memory://, redis://…); default: "
        "REDIS_URL with the Redis online store, else this process's memory",
    )
    rate_limit_timeout_ms: float = Field(
        20.0, gt=0, description="longest wait for the rate limit store; past it the call passes"
    )
    http_read_timeout_seconds: float = Field(
        5.0, gt=0, description="time a client has to send a request's headers and body"
    )
    http_keep_alive_seconds: int = Field(
        5, ge=1, description="how long an idle keep-alive connection stays open"
    )
    http_max_header_bytes: int = Field(
        16_384, ge=1024, description="largest request line and headers accepted"
    )
    http_max_concurrency: int | None = Field(
        1000, ge=1, description="connections and requests one process takes before answering 503"
    )

    review_sla_seconds: float = Field(
        4 * 3600.0, gt=0, description="time a reviewer has to decide a case before it expires"
    )
    review_claim_seconds: float = Field(
        900.0, gt=0, description="how long a claimed case stays locked to its reviewer"
    )
    review_expiry_outcome: Literal["release", "cancel"] = Field(
        "release", description="what an expired case does to the order's frozen stock"
    )
    review_critical: bool = Field(
        False, description="also open review cases for critical (declined) orders"
    )

    webhook_timeout_seconds: float = Field(
        5.0, gt=0, description="timeout of each network step of one webhook POST"
    )
    webhook_backoff_base_seconds: float = Field(
        2.0, gt=0, description="first retry delay of a failed webhook, doubled per attempt"
    )
    webhook_backoff_max_seconds: float = Field(
        3600.0, gt=0, description="longest delay between two attempts of a webhook"
    )
    webhook_give_up_seconds: float = Field(
        3 * 86_400.0, gt=0, description="how long a webhook is retried before it is failed"
    )
    webhook_poll_seconds: float = Field(
        1.0, gt=0, description="how often the service delivers due webhooks"
    )
    webhook_secret_grace_seconds: float = Field(
        86_400.0, ge=0, description="how long a rotated-out webhook secret still signs"
    )

    audit_signing_key: SecretStr | None = Field(
        None,
        description="Ed25519 key that signs audit checkpoints: a PEM file's path or the PEM "
        "itself; default: audit/signing-key.pem under the data dir (`ordershield audit keygen`)",
    )
    audit_checkpoint_dir: Path | None = Field(
        None, description="where signed checkpoints are written; default: audit/checkpoints"
    )
    audit_checkpoint_seconds: float = Field(
        300.0, gt=0, description="how often the service signs a checkpoint of a grown log"
    )
    audit_sequence_seconds: float = Field(
        1.0, gt=0, description="how often pending audit entries get their place in the log"
    )
    audit_sequence_in_server: bool = Field(
        True,
        description="sequence the audit log in each server process; false when "
        "`ordershield audit sequencer` runs as a process of its own",
    )
    audit_witness_url: str | None = Field(
        None, description="URL each new checkpoint is also POSTed to (a witness), if set"
    )
    audit_witness_timeout_seconds: float = Field(
        2.0, gt=0, description="how long a witness may take to accept a checkpoint"
    )

    @model_validator(mode="after")
    def _store_timeout_fits_the_deadline(self) -> ServiceSettings:
        """Refuse an online store timeout that leaves no room for the rest of a decision."""
        if self.online_store_timeout_ms * 2 > self.decision_deadline_ms:
            raise ValueError(
                f"online_store_timeout_ms ({self.online_store_timeout_ms:g}) must be at most "
                f"half of decision_deadline_ms ({self.decision_deadline_ms:g})"
            )
        return self

    @property
    def signing_key_source(self) -> str:
        """Return where the audit signing key is: PEM text or a file path."""
        if self.audit_signing_key is not None:
            return self.audit_signing_key.get_secret_value()
        return str(self.data_dir.resolve() / "audit" / "signing-key.pem")

    @property
    def checkpoint_dir(self) -> Path:
        """Return the folder of the signed checkpoint files."""
        return self.audit_checkpoint_dir or self.data_dir.resolve() / "audit" / "checkpoints"

    @property
    def db_url(self) -> str:
        """Return the decisions database URL (SQLite in WAL mode under the data dir by default)."""
        if self.database_url:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.data_dir.resolve() / 'ordershield.db'}"
