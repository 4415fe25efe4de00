"""One typed settings object for the whole service, in sections.

Values come from environment variables prefixed ``COMMUNITY_`` (or a ``.env`` file). Every setting has one flat
name, ``COMMUNITY_<SECTION>_<FIELD>`` for a setting of a section (``COMMUNITY_MQTT_HOST`` is ``settings.mqtt.host``)
and ``COMMUNITY_<FIELD>`` for the few top-level ones. The same flat names work as keyword arguments
(``Settings(mqtt_port=1884)``), which is what tests and benchmarks use.

Nothing reads the environment on import: the composition root (``community.runtime``) builds one ``Settings`` and
passes each part only the section it needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.tls import MqttTls
from core.zones import zone


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MqttSettings(_Section):
    """The broker the gateway listens to (and the MQTT notification channel publishes on)."""

    host: str = "127.0.0.1"
    port: int = 18830
    username: str | None = None
    password: str | None = None
    client_id: str = "community-gateway"
    topic_prefix: str = "community"
    shared_group: str | None = Field(
        default=None, description="join $share/<group>/... so several instances split the stream")
    session_expiry_s: int = Field(default=86_400, ge=0, description="broker keeps our queue this long")
    receive_maximum: int = Field(default=10_000, ge=1, le=65_535, description="unacked QoS 1 in flight")
    keepalive_s: int = 30
    tls_ca_file: Path | None = Field(default=None, description="the broker's CA: connect with TLS (port 8883) and "
                                                                "verify the broker's certificate")
    tls_cert_file: Path | None = Field(default=None, description="our client certificate, if the broker asks")
    tls_key_file: Path | None = None
    allow_plaintext: bool = Field(default=False, description="production only: allow a broker without TLS")
    client: Literal["codec", "paho"] = Field(
        default="codec", description="the gateway's MQTT client: codec (the mqtt5 packet codec, 15-20x faster "
                                     "than paho at draining a session) or paho (paho-mqtt); docs/performance.md")

    @property
    def tls(self) -> MqttTls:
        return MqttTls(self.tls_ca_file, self.tls_cert_file, self.tls_key_file)

    @field_validator("topic_prefix")
    @classmethod
    def _prefix_has_no_wildcards(cls, value: str) -> str:
        if not value or any(c in value for c in "#+/"):
            raise ValueError("must be one topic level without '/', '+' or '#'")
        return value


class ContractSettings(_Section):
    """Limits of the payload contract (docs/mqtt-contract.md)."""

    max_payload_bytes: int = Field(default=16_384, ge=256)
    max_future_s: int = Field(default=300, ge=0, description="device clocks this far ahead are accepted")
    max_past_s: int = Field(default=7 * 86_400, ge=60, description="older messages are dead letters")


class InfluxSettings(_Section):
    """InfluxDB through its v1 HTTP API (1.x, and 2.x / 3.x with a token)."""

    url: str = "http://127.0.0.1:18086"
    db: str = "community"
    retention_policy: str | None = None
    username: str | None = None
    password: str | None = None
    token: str | None = Field(default=None, description="InfluxDB 2.x/3.x token for the v1 API")
    timeout_s: float = 5.0
    write_retries: int = Field(default=3, ge=0)


class BatchSettings(_Section):
    """How the ingest writer batches points."""

    max_points: int = Field(default=5_000, ge=1)
    max_delay_s: float = Field(default=0.25, gt=0)


class AlertSettings(_Section):
    tick_s: float = Field(default=1.0, gt=0, description="how often timers (silence, escalation) run")
    register_read_s: float = Field(default=10.0, gt=0, description="how soon a device rejected or decommissioned "
                                                                   "in the register stops its rules")
    sites: str | None = Field(default=None, description="alerts role: the sites this engine owns, comma-separated "
                                                        "(core/partition.py)")
    partition: str | None = Field(default=None, pattern=r"^\d+/\d+$",
                                  description="alerts role: k/N, this engine owns the sites whose CRC-32 mod N is k")
    switch_interval_ms: float = Field(default=1.0, gt=0, le=100,
                                      description="how often the interpreter hands over between threads where "
                                                  "alerts are judged (Python's own: 5 ms); see tune_switching")
    offload: bool = Field(default=True, description="analytics rules and the morning report in a child process "
                                                    "(core/offload.py), off the interpreter that judges faults")

    @model_validator(mode="after")
    def _one_way_to_partition(self) -> AlertSettings:
        if self.sites is not None and self.partition is not None:
            raise ValueError("give either alert sites or alert partition, not both")
        if self.sites is not None and not any(s.strip() for s in self.sites.split(",")):
            raise ValueError("alert sites is empty: name at least one site, or unset it for every site")
        if self.partition is not None:
            index, count = (int(part) for part in self.partition.split("/"))
            if count < 1 or not 0 <= index < count:
                raise ValueError(f"alert partition {self.partition!r}: k/N needs N >= 1 and 0 <= k < N")
        return self


class NotifySettings(_Section):
    """The notification outbox and where order feeds and owner notices are published."""

    topic_prefix: str = "community-notify"
    notice_topic_prefix: str = "community-notices"
    max_attempts: int = Field(default=6, ge=1)
    backoff_s: float = Field(default=1.0, gt=0)
    webhook_timeout_s: float = 5.0


class SmtpSettings(_Section):
    host: str | None = Field(default=None, description="no e-mail channel without it")
    port: int = 25
    sender: str = "community-monitor@localhost"
    username: str | None = None
    password: str | None = None
    starttls: bool = False


class RobotSecret(_Section):
    token: str = Field(min_length=1, description="the robot's access token (from its webhook address)")
    secret: str = Field(min_length=1, description="the signing secret (SEC... for DingTalk)")


class WecomSettings(_Section):
    """WeCom (企业微信) group robots, one per site's staff group: ``COMMUNITY_WECOM_ROBOTS='{"site1": "<key>"}'``."""

    url: str = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
    robots: dict[str, str] = Field(default_factory=dict, description="site -> the robot's webhook key")
    timeout_s: float = Field(default=5.0, gt=0)


