"""The hub's MQTT connection: an asyncio protocol on the event loop, handed to ingest in batches.

Why not paho or aiomqtt here. aiomqtt creates a task and an `asyncio.wait` per message, ~2.8x
slower than paho's own loop (REFERENCE.md). paho needs a network thread of its own, and under
load that thread, the store writer and the event loop fought over the GIL: every hand-over
costs up to a switch interval, and alert delivery (which needs many loop turns per message)
waited behind it (docs/delivery-latency.md). So the hub speaks MQTT 3.1.1 itself, on the loop:
one `data_received` call reads a few hundred packets in one flat loop (`hub.mqttwire`), the
PUBACKs for them go back in one write, and ingest gets plain tuples with no thread between.
Simulators, tests and benchmarks still use paho: they are clients of the broker, not the hub.

Backpressure: when the inbox holds `max_inbox` messages the link stops reading its socket, so
the broker queues for us (QoS 1 on a persistent session) instead of this process growing
without bound; it reads again once ingest has taken half of them.

Delivery: a QoS 1 message is acknowledged to the broker once it is in the inbox; from then on
it is the hub's to keep (`Hub.stop` drains the inbox). QoS 1 publishes are kept until the
broker acknowledges them and are sent again, marked DUP, after a reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from devices import mqttpackets as packets
from hub import mqttwire as wire

logger = logging.getLogger(__name__)

RawMessage = tuple[str, bytes, float]
"""(topic, payload, time received) — the only shape ingest sees."""

MAX_IN_FLIGHT = 65_000
"""QoS 1 publishes waiting for the broker's PUBACK: one packet identifier each, of 65,535
(the rest are for subscriptions)."""


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
    """Times the inbox was full and the link stopped reading its socket."""
    protocol_errors: int = 0


class _Protocol(asyncio.Protocol):
    """asyncio's callbacks, handed straight to the link."""

    def __init__(self, link: MqttLink) -> None:
        self._link = link

    def data_received(self, data: bytes) -> None:
        self._link._on_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._link._on_lost(exc)


