"""The hub's MQTT connection: paho-mqtt's network thread, handed to asyncio in batches.

Why not aiomqtt here: it creates a task and an `asyncio.wait` per message, ~2.8x slower than
paho's own loop (REFERENCE.md). Ingest must keep up with tens of thousands of messages a
second, so paho's thread appends raw messages to a deque and wakes the event loop at most
once per batch; everything from the callback world is turned into plain tuples here and
nothing else in the hub sees paho.

Backpressure: when the inbox holds `max_inbox` messages the paho thread waits, so it stops
reading its socket and the broker queues for us (QoS 1 on a persistent session) instead of
this process growing without bound.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from hub.mqttsock import BufferedSocket

logger = logging.getLogger(__name__)

RawMessage = tuple[str, bytes, float]
"""(topic, payload, time received) — the only shape ingest sees."""


class MqttError(Exception):
    """The broker could not be reached or refused us; the message says which and why."""


@dataclass(frozen=True, slots=True)
class TlsOptions:
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure: bool = False
    """Skip host-name checking — for a broker reached by IP on a private network only."""


@dataclass(frozen=True, slots=True)
class MqttOptions:
    host: str = "127.0.0.1"
    port: int = 1883
    client_id: str = "shouwang-hub"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: TlsOptions | None = None
    keepalive: int = 30
    persistent_session: bool = True
    """Fixed client id, no clean start: QoS 1 messages sent while we are down are kept."""
    will_topic: str | None = None
    will_payload: bytes = b"offline"
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 30.0
    max_inbox: int = 100_000


@dataclass(slots=True)
class LinkStats:
    received: int = 0
    connects: int = 0
    disconnects: int = 0
    publish_failures: int = 0
    inbox_waits: int = 0


class _BufferedClient(paho.Client):
    """paho with a read buffer under its socket (see hub.mqttsock)."""

    def _create_socket(self) -> Any:
        return BufferedSocket(super()._create_socket())


class MqttLink:
    """`async with MqttLink(options) as link:` connects; leaving disconnects."""

    def __init__(self, options: MqttOptions, *, on_connect: Callable[[], None] | None = None
                 ) -> None:
        self.options = options
        self.stats = LinkStats()
        self._subscriptions: dict[str, int] = {}
        self._inbox: deque[RawMessage] = deque()
        self._room = threading.Event()
        self._room.set()
        self._wake = asyncio.Event()
        self._wake_pending = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected = threading.Event()
        self._first_connect: asyncio.Future[None] | None = None
        self._closing = False
        self._user_on_connect = on_connect
        self._client = self._make_client()

    # ------------------------------------------------------------------ lifecycle

    def _make_client(self) -> paho.Client:
        o = self.options
        client = _BufferedClient(
            CallbackAPIVersion.VERSION2,
            client_id=o.client_id,
            clean_session=not o.persistent_session,
            protocol=paho.MQTTv311,
        )
        if o.username is not None:
            client.username_pw_set(o.username, o.password)
        if o.tls is not None:
            client.tls_set(ca_certs=o.tls.ca_file, certfile=o.tls.cert_file,
                           keyfile=o.tls.key_file, cert_reqs=ssl.CERT_REQUIRED)
            client.tls_insecure_set(o.tls.insecure)
        if o.will_topic is not None:
            client.will_set(o.will_topic, o.will_payload, qos=1, retain=True)
        client.reconnect_delay_set(int(o.reconnect_min_s), int(o.reconnect_max_s))
        # Deep enough for bursts of alert transitions; publish() checks rc so none vanish.
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_message = self._on_message
        return client

    async def __aenter__(self) -> MqttLink:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self, wait_s: float = 10.0) -> bool:
        """Start connecting and wait a while for the broker's answer.

        Returns False when the broker has not answered within `wait_s` (paho keeps retrying
        with backoff in its thread, so a hub started before its broker comes up by itself). Raises
        MqttError when the broker refuses us (bad credentials, not authorised): retrying
        cannot fix that, and the operator must be told at once.
        """
        self._loop = asyncio.get_running_loop()
        self._first_connect = self._loop.create_future()
        o = self.options
        self._client.connect_async(o.host, o.port, o.keepalive)
        self._client.loop_start()
        try:
            await asyncio.wait_for(asyncio.shield(self._first_connect), wait_s)
        except TimeoutError:
            logger.warning("MQTT broker %s:%s not reachable yet; still trying", o.host, o.port)
            return False
        except MqttError:
            await self.close()
            raise
        return True

    async def close(self) -> None:
        self._closing = True
        self._room.set()  # release a paho thread waiting for inbox room
        if self.options.will_topic is not None and self._connected.is_set():
            # A clean shutdown says so; the will only covers a crash.
            info = self._client.publish(self.options.will_topic, self.options.will_payload,
                                        qos=1, retain=True)
            if info.rc == paho.MQTT_ERR_SUCCESS:
                await asyncio.to_thread(info.wait_for_publish, 2.0)
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    # ------------------------------------------------------------------ paho thread side

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if reason.is_failure:
            error = MqttError(f"MQTT broker {self.options.host}:{self.options.port} refused "
                              f"the connection: {reason}")
            logger.error("%s", error)
            self._resolve_first_connect(error)
            return
        self.stats.connects += 1
        self._connected.set()
        session = "resumed" if getattr(flags, "session_present", False) else "new"
        logger.info("MQTT connected to %s:%s (%s session)", self.options.host,
                    self.options.port, session)
        for topic, qos in self._subscriptions.items():
            client.subscribe(topic, qos)
        if self._user_on_connect is not None:
            try:
                self._user_on_connect()
            except Exception:
                logger.exception("on_connect hook failed")
        self._resolve_first_connect(None)

    def _resolve_first_connect(self, error: MqttError | None) -> None:
        loop, future = self._loop, self._first_connect
        if loop is None or future is None:
            return

        def resolve() -> None:
            if future.done():
                return
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)

        loop.call_soon_threadsafe(resolve)

    def _on_connect_fail(self, client: paho.Client, userdata: Any) -> None:
        logger.debug("MQTT connect to %s:%s failed; retrying", self.options.host,
                     self.options.port)

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        self._connected.clear()
        if not self._closing:
            self.stats.disconnects += 1
            logger.warning("MQTT connection to %s:%s lost (%s); reconnecting",
                           self.options.host, self.options.port, reason)

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        inbox = self._inbox
        inbox.append((message.topic, cast(bytes, message.payload), time.time()))
        if len(inbox) >= self.options.max_inbox and not self._closing:
            self.stats.inbox_waits += 1
            self._room.clear()
            self._wake_consumer()
            self._room.wait()
        if not self._wake_pending:
            self._wake_consumer()

    def _wake_consumer(self) -> None:
        self._wake_pending = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    # ------------------------------------------------------------------ asyncio side

    def subscribe(self, topic: str, qos: int = 1) -> None:
        self._subscriptions[topic] = qos
        if self._connected.is_set():
            self._client.subscribe(topic, qos)

    async def next_batch(self, max_messages: int = 5_000) -> list[RawMessage]:
        """Wait for messages and return up to `max_messages` of them, oldest first.

        Always lets the loop turn once first: under sustained load the inbox is never empty,
        and without a real suspension here ingest would run batch after batch while the
        dispatcher, the timers and the API wait (measured: alert deliveries seconds late).
        """
        await asyncio.sleep(0)
        while not self._inbox:
            await self._wake.wait()
            self._wake.clear()
            self._wake_pending = False
        inbox = self._inbox
        count = min(len(inbox), max_messages)
        batch = [inbox.popleft() for _ in range(count)]
        if len(inbox) < self.options.max_inbox // 2:
            self._room.set()
        return batch

    @property
    def inbox_depth(self) -> int:
        return len(self._inbox)

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
                ) -> bool:
        """Queue a message; False (logged, counted) when paho refuses it."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):
            # NO_CONN is fine: paho keeps QoS>0 messages and sends them after reconnecting.
            self.stats.publish_failures += 1
            logger.error("MQTT publish to %s failed: %s", topic, paho.error_string(info.rc))
            return False
        return True