class DingtalkSettings(_Section):
    """DingTalk (钉钉) custom robots with signing: ``COMMUNITY_DINGTALK_ROBOTS='{"site1": {"token": "...",
    "secret": "SEC..."}}'``."""

    url: str = "https://oapi.dingtalk.com/robot/send"
    robots: dict[str, RobotSecret] = Field(default_factory=dict)
    timeout_s: float = Field(default=5.0, gt=0)


class FeishuSettings(_Section):
    """Feishu (飞书) custom bots with signature verification, per site."""

    url: str = "https://open.feishu.cn/open-apis/bot/v2/hook/"
    robots: dict[str, RobotSecret] = Field(default_factory=dict)
    timeout_s: float = Field(default=5.0, gt=0)


class SmsSettings(_Section):
    """SMS through Aliyun's SendSms API (an approved signature and template: 工单 ${order} ${place} ${title})."""

    endpoint: str = "https://dysmsapi.aliyuncs.com/"
    access_key_id: str | None = Field(default=None, description="no SMS channel without it")
    access_key_secret: str | None = None
    sign_name: str | None = None
    template_code: str | None = None
    region: str = "cn-hangzhou"
    timeout_s: float = Field(default=5.0, gt=0)


class VoiceSettings(_Section):
    """Voice calls for life-safety escalation through Aliyun's SingleCallByTts API (keys default to the SMS ones)."""

    endpoint: str = "https://dyvmsapi.aliyuncs.com/"
    access_key_id: str | None = None
    access_key_secret: str | None = None
    called_show_number: str | None = Field(default=None, description="no voice channel without it")
    tts_code: str | None = None
    region: str = "cn-hangzhou"
    timeout_s: float = Field(default=10.0, gt=0)