class MqttLink:
    """`async with MqttLink(options) as link:` connects; leaving disconnects."""

    def __init__(self, options: MqttOptions, *, on_connect: Callable[[], None] | None = None
                 ) -> None:
        self.options = options
        self.stats = LinkStats()
        self._subscriptions: dict[str, int] = {}
        self._inbox: deque[RawMessage] = deque()
        self._wake = asyncio.Event()
        self._user_on_connect = on_connect
        self._transport: asyncio.Transport | None = None
        self._buffer = b""
        self._connected = False
        self._paused = False
        self._closing = False
        self._last_heard = 0.0
        self._connack: asyncio.Future[tuple[bool, int]] | None = None
        self._lost: asyncio.Future[None] | None = None
        self._first_connect: asyncio.Future[None] | None = None
        self._runner: asyncio.Task[None] | None = None
        self._unacked: dict[int, bytes] = {}
        """QoS 1 publishes by packet id, as they are to be sent (next time: marked DUP)."""
        self._acked: dict[int, asyncio.Future[None]] = {}
        self._subscribing: dict[int, list[tuple[str, int]]] = {}
        self._next_id = 0

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> MqttLink:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self, wait_s: float = 10.0) -> bool:
        """Start connecting and wait a while for the broker's answer.

        Returns False when the broker has not answered within `wait_s` (the link keeps
        retrying with backoff, so a hub started before its broker comes up by itself). Raises
        MqttError when the broker refuses us (bad credentials, not authorised): retrying
        cannot fix that, and the operator must be told at once.
        """
        loop = asyncio.get_running_loop()
        ssl_context = self._ssl_context()  # a missing CA file fails here, loudly
        self._first_connect = loop.create_future()
        self._runner = asyncio.create_task(self._run(ssl_context), name="mqtt-link")
        o = self.options
        try:
            await asyncio.wait_for(asyncio.shield(self._first_connect), wait_s)
        except TimeoutError:
            logger.warning("MQTT broker %s:%s not reachable yet; still trying", o.host, o.port)
            self._first_connect = None  # nobody waits now: a later refusal is logged, retried
            return False
        except MqttError:
            await self.close()
            raise
        return True

    async def close(self) -> None:
        self._closing = True
        if self._paused and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()  # the will's PUBACK must be read
        if self._connected and self.options.will_topic is not None:
            # A clean shutdown says so; the will only covers a crash.
            packet_id = self._publish_qos1(self.options.will_topic, self.options.will_payload,
                                           retain=True)
            if packet_id is not None:
                waiter = asyncio.get_running_loop().create_future()
                self._acked[packet_id] = waiter
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter, 2.0)
        transport = self._transport
        if transport is not None:
            if self._connected:
                transport.write(packets.DISCONNECT)
            transport.close()  # after what is buffered has gone out
            if self._lost is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(self._lost), 2.0)
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
            self._runner = None

    @property
    def connected(self) -> bool:
        return self._connected

    def _ssl_context(self) -> ssl.SSLContext | None:
        tls = self.options.tls
        if tls is None:
            return None
        context = ssl.create_default_context(cafile=tls.ca_file)
        if tls.cert_file is not None:
            context.load_cert_chain(tls.cert_file, tls.key_file)
        if tls.insecure:
            context.check_hostname = False
        return context

    # ------------------------------------------------------------------ connection manager

    async def _run(self, ssl_context: ssl.SSLContext | None) -> None:
        o = self.options
        delay = o.reconnect_min_s
        while not self._closing:
            try:
                await self._session(ssl_context)
                delay = o.reconnect_min_s  # it was up: start the backoff afresh
            except MqttError as error:
                first = self._first_connect
                if first is not None and not first.done():
                    first.set_exception(error)
                    return
                logger.error("%s; retrying in %.0f s", error, delay)
            except (OSError, TimeoutError, wire.MqttProtocolError) as error:
                logger.debug("MQTT connect to %s:%s failed (%s); retrying in %.1f s",
                             o.host, o.port, error or type(error).__name__, delay)
            if self._closing:
                return
            # Jitter, so a hundred hubs behind one restarted broker do not come back at once.
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, o.reconnect_max_s)

    async def _session(self, ssl_context: ssl.SSLContext | None) -> None:
        """One connection, from the TCP connect to its loss. Raises if it never came up."""
        o = self.options
        loop = asyncio.get_running_loop()
        self._buffer = b""
        self._subscribing.clear()  # SUBACKs owed on a lost connection never come
        self._connack = loop.create_future()
        self._lost = loop.create_future()
        timeout = max(o.keepalive, 10)
        transport, _ = await asyncio.wait_for(loop.create_connection(
            lambda: _Protocol(self), o.host, o.port, ssl=ssl_context,
            server_hostname=o.host if ssl_context is not None else None), timeout)
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._last_heard = time.monotonic()
        keepalive: asyncio.Task[None] | None = None
        try:
            transport.write(packets.connect_packet(
                client_id=o.client_id, keepalive=o.keepalive,
                clean_session=not o.persistent_session, username=o.username,
                password=o.password, will_topic=o.will_topic, will_payload=o.will_payload))
            await asyncio.wait((self._connack, self._lost), timeout=timeout,
                               return_when=asyncio.FIRST_COMPLETED)
            if not self._connack.done():
                raise OSError("connection closed before the broker answered" if
                              self._lost.done() else "no answer to CONNECT")
            session_present, code = self._connack.result()
            if code:
                reason = wire.CONNACK_REASONS.get(code, f"code {code}")
                if code in wire.RETRYABLE_CONNACK:
                    raise OSError(f"broker answered: {reason}")
                raise MqttError(f"MQTT broker {o.host}:{o.port} refused the connection: "
                                f"{reason}")
            self._on_connected(session_present)
            if o.keepalive:
                keepalive = asyncio.create_task(self._keep_alive(transport))
            await asyncio.shield(self._lost)
        finally:
            if keepalive is not None:
                keepalive.cancel()
            was_connected = self._connected
            self._connected = False
            self._transport = None
            transport.abort()
            if was_connected and not self._closing:
                self.stats.disconnects += 1
                logger.warning("MQTT connection to %s:%s lost; reconnecting", o.host, o.port)

    def _on_connected(self, session_present: bool) -> None:
        o = self.options
        self._connected = True
        self.stats.connects += 1
        logger.info("MQTT connected to %s:%s (%s session)", o.host, o.port,
                    "resumed" if session_present else "new")
        if self._subscriptions:
            self._send_subscribe(list(self._subscriptions.items()))
        transport = self._transport
        assert transport is not None
        # QoS 1 publishes not yet acknowledged, oldest first (§4.4), then whatever waited.
        for packet_id, packet in self._unacked.items():
            transport.write(packet)
            self._unacked[packet_id] = packets.as_duplicate(packet)
        if self._user_on_connect is not None:
            try:
                self._user_on_connect()
            except Exception:
                logger.exception("on_connect hook failed")
        first = self._first_connect
        if first is not None and not first.done():
            first.set_result(None)

    async def _keep_alive(self, transport: asyncio.Transport) -> None:
        """PINGREQ at half the keep-alive; a broker silent for 1.5 of it is gone (§3.1.2.10)."""
        keepalive = self.options.keepalive
        while True:
            await asyncio.sleep(keepalive / 2)
            silent = time.monotonic() - self._last_heard
            # While paused for a full inbox the broker's answers wait unread: not silence.
            if silent > keepalive * 1.5 and not self._paused:
                logger.warning("MQTT broker %s:%s silent for %.0f s; dropping the connection",
                               self.options.host, self.options.port, silent)
                transport.abort()
                return
            transport.write(packets.PINGREQ)

    # ------------------------------------------------------------------ protocol callbacks

    def _on_data(self, data: bytes) -> None:
        self._last_heard = time.monotonic()
        buffer = self._buffer + data if self._buffer else data
        inbox = self._inbox
        before = len(inbox)
        acks: list[bytes] = []
        control: list[wire.Control] = []
        broken: wire.MqttProtocolError | None = None
        try:
            used = wire.read_stream(buffer, time.time(), inbox, acks, control)
        except wire.MqttProtocolError as error:
            broken, used = error, len(buffer)
        self._buffer = buffer[used:] if used < len(buffer) else b""
        transport = self._transport
        # Packets read before a broken one count: acknowledge and handle them first.
        if acks and transport is not None:
            transport.write(b"".join(acks))
        for kind, body in control:
            self._on_control(kind, body)
        if broken is not None:
            self.stats.protocol_errors += 1
            logger.error("MQTT broker %s:%s sent a broken packet (%s); reconnecting",
                         self.options.host, self.options.port, broken)
            if transport is not None:
                transport.abort()
        received = len(inbox) - before
        if received:
            self.stats.received += received
            self._wake.set()
            if len(inbox) >= self.options.max_inbox and transport is not None \
                    and not self._closing and broken is None:
                self.stats.inbox_waits += 1
                self._paused = True
                transport.pause_reading()

    def _on_control(self, kind: int, body: bytes) -> None:
        if kind == wire.PUBACK:
            packet_id = int.from_bytes(body[:2], "big")
            self._unacked.pop(packet_id, None)
            waiter = self._acked.pop(packet_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
        elif kind == wire.CONNACK:
            if self._connack is not None and not self._connack.done() and len(body) >= 2:
                self._connack.set_result((bool(body[0] & 0x01), body[1]))
        elif kind == wire.SUBACK:
            topics = self._subscribing.pop(int.from_bytes(body[:2], "big"), [])
            for (topic, _qos), granted in zip(topics, body[2:], strict=False):
                if granted == 0x80:
                    logger.error("MQTT broker %s:%s refused the subscription to %s",
                                 self.options.host, self.options.port, topic)
        elif kind != wire.PINGRESP:
            logger.warning("MQTT broker sent unexpected packet type %d; ignored", kind)

    def _on_lost(self, exc: Exception | None) -> None:
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)

    # ------------------------------------------------------------------ asyncio side

    def subscribe(self, topic: str, qos: int = 1) -> None:
        if qos not in (0, 1):
            raise ValueError(f"subscribe {topic}: QoS {qos}; the hub takes QoS 0 or 1")
        self._subscriptions[topic] = qos
        if self._connected:
            self._send_subscribe([(topic, qos)])

    def _send_subscribe(self, topics: list[tuple[str, int]]) -> None:
        packet_id = self._allocate_id()
        self._subscribing[packet_id] = topics
        assert self._transport is not None
        self._transport.write(packets.subscribe_packet(packet_id, topics))

    def _allocate_id(self) -> int:
        while True:
            self._next_id = self._next_id % 65_535 + 1
            if self._next_id not in self._unacked and self._next_id not in self._subscribing:
                return self._next_id

    async def next_batch(self, max_messages: int = 5_000) -> list[RawMessage]:
        """Wait for messages and return up to `max_messages` of them, oldest first.

        Always lets the loop turn once first: under sustained load the inbox is never empty,
        and without a real suspension here ingest would run batch after batch while the
        dispatcher, the timers and the API wait (measured: alert deliveries seconds late).
        """
        await asyncio.sleep(0)
        inbox = self._inbox
        while not inbox:
            self._wake.clear()
            await self._wake.wait()
        count = min(len(inbox), max_messages)
        batch = [inbox.popleft() for _ in range(count)]
        if self._paused and len(inbox) < self.options.max_inbox // 2:
            self._paused = False
            if self._transport is not None:
                self._transport.resume_reading()
        return batch

    @property
    def inbox_depth(self) -> int:
        return len(self._inbox)

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
                ) -> bool:
        """Send a message; False (logged, counted) when it cannot be.

        QoS 1 messages are kept while the broker is away and sent after reconnecting; a
        QoS 0 message is refused then, as it would be lost anyway.
        """
        if qos == 1:
            return self._publish_qos1(topic, payload, retain=retain) is not None
        if qos != 0:
            raise ValueError(f"publish to {topic}: QoS {qos}; the hub sends QoS 0 or 1")
        if not self._connected or self._transport is None:
            return self._publish_failed(topic, "not connected (QoS 0 is not kept)")
        try:
            packet = packets.publish_packet(topic, payload, qos=0, retain=retain)
        except ValueError as error:
            return self._publish_failed(topic, str(error))
        self._transport.write(packet)
        return True

    def _publish_qos1(self, topic: str, payload: bytes, *, retain: bool) -> int | None:
        if len(self._unacked) >= MAX_IN_FLIGHT:
            self._publish_failed(topic, f"{MAX_IN_FLIGHT} messages already wait for the broker")
            return None
        packet_id = self._allocate_id()
        try:
            packet = packets.publish_packet(topic, payload, qos=1, retain=retain,
                                         packet_id=packet_id)
        except ValueError as error:
            self._publish_failed(topic, str(error))
            return None
        if self._connected and self._transport is not None:
            self._transport.write(packet)
            packet = packets.as_duplicate(packet)
        self._unacked[packet_id] = packet
        return packet_id

    def _publish_failed(self, topic: str, why: str) -> bool:
        self.stats.publish_failures += 1
        logger.error("MQTT publish to %s failed: %s", topic, why)
        return False
