"""One typed settings object for the whole service.

Values come from environment variables prefixed ``COMMUNITY_`` (or a ``.env`` file); nothing reads the
environment on import: the composition root (``community.runtime``) builds one ``Settings`` and passes it on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COMMUNITY_", env_file=".env", extra="ignore")

    mode: Literal["local", "production"] = Field(
        default="local", description="production refuses to start with missing or placeholder credentials")
    role: Literal["all", "ingest", "alerts"] = Field(
        default="all",
        description="all: one process does everything; ingest: MQTT -> InfluxDB only (several may share the "
                    "stream through mqtt_shared_group); alerts: its own MQTT session -> alert engine, notifications "
                    "(one per deployment). See docs/architecture.md, 'Process roles'.")

    # --- MQTT (gateway) ---
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 18830
    mqtt_username: str | None = None
    mqtt_password: str | None = None
    mqtt_client_id: str = "community-gateway"
    mqtt_topic_prefix: str = "community"
    mqtt_shared_group: str | None = Field(
        default=None, description="join $share/<group>/... so several instances split the stream"
    )
    mqtt_session_expiry_s: int = Field(default=86_400, ge=0, description="broker keeps our queue this long")
    mqtt_receive_maximum: int = Field(default=10_000, ge=1, le=65_535, description="unacked QoS 1 in flight")
    mqtt_keepalive_s: int = 30

    # --- contract limits ---
    max_payload_bytes: int = Field(default=16_384, ge=256)
    max_clock_skew_future_s: int = Field(default=300, ge=0)
    max_age_past_s: int = Field(default=7 * 86_400, ge=60)

    # --- InfluxDB (ingest), v1 HTTP API ---
    influx_url: str = "http://127.0.0.1:18086"
    influx_db: str = "community"
    influx_retention_policy: str | None = None
    influx_username: str | None = None
    influx_password: str | None = None
    influx_token: str | None = Field(default=None, description="InfluxDB 2.x/3.x token for the v1 API")
    influx_timeout_s: float = 5.0
    batch_max_points: int = Field(default=5_000, ge=1)
    batch_max_delay_s: float = Field(default=0.25, gt=0)
    write_retries: int = Field(default=3, ge=0)

    # --- local state ---
    data_dir: Path = Path("var")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite in data_dir")

    # --- alerts, notifications ---
    rules_file: Path | None = Field(default=None, description="alert rules YAML; default: the shipped rule set")
    alert_tick_s: float = Field(default=1.0, gt=0)
    notice_topic_prefix: str = "community-notices"
    notify_topic_prefix: str = "community-notify"
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_sender: str = "community-monitor@localhost"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    webhook_timeout_s: float = 5.0
    notify_max_attempts: int = Field(default=6, ge=1)
    notify_backoff_s: float = Field(default=1.0, gt=0)

    # --- HTTP ---
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    operator_token: str | None = Field(
        default=None, description="bearer token for operator routes; a random one is made and logged if unset"
    )

    @field_validator("mqtt_topic_prefix")
    @classmethod
    def _prefix_has_no_wildcards(cls, value: str) -> str:
        if not value or any(c in value for c in "#+/") :
            raise ValueError("must be one topic level without '/', '+' or '#'")
        return value

    @model_validator(mode="after")
    def _production_needs_real_credentials(self) -> Settings:
        if self.mode != "production":
            return self
        problems = []
        if _weak(self.operator_token):
            problems.append("COMMUNITY_OPERATOR_TOKEN must be set to a random value of 24+ characters")
        if not self.mqtt_username or _weak(self.mqtt_password, minimum=12):
            problems.append("COMMUNITY_MQTT_USERNAME and a 12+ character COMMUNITY_MQTT_PASSWORD are required")
        if not (self.influx_token or (self.influx_username and not _weak(self.influx_password, minimum=12))):
            problems.append("COMMUNITY_INFLUX_TOKEN (or INFLUX_USERNAME and a 12+ character password) is required")
        if not self.database_url or not self.database_url.startswith("postgresql"):
            problems.append("COMMUNITY_DATABASE_URL must point at PostgreSQL in production")
        if problems:
            raise ValueError("refusing to start in production mode: " + "; ".join(problems))
        return self

    @property
    def spool_dir(self) -> Path:
        """The alerts role spools only its ticket metrics, apart from an ingest process on the same data dir."""
        return self.data_dir / ("spool-alerts" if self.role == "alerts" else "spool")

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'community.db').resolve()}"


PLACEHOLDERS = {"changeme", "change-me", "change_me", "secret", "password", "admin", "token", "default", "example",
                "test", "local", "community"}


def _weak(value: str | None, minimum: int = 24) -> bool:
    """Missing, short, or a placeholder anyone would guess."""
    return not value or len(value) < minimum or value.lower().strip("-_0123456789") in PLACEHOLDERS
