"""The `delivery:` section of the hub config: receivers, routes and escalation.

    delivery:
      receivers:
        sms:   {channel: sms, url: "http://sms-gw/send", token_env: SHOUWANG_SMS_TOKEN}
        duty:  {channel: wecom, key_env: SHOUWANG_WECOM_KEY, fallback: sms}
        cmd:   {channel: mqtt}
      routes:
        - name: fire-and-gas
          match: {categories: [fire, gas]}
          people: [floor_leader, duty_officer]
          via: [sms, cmd]
          groups: [duty]
          speakers: cmd
          group_by: [rule, building]
          group_wait: 10s
      escalation: {critical: 2m, major: 10m, minor: 30m}

Secrets are named by environment variable (`*_env`), never written in the file.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rules.routing import CHAIN
from rules.schema import Category, Severity, parse_duration


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Receiver(_Spec):
    fallback: str | None = None
    """Another receiver to use after `fallback_after` failed attempts (SMS when a robot is down)."""
    fallback_after: int = Field(3, ge=1, le=100)
    concurrency: int = Field(4, ge=1, le=100)
    timeout: float = Field(5.0, gt=0, le=120)


class WebhookSpec(_Receiver):
    channel: Literal["webhook"]
    url: str
    secret_env: str | None = None


class WecomSpec(_Receiver):
    channel: Literal["wecom"]
    key_env: str
    base_url: str | None = None
    mention: bool = False


class DingtalkSpec(_Receiver):
    channel: Literal["dingtalk"]
    token_env: str
    secret_env: str | None = None
    base_url: str | None = None


class FeishuSpec(_Receiver):
    channel: Literal["feishu"]
    hook_env: str
    secret_env: str | None = None
    base_url: str | None = None


class SmsSpec(_Receiver):
    channel: Literal["sms"]
    url: str
    token_env: str | None = None
    template: dict[str, object] | None = None


class EmailSpec(_Receiver):
    channel: Literal["email"]
    host: str
    port: int = 587
    sender: str
    to: list[str] = []
    security: Literal["starttls", "tls", "plain"] = "starttls"
    username: str | None = None
    password_env: str | None = None


class MqttSpec(_Receiver):
    channel: Literal["mqtt"]
    topic: str = "duty"


ReceiverSpec = Annotated[
    WebhookSpec | WecomSpec | DingtalkSpec | FeishuSpec | SmsSpec | EmailSpec | MqttSpec,
    Field(discriminator="channel"),
]

Role = Literal["floor_leader", "building_leader", "grid_leader", "duty_officer",
               "command_centre", "care_operator"]
GroupLabel = Literal["rule", "category", "severity", "grid", "building", "floor", "place"]


class MatchSpec(_Spec):
    categories: list[Category] = []
    severities: list[Severity] = []
    rules: list[str] = []
    places: list[str] = []


class RouteSpec(_Spec):
    name: str
    match: MatchSpec = MatchSpec()
    people: list[Role] = []
    via: list[str] = []
    groups: list[str] = []
    speakers: str | None = None
    group_by: list[GroupLabel] = []
    group_wait: float = 0.0
    repeat_interval: float | None = None
    continue_: bool = Field(False, alias="continue")

    @field_validator("group_wait", "repeat_interval", mode="before")
    @classmethod
    def _duration(cls, value: object) -> float | None:
        return None if value is None else parse_duration(value)

    @model_validator(mode="after")
    def _reaches_someone(self) -> RouteSpec:
        if self.people and not self.via:
            raise ValueError("`people` need `via`: the receivers that reach a person")
        if not self.people and not self.groups and not self.speakers:
            raise ValueError("a route must tell someone: give people, groups or speakers")
        return self


class RetrySpec(_Spec):
    first: float = 1.0
    max: float = 300.0

    @field_validator("first", "max", mode="before")
    @classmethod
    def _duration(cls, value: object) -> float:
        return parse_duration(value)


class DeliverySpec(_Spec):
    receivers: dict[str, ReceiverSpec]
    routes: list[RouteSpec] = Field(min_length=1)
    escalation: dict[Severity, float] = {}
    chain: list[Role] = list(CHAIN)  # type: ignore[arg-type]
    retry: RetrySpec = RetrySpec()
    public_url: str | None = None
    """Where people open the hub (links in messages), e.g. http://10.0.0.5:8080."""

    @field_validator("escalation", mode="before")
    @classmethod
    def _durations(cls, value: object) -> object:
        if isinstance(value, dict):
            return {k: parse_duration(v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _names_exist(self) -> DeliverySpec:
        for name, receiver in self.receivers.items():
            if receiver.fallback is not None and receiver.fallback not in self.receivers:
                raise ValueError(f"receiver {name!r}: fallback {receiver.fallback!r} "
                                 "is not a receiver")
            if receiver.fallback == name:
                raise ValueError(f"receiver {name!r} cannot fall back to itself")
        for route in self.routes:
            for wanted in [*route.via, *route.groups,
                           *([route.speakers] if route.speakers else [])]:
                if wanted not in self.receivers:
                    raise ValueError(f"route {route.name!r}: no receiver {wanted!r} "
                                     f"(receivers: {', '.join(self.receivers)})")
            if route.speakers and not isinstance(self.receivers[route.speakers], MqttSpec):
                raise ValueError(f"route {route.name!r}: speakers need an mqtt receiver")
        return self
