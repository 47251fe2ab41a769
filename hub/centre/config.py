"""The command centre's config file (`shouwang command-centre --config centre.yaml`).

    centre:
      name: xuhui                     # actions are recorded as centre:xuhui/<user>
      title: 徐汇区某街道应急指挥中心
      communities:                    # leave out to take every community that reports
        - {id: heyuan, name: 和苑社区, location: {lat: 31.19, lon: 121.43}}
    mqtt: {host: 10.0.0.2, port: 1883}    # the centre's broker, the communities bridge to it
    http: {host: 0.0.0.0, port: 8090}
    data: centre-data                  # the centre's own SQLite (centre.db)
    cap:                               # warnings the centre issues
      sender: centre@xuhui.example
      sign: {key_file: centre-key.pem, cert_file: centre-cert.pem}

Secrets come from the environment: SHOUWANG_MQTT_PASSWORD, and the signing key's passphrase
from the variable named by `sign.passphrase_env`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from devices.site import LocationSpec
from devices.yamlsource import ConfigError
from hub.config import HttpConfig, HubSecrets, MqttConfig, read_config_file
from hub.mqtt import MqttOptions

_NAME = r"^[A-Za-z0-9_\-]{1,64}$"


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CommunitySpec(_Spec):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]{0,63}$")
    name: str | None = None
    location: LocationSpec | None = None


class CentreSpec(_Spec):
    name: str = Field(pattern=_NAME)
    title: str | None = None
    communities: list[CommunitySpec] = []


class SignSpec(_Spec):
    key_file: str
    cert_file: str
    passphrase_env: str | None = None


class CentreCapSpec(_Spec):
    sender: str | None = Field(None, pattern=r"^[^\s,<&]+$")
    """CAP sender of the centre's warnings; `shouwang-centre@<name>` unless given."""
    timezone: str = "Asia/Shanghai"
    sign: SignSpec | None = None


class CentreConfigSpec(_Spec):
    centre: CentreSpec
    mqtt: MqttConfig = MqttConfig()
    http: HttpConfig = HttpConfig(port=8090)
    data: str = "centre-data"
    cap: CentreCapSpec = CentreCapSpec()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


@dataclass(frozen=True, slots=True)
class CentreConfig:
    spec: CentreConfigSpec
    data_dir: Path
    base: Path
    secrets: HubSecrets

    @property
    def name(self) -> str:
        return self.spec.centre.name

    @property
    def sender(self) -> str:
        return self.spec.cap.sender or f"shouwang-centre@{self.name}"

    def path(self, name: str) -> Path:
        """A path from the file, relative to the file's folder."""
        return Path(name) if Path(name).is_absolute() else self.base / name

    def mqtt_options(self) -> MqttOptions:
        m = self.spec.mqtt
        # The hub's default client id would collide with a hub on the same broker.
        client_id = m.client_id if m.client_id != "shouwang-hub" else \
            f"shouwang-centre-{self.name}"
        return m.options(self.secrets.mqtt_password, client_id=client_id)


def load_centre_config(path: Path, secrets: HubSecrets | None = None) -> CentreConfig:
    """Raises ConfigError (file:line) for anything wrong in the file."""
    source = str(path)
    spec, lines = read_config_file(path, CentreConfigSpec)
    ids = [c.id for c in spec.centre.communities]
    for i, community in enumerate(spec.centre.communities):
        if ids.index(community.id) != i:
            where = ("centre", "communities", i, "id")
            raise ConfigError(source, lines.line_of(where), "centre.communities",
                              f"community {community.id!r} is listed twice")
    base = path.parent
    data_dir = Path(spec.data) if Path(spec.data).is_absolute() else base / spec.data
    return CentreConfig(spec, data_dir, base, secrets or HubSecrets())
