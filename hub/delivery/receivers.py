"""Turn the `delivery:` config into live channels and a routing policy."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import SecretStr

from devices.site import Site
from hub.channels import dingtalk, feishu, wecom
from hub.channels.base import Channel
from hub.channels.dingtalk import DingTalkRobot
from hub.channels.email import EmailChannel
from hub.channels.feishu import FeishuBot
from hub.channels.mqtt_command import MqttCommand, Publish
from hub.channels.sms import SmsGateway
from hub.channels.webhook import Webhook
from hub.channels.wecom import WeComRobot
from hub.delivery.config import (
    DeliverySpec,
    DingtalkSpec,
    EmailSpec,
    FeishuSpec,
    MqttSpec,
    ReceiverSpec,
    SmsSpec,
    WebhookSpec,
    WecomSpec,
)
from rules.routing import Policy, Route


class ReceiverError(ValueError):
    """A receiver cannot be built: says which and why (a missing secret, usually)."""


def _secret(env: Mapping[str, str], name: str | None, receiver: str) -> SecretStr | None:
    if name is None:
        return None
    value = env.get(name)
    if not value:
        raise ReceiverError(f"receiver {receiver!r}: environment variable {name} is not set")
    return SecretStr(value)


def _required(env: Mapping[str, str], name: str, receiver: str) -> SecretStr:
    value = _secret(env, name, receiver)
    assert value is not None
    return value


def build_channel(name: str, spec: ReceiverSpec, *, publish: Publish, timezone: str,
                  env: Mapping[str, str]) -> Channel:
    t = spec.timeout
    if isinstance(spec, WebhookSpec):
        return Webhook(spec.url, secret_key=_secret(env, spec.secret_env, name),
                              timeout=t, name=name)
    if isinstance(spec, WecomSpec):
        return WeComRobot(_required(env, spec.key_env, name), timezone=timezone,
                          mention=spec.mention, timeout=t, name=name,
                          base_url=spec.base_url or wecom.BASE_URL)
    if isinstance(spec, DingtalkSpec):
        return DingTalkRobot(_required(env, spec.token_env, name),
                             secret_key=_secret(env, spec.secret_env, name), timezone=timezone,
                             timeout=t, name=name, base_url=spec.base_url or dingtalk.BASE_URL)
    if isinstance(spec, FeishuSpec):
        return FeishuBot(_required(env, spec.hook_env, name),
                         secret_key=_secret(env, spec.secret_env, name), timezone=timezone,
                         timeout=t, name=name, base_url=spec.base_url or feishu.BASE_URL)
    if isinstance(spec, SmsSpec):
        token = _secret(env, spec.token_env, name)
        if spec.template is not None:
            return SmsGateway(spec.url, template=spec.template, token=token, timeout=t,
                              name=name)
        return SmsGateway(spec.url, token=token, timeout=t, name=name)
    if isinstance(spec, EmailSpec):
        return EmailChannel(spec.host, spec.port, sender=spec.sender, to=spec.to,
                            security=spec.security, username=spec.username,
                            password=_secret(env, spec.password_env, name), timezone=timezone,
                            timeout=t, name=name)
    assert isinstance(spec, MqttSpec)
    return MqttCommand(publish, topic=spec.topic, name=name)


def build_channels(spec: DeliverySpec, *, publish: Publish, timezone: str,
                   env: Mapping[str, str]) -> dict[str, Channel]:
    return {name: build_channel(name, r, publish=publish, timezone=timezone, env=env)
            for name, r in spec.receivers.items()}


def build_policy(spec: DeliverySpec, site: Site) -> Policy:
    routes = []
    for route in spec.routes:
        places = []
        for place_id in route.match.places:
            place = site.places.get(place_id)
            if place is None:
                raise ReceiverError(f"route {route.name!r}: no place {place_id!r} in site "
                                    f"{site.id!r}")
            places.append(place)
        routes.append(Route(
            name=route.name, people=tuple(route.people), via=tuple(route.via),
            groups=tuple(route.groups), speakers=route.speakers,
            categories=frozenset(c.value for c in route.match.categories),
            severities=frozenset(s.value for s in route.match.severities),
            rules=frozenset(route.match.rules), places=tuple(places),
            group_by=tuple(route.group_by), group_wait_s=route.group_wait,
            repeat_s=route.repeat_interval, stop=not route.continue_))
    return Policy(tuple(routes), {s.value: d for s, d in spec.escalation.items()},
                  tuple(spec.chain))
