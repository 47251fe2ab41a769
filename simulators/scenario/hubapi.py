"""The hub's HTTP API as a scenario runner uses it, like any other client.

Responses are read through pydantic models that keep only what scenarios check (and ignore
what the hub adds later). Transport and HTTP errors become `HubError`, said once, here:
an unreachable hub, a refused token, a clock that cannot be set.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from simulators.scenario.model import AlertView


class HubError(Exception):
    """The hub could not be asked, or said no. `status` is the HTTP status when it answered."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class HealthBody(_Body):
    site: str
    devices: int
    devices_online: int
    mqtt_connected: bool


class ClockBody(_Body):
    now: float
    simulated: bool
    speed: float


class _Subject(_Body):
    level: str
    id: str


class _Alert(_Body):
    id: str
    rule: str
    category: str
    severity: str
    active: bool
    place: str
    subject: _Subject
    device: str
    raised_at: float
    cleared_at: float | None = None
    exercise: bool = False


_B = TypeVar("_B", bound=_Body)


class DeliveryBody(_Body):
    receiver: str
    transition: str
    state: str
    recipient: str | None = None
    sent_at: float | None = None
    detail: str | None = None


class HubApi:
    """`async with HubApi.connect(url, token)`, or wrap a client of your own (tests pass one
    that talks to an in-process app)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    @classmethod
    def connect(cls, url: str, token: str | None = None, timeout: float = 10.0) -> HubApi:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return cls(httpx.AsyncClient(base_url=url.rstrip("/"), headers=headers,
                                     timeout=timeout))

    @property
    def url(self) -> str:
        return str(self._client.base_url)

    async def __aenter__(self) -> HubApi:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()

    async def _call(self, method: str, path: str, *, json: Any = None,
                    params: dict[str, Any] | None = None, ok: tuple[int, ...] = (200, 201)
                    ) -> httpx.Response:
        try:
            response = await self._client.request(method, path, json=json, params=params)
        except httpx.HTTPError as exc:
            raise HubError(f"cannot reach the hub at {self.url}: {exc}") from None
        if response.status_code in ok:
            return response
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        if response.status_code in (401, 403):
            raise HubError(f"the hub refused {method} {path} ({response.status_code}): "
                           f"{detail}. Give an API token with --token or SHOUWANG_TOKEN "
                           "(a role that may run drills and set the clock)",
                           response.status_code)
        raise HubError(f"{method} {path}: {response.status_code} {detail}",
                       response.status_code)

    @staticmethod
    def _read(model: type[_B], data: Any, what: str) -> _B:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise HubError(f"unexpected {what} from the hub: {exc.errors()[0]['msg']} at "
                           f"{exc.errors()[0]['loc']}") from None

    async def health(self) -> HealthBody:
        return self._read(HealthBody, (await self._call("GET", "/api/health")).json(),
                          "health")

    async def clock(self) -> ClockBody:
        return self._read(ClockBody, (await self._call("GET", "/api/clock")).json(), "clock")

    async def set_clock(self, now: float | None = None, speed: float | None = None
                        ) -> ClockBody:
        body: dict[str, float] = {}
        if now is not None:
            body["now"] = now
        if speed is not None:
            body["speed"] = speed
        response = await self._call("PUT", "/api/clock", json=body)
        return self._read(ClockBody, response.json(), "clock")

    async def alerts(self) -> list[AlertView]:
        data = (await self._call("GET", "/api/alerts", params={"limit": 10_000})).json()
        if not isinstance(data, list):
            raise HubError("unexpected alert list from the hub: not a list")
        out = []
        for item in data:
            a = self._read(_Alert, item, "alert")
            out.append(AlertView(a.id, a.rule, a.category, a.severity, a.active, a.place,
                                 a.subject.id, a.device, a.raised_at, a.cleared_at,
                                 a.exercise))
        return out

    async def deliveries(self, alert_id: str) -> list[DeliveryBody]:
        data = (await self._call("GET", f"/api/alerts/{alert_id}/deliveries")).json()
        return [self._read(DeliveryBody, item, "delivery") for item in data]

    async def cap(self, alert_id: str) -> str:
        return (await self._call("GET", f"/api/alerts/{alert_id}/cap")).text

    # A hub with logins takes who acts from the token; an older one from the body. The new
    # shape is tried first, the old one when the hub asks for a `by` / `user` field.

    async def start_drill(self, name: str, by: str) -> None:
        try:
            await self._call("POST", "/api/drill", json={"name": name})
        except HubError as exc:
            if exc.status != 422:
                raise
            await self._call("POST", "/api/drill", json={"name": name, "by": by})

    async def end_drill(self, by: str) -> None:
        await self._call("DELETE", "/api/drill", params={"by": by})

    async def act(self, alert_id: str, action: Literal["acknowledge", "clear"], user: str,
                  note: str | None = None) -> None:
        path = f"/api/alerts/{alert_id}/{'ack' if action == 'acknowledge' else 'clear'}"
        try:
            await self._call("POST", path, json={"note": note})
        except HubError as exc:
            if exc.status != 422:
                raise
            await self._call("POST", path, json={"user": user, "note": note})