class ReportSettings(_Section):
    """The daily report, sent every morning to each site's managers (docs/dashboards.md, "Daily report")."""

    time: str = Field(default="07:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="site-local time")
    check_s: float = Field(default=60.0, gt=0, description="how often the scheduler looks")
    public_url: str = Field(default="http://127.0.0.1:8080", description="the address people open links at")
    enabled: bool = True


class HttpSettings(_Section):
    host: str = "127.0.0.1"
    port: int = 8080
    secure_cookies: bool | None = Field(default=None, description="page cookies only over HTTPS; default: in "
                                                                    "production mode (TLS ends at the proxy)")
    ready_max_spool_points: int = Field(default=1_000_000, ge=0, description="/readyz fails past this spool size")
    ready_max_alert_backlog: int = Field(default=100_000, ge=0, description="/readyz fails past this engine backlog")


SECTIONS = ("mqtt", "contract", "influx", "batch", "alert", "notify", "smtp", "http", "wecom", "dingtalk", "feishu",
            "sms", "voice", "report")


class Settings(BaseSettings):
    # var/local.env: where `community services up` started the local servers; .env (later) wins over it
    model_config = SettingsConfigDict(env_prefix="COMMUNITY_", env_file=("var/local.env", ".env"), extra="forbid",
                                      env_nested_delimiter="_", env_nested_max_split=1)

    mode: Literal["local", "production"] = Field(
        default="local", description="production refuses to start with missing or placeholder credentials")
    role: Literal["all", "ingest", "alerts"] = Field(
        default="all",
        description="all: one process does everything; ingest: MQTT -> InfluxDB only (several may share the "
                    "stream through mqtt_shared_group); alerts: its own MQTT session -> alert engine, notifications "
                    "(one per deployment, or one per set of sites: alert_sites / alert_partition). See "
                    "docs/architecture.md, 'Process roles'.")
    data_dir: Path = Path("var")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite in data_dir")
    rules_file: Path | None = Field(default=None, description="alert rules YAML; default: the shipped rule set")
    operator_token: str | None = Field(
        default=None, description="bearer token for operator routes; a random one is made and logged if unset")
    timezone: str = Field(default="Asia/Shanghai", description="sites' time zone unless the rules file's `sites:` "
                                                                "gives one (IANA name)")
    language: Literal["zh_CN", "en"] = Field(default="zh_CN", description="people's language unless their own "
                                                                          "setting or their site's says otherwise")

    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    contract: ContractSettings = Field(default_factory=ContractSettings)
    influx: InfluxSettings = Field(default_factory=InfluxSettings)
    batch: BatchSettings = Field(default_factory=BatchSettings)
    alert: AlertSettings = Field(default_factory=AlertSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    wecom: WecomSettings = Field(default_factory=WecomSettings)
    dingtalk: DingtalkSettings = Field(default_factory=DingtalkSettings)
    feishu: FeishuSettings = Field(default_factory=FeishuSettings)
    sms: SmsSettings = Field(default_factory=SmsSettings)
    voice: VoiceSettings = Field(default_factory=VoiceSettings)
    report: ReportSettings = Field(default_factory=ReportSettings)

    @model_validator(mode="before")
    @classmethod
    def _flat_names(cls, data: Any) -> Any:
        """``mqtt_port=1884`` means ``mqtt={"port": 1884}``: keyword arguments use the environment's flat names."""
        if not isinstance(data, dict):
            return data
        out: dict[str, Any] = {}
        for key, value in data.items():
            section, _, name = key.partition("_")
            if section in SECTIONS and name and not isinstance(value, BaseModel):
                nested = out.setdefault(section, {})
                if isinstance(nested, dict):
                    nested[name] = value
                    continue
            if key in SECTIONS and isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = {**value, **out[key]}
                continue
            out[key] = value
        return out

    @model_validator(mode="after")
    def _partitions_are_for_alerts(self) -> Settings:
        if (self.alert.sites or self.alert.partition) and self.role != "alerts":
            raise ValueError(f"COMMUNITY_ALERT_SITES / COMMUNITY_ALERT_PARTITION are for the alerts role, not "
                             f"{self.role!r} (the ingest role stores every site; docs/architecture.md)")
        return self

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone(value)
        return value

    @model_validator(mode="after")
    def _production_needs_real_credentials(self) -> Settings:
        if self.mode != "production":
            return self
        problems = []
        if _weak(self.operator_token):
            problems.append("COMMUNITY_OPERATOR_TOKEN must be set to a random value of 24+ characters")
        if not self.mqtt.username or _weak(self.mqtt.password, minimum=12):
            problems.append("COMMUNITY_MQTT_USERNAME and a 12+ character COMMUNITY_MQTT_PASSWORD are required")
        influx = self.influx
        if not (influx.token or (influx.username and not _weak(influx.password, minimum=12))):
            problems.append("COMMUNITY_INFLUX_TOKEN (or INFLUX_USERNAME and a 12+ character password) is required")
        if not self.database_url or not self.database_url.startswith("postgresql"):
            problems.append("COMMUNITY_DATABASE_URL must point at PostgreSQL in production")
        if not self.mqtt.tls_ca_file and not self.mqtt.allow_plaintext:
            problems.append("COMMUNITY_MQTT_TLS_CA_FILE is required (the broker's CA; TLS on port 8883), or "
                            "COMMUNITY_MQTT_ALLOW_PLAINTEXT=true to talk to a broker without TLS")
        for name in ("tls_ca_file", "tls_cert_file", "tls_key_file"):
            path = getattr(self.mqtt, name)
            if path is not None and not Path(path).is_file():
                problems.append(f"COMMUNITY_MQTT_{name.upper()} {path} is not a readable file")
        problems += self._weak_channel_secrets()
        if problems:
            raise ValueError("refusing to start in production mode: " + "; ".join(problems))
        return self

    def _weak_channel_secrets(self) -> list[str]:
        """Robot keys and provider secrets that are set must not be placeholders."""
        weak = [f"COMMUNITY_WECOM_ROBOTS[{site}]" for site, key in self.wecom.robots.items() if _weak(key, 16)]
        for name, section in (("DINGTALK", self.dingtalk), ("FEISHU", self.feishu)):
            weak += [f"COMMUNITY_{name}_ROBOTS[{site}]" for site, robot in section.robots.items()
                     if _weak(robot.token, 16) or _weak(robot.secret, 16)]
        for name, section in (("SMS", self.sms), ("VOICE", self.voice)):
            if section.access_key_id and _weak(section.access_key_secret, 16):
                weak.append(f"COMMUNITY_{name}_ACCESS_KEY_SECRET")
        return [f"{name} is a placeholder or too short" for name in weak]

    @property
    def secure_cookies(self) -> bool:
        return self.http.secure_cookies if self.http.secure_cookies is not None else self.mode == "production"

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


NOT_SETTINGS = {"COMMUNITY_NEW_PASSWORD"}  # read by `community add-user`, not a service setting


def flat_names() -> set[str]:
    """Every setting's environment name."""
    names = {f"COMMUNITY_{name.upper()}" for name in Settings.model_fields if name not in SECTIONS}
    for section in SECTIONS:
        model = Settings.model_fields[section].annotation
        names |= {f"COMMUNITY_{section.upper()}_{name.upper()}" for name in model.model_fields}
    return names


def unknown_environment(environ: dict[str, str]) -> list[str]:
    """``COMMUNITY_*`` variables that name no setting (a typo, or a name from before settings had sections):
    pydantic-settings would ignore them silently, so the commands refuse to start instead."""
    known = flat_names() | NOT_SETTINGS
    return sorted(k for k in environ if k.upper().startswith("COMMUNITY_") and k.upper() not in known)
