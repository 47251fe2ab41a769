"""The hub's own MQTT client (`hub.mqtt.MqttLink`) against a real mosquitto.

Faults the broker will not produce on request are injected from here: a TCP proxy that stops
forwarding (a dead network path with both sockets still open), and a fake broker that answers
CONNECT as a test tells it to (refusals, broken packets). Nothing inside the link is replaced;
a few tests look at its private state (unacknowledged publishes; the backpressure test wraps
its read callback to record the inbox depth around every read) to see what the public API
does not show.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from devices import mqttpackets as packets
from hub.mqtt import MqttError, MqttLink, MqttOptions, RawMessage
from tests.conftest import Broker, Listener, publisher
from tests.service.conftest import eventually

CONNACK_OK = b"\x20\x02\x00\x00"
GARBAGE = b"\x30\xff\xff\xff\xff\x01"
"""A PUBLISH whose remaining length runs on past the four bytes MQTT allows."""

MARKER = b"marker"


def _options(port: int, **overrides: Any) -> MqttOptions:
    settings: dict[str, Any] = {
        "host": "127.0.0.1", "port": port, "client_id": "link-under-test",
        "persistent_session": False, "reconnect_min_s": 0.1, "reconnect_max_s": 0.5,
    }
    settings.update(overrides)
    return MqttOptions(**settings)


@contextlib.contextmanager
def _paho(broker: Broker, client_id: str, in_flight: int | None = None
          ) -> Iterator[paho.Client]:
    if in_flight is None:
        client = publisher(broker, client_id)
    else:  # paho takes this only before it connects
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        client.max_inflight_messages_set(in_flight)
        client.connect(broker.host, broker.port)
        client.loop_start()
    try:
        yield client
    finally:
        client.disconnect()
        client.loop_stop()


async def _published(infos: list[paho.MQTTMessageInfo], timeout: float = 10.0) -> None:
    """Until mosquitto has acknowledged every QoS 1 message (sent every QoS 0 one)."""
    await eventually(lambda: all(info.is_published() for info in infos), timeout=timeout,
                     what=f"mosquitto took all {len(infos)} messages")


async def _take(link: MqttLink, count: int, timeout: float = 5.0) -> list[RawMessage]:
    """At least `count` messages from the link, as `next_batch` hands them out."""
    got: list[RawMessage] = []
    try:
        async with asyncio.timeout(timeout):
            while len(got) < count:
                got.extend(await link.next_batch())
    except TimeoutError:
        raise AssertionError(f"{len(got)} of {count} messages in {timeout} s: "
                             f"{[(t, p[:40]) for t, p, _ in got[:20]]}") from None
    return got


async def _until(link: MqttLink, topic: str, timeout: float = 5.0) -> list[RawMessage]:
    """Everything the link receives before the first message on `topic` (which ends it)."""
    got: list[RawMessage] = []
    try:
        async with asyncio.timeout(timeout):
            while not any(t == topic for t, _, _ in got):
                got.extend(await link.next_batch())
    except TimeoutError:
        raise AssertionError(f"no message on {topic} in {timeout} s; got {len(got)}: "
                             f"{[(t, p[:40]) for t, p, _ in got[:20]]}") from None
    end = next(i for i, (t, _, _) in enumerate(got) if t == topic)
    assert got[end + 1:] == [], f"messages after the marker: {got[end + 1:]}"
    return got[:end]


async def _subscribed(link: MqttLink, topic_filter: str, probe_topic: str) -> None:
    """Subscribe and return once the broker routes the filter to us: the link publishes a
    probe after the SUBSCRIBE on the same connection, and mosquitto keeps that order."""
    link.subscribe(topic_filter, qos=1)
    assert link.publish(probe_topic, b"probe", qos=1)
    got = await _take(link, 1)
    assert [(t, p) for t, p, _ in got] == [(probe_topic, b"probe")]


def _unacked(link: MqttLink) -> int:
    return len(link._unacked)


def _digest(messages: list[RawMessage]) -> list[tuple[str, int, str]]:
    """(topic, size, sha256) — comparable without printing megabytes when it fails."""
    return [(t, len(p), hashlib.sha256(p).hexdigest()[:16]) for t, p, _ in messages]


# ---------------------------------------------------------------------- fault injectors


async def _read_packet(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    first = (await reader.readexactly(1))[0]
    length = shift = 0
    while True:
        byte = (await reader.readexactly(1))[0]
        length |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
    return first >> 4, await reader.readexactly(length)


class _LoopbackServer:
    """A TCP server on a free loopback port that closes what it opened on the way out."""

    def __init__(self) -> None:
        self.port = 0
        self.writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        self._release()
        for writer in self.writers:
            writer.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def _release(self) -> None:
        """Let go of whatever holds the connections' tasks, so they can end."""

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.writers.append(writer)
        await self._serve(reader, writer)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


class FakeBroker(_LoopbackServer):
    """Takes TCP connections, reads one CONNECT from each and answers with `answer(n)` for
    the n-th connection (from 0): bytes to send, or None to hang up without a word. Then it
    reads (and drops) whatever comes until the client goes."""

    def __init__(self, answer: Callable[[int], bytes | None]) -> None:
        super().__init__()
        self.answer = answer
        self.connects: list[bytes] = []
        """The CONNECT bodies, in the order they came."""

    async def __aenter__(self) -> FakeBroker:
        await self._start()
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            kind, body = await _read_packet(reader)
            assert kind == 1, f"first packet of type {kind}, not CONNECT"
            answer = self.answer(len(self.connects))
            self.connects.append(body)
            if answer is None:
                return
            writer.write(answer)
            while await reader.read(65_536):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


class StallingProxy(_LoopbackServer):
    """Forwards TCP between the link and a broker. `stall()` stops forwarding both ways:
    bytes are held, not passed on, and both sockets stay open (a dead path, not a closed
    one). `resume()` forwards again, held bytes first."""

    def __init__(self, upstream_port: int) -> None:
        super().__init__()
        self.upstream_port = upstream_port
        self.connections = 0
        self.to_broker = 0
        """PINGREQs passed on (counted by their bytes: good enough for a quiet link)."""
        self.to_link = 0
        """PINGRESPs passed on."""
        self._forwarding = asyncio.Event()
        self._forwarding.set()

    def stall(self) -> None:
        self._forwarding.clear()

    def resume(self) -> None:
        self._forwarding.set()

    async def __aenter__(self) -> StallingProxy:
        await self._start()
        return self

    def _release(self) -> None:
        self._forwarding.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1",
                                                                 self.upstream_port)
        except OSError:
            writer.close()
            return
        self.writers.append(up_writer)
        await asyncio.gather(self._pump(reader, up_writer, to_broker=True),
                             self._pump(up_reader, writer, to_broker=False))

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *,
                    to_broker: bool) -> None:
        try:
            while True:
                await self._forwarding.wait()
                data = await reader.read(65_536)
                await self._forwarding.wait()  # an end of stream is held as well
                if not data:
                    break
                if to_broker:
                    self.to_broker += data.count(b"\xc0\x00")
                else:
                    self.to_link += data.count(b"\xd0\x00")
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


# ---------------------------------------------------------------------- through mosquitto


async def test_messages_of_every_size_arrive_whole_and_in_order(broker: Broker) -> None:
    """0 B to 3 MB (one- to four-byte remaining lengths; the big ones come over many reads),
    QoS 0 and 1, a topic in Chinese: each arrives once, in order, byte for byte."""
    rng = random.Random(7)
    payloads = [b"", rng.randbytes(200), rng.randbytes(20_000), rng.randbytes(3_000_000)]
    sent: list[RawMessage] = []
    async with MqttLink(_options(broker.port)) as link:
        await _subscribed(link, "rt/#", "rt/probe")
        with _paho(broker, "rt-publisher") as pub:
            infos = []
            for payload in payloads:
                for qos in (0, 1):
                    topic = f"rt/楼栋/三单元/q{qos}"
                    infos.append(pub.publish(topic, payload, qos=qos))
                    sent.append((topic, payload, 0.0))
            infos.append(pub.publish("rt/end", MARKER, qos=1))
            got = await _until(link, "rt/end", timeout=10)
            await _published(infos)
        assert _digest(got) == _digest(sent)
        now = time.time()
        assert all(now - 10 < at <= now for _, _, at in got)
        assert link.stats.received == 1 + len(sent) + 1  # the probe, the messages, the end


async def test_qos1_publish_reaches_subscribers_and_retain_is_honoured(
    broker: Broker, listen: Callable[[str], Listener]
) -> None:
    early = listen("out/#")
    async with MqttLink(_options(broker.port)) as link:
        assert link.publish("out/状态", b"online", qos=1, retain=True)
        assert link.publish("out/event", b"not kept", qos=1)
        assert link.publish("out/fast", b"QoS 0", qos=0)
        seen = await early.wait_for(lambda m: len(m) >= 3)
        assert seen == [("out/状态", b"online"), ("out/event", b"not kept"),
                        ("out/fast", b"QoS 0")]
        await eventually(lambda: _unacked(link) == 0, what="mosquitto's PUBACKs handled")
        assert link.stats.publish_failures == 0
    late = listen("out/#")  # after the link has gone: only what mosquitto retained
    with _paho(broker, "out-marker") as pub:
        await _published([pub.publish("out/marker", MARKER, qos=1)])
    seen = await late.wait_for(lambda m: ("out/marker", MARKER) in m)
    assert seen == [("out/状态", b"online"), ("out/marker", MARKER)]


async def test_qos1_publishes_wait_out_a_broker_restart(broker: Broker) -> None:
    async with MqttLink(_options(broker.port)) as link:
        await _subscribed(link, "q/#", "q/probe")
        broker.stop()
        await eventually(lambda: not link.connected, what="the link notices")
        assert link.stats.disconnects == 1
        kept = [f"kept {i}".encode() for i in range(50)]
        assert all(link.publish("q/kept", payload, qos=1) for payload in kept)
        assert link.publish("q/lost", b"QoS 0", qos=0) is False
        assert link.stats.publish_failures == 1
        broker.start()
        await eventually(lambda: link.connected, timeout=10, what="the link reconnects")
        # The link resubscribes before it sends what it kept, so it gets it all back.
        assert link.publish("q/end", MARKER)
        got = await _until(link, "q/end")
        assert [(t, p) for t, p, _ in got] == [("q/kept", payload) for payload in kept]
        assert _unacked(link) == 0
        assert link.stats.connects == 2
        assert link.stats.publish_failures == 1


async def test_a_persistent_session_keeps_messages_while_the_link_is_closed(
    broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hub.mqtt")
    options = _options(broker.port, client_id="hub-persistent", persistent_session=True)
    async with MqttLink(options) as link:
        await _subscribed(link, "p/#", "p/probe")
    sent = [f"while away {i}".encode() for i in range(30)]
    with _paho(broker, "p-publisher") as pub:
        await _published([pub.publish("p/x", payload, qos=1) for payload in sent])
    async with MqttLink(options) as link:  # no subscribe: the session has it
        assert link.publish("p/end", MARKER)
        got = await _until(link, "p/end")
    assert [(t, p) for t, p, _ in got] == [("p/x", payload) for payload in sent]
    assert "(resumed session)" in caplog.text


async def test_a_full_inbox_stops_reading_and_loses_nothing(
    broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    max_inbox, count, size = 100, 5_000, 1_000
    async with MqttLink(_options(broker.port, max_inbox=max_inbox)) as link:
        await _subscribed(link, "bp/#", "bp/probe")
        reads: list[tuple[int, int, int]] = []  # bytes, inbox depth before and after
        on_data = link._on_data

        def counted(data: bytes) -> None:
            before = link.inbox_depth
            on_data(data)
            reads.append((len(data), before, link.inbox_depth))

        monkeypatch.setattr(link, "_on_data", counted)
        sent = [f"{i:05d}".encode() * (size // 5) for i in range(count)]
        with _paho(broker, "bp-publisher", in_flight=1_000) as pub:
            infos = [pub.publish("bp/x", payload, qos=1) for payload in sent]
            infos.append(pub.publish("bp/end", MARKER, qos=1))
            await _published(infos)  # all at mosquitto; nothing taken from the inbox yet
            await eventually(lambda: link.stats.inbox_waits > 0, what="the inbox fills")
            assert link.inbox_depth < count // 2
            got = await _until(link, "bp/end", timeout=10)
        assert [(t, p) for t, p, _ in got] == [("bp/x", payload) for payload in sent]
        assert link.stats.received == 1 + count + 1
        # It stops reading once the inbox is full: no read adds to a full one ...
        filling = [(before, after) for _, before, after in reads if after > before]
        assert all(before < max_inbox for before, _ in filling), \
            f"read on with a full inbox: {[r for r in filling if r[0] >= max_inbox][:5]}"
        # ... so it holds at most a full inbox plus what the biggest read carried (whole
        # messages in it, and one begun in the read before).
        packet = len(packets.publish_packet("bp/x", sent[0], qos=1, retain=False, packet_id=1))
        one_read = max(n for n, _, _ in reads) // packet + 1
        deepest = max(after for _, _, after in reads)
        assert max_inbox <= deepest < max_inbox + one_read, (deepest, one_read)


async def test_keep_alive_notices_a_dead_path_and_reconnects(broker: Broker) -> None:
    async with StallingProxy(broker.port) as proxy, \
            MqttLink(_options(proxy.port, keepalive=2, reconnect_min_s=0.3)) as link:
        await _subscribed(link, "ka/#", "ka/probe")
        await eventually(lambda: proxy.to_link >= 1, what="a PINGREQ answered")
        proxy.stall()
        stalled = time.monotonic()
        await eventually(lambda: not link.connected, timeout=5.5,
                         what="the link notices the silence")
        noticed = time.monotonic() - stalled
        assert noticed > 1.5, f"dropped after {noticed:.1f} s: before 1.5 x keep-alive"
        assert link.stats.disconnects == 1
        proxy.resume()
        await eventually(lambda: link.connected, timeout=5, what="the link reconnects")
        assert link.stats.connects == 2
        assert proxy.connections >= 2
        await _subscribed(link, "ka/#", "ka/probe-again")


# ---------------------------------------------------------------------- a fake broker


async def test_a_broken_packet_is_counted_logged_and_the_link_reconnects(
    caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with FakeBroker(lambda n: CONNACK_OK) as fake, \
            MqttLink(_options(fake.port)) as link:
        assert link.connected
        fake.writers[0].write(GARBAGE)
        await eventually(lambda: link.stats.protocol_errors == 1, what="the error counted")
        await eventually(lambda: len(fake.connects) == 2 and link.connected,
                         what="a new connection")
        assert link.stats.disconnects == 1
        assert link.stats.connects == 2
        runner = link._runner
        assert runner is not None
        assert not runner.done()
    errors = [r for r in caplog.records if r.name == "hub.mqtt" and r.levelno == logging.ERROR]
    assert any("broken packet" in r.getMessage() for r in errors), caplog.text
    assert [r for r in caplog.records if r.name == "asyncio"] == []


async def test_not_authorised_is_raised_at_once() -> None:
    async with FakeBroker(lambda n: b"\x20\x02\x00\x05") as fake:
        link = MqttLink(_options(fake.port))
        with pytest.raises(MqttError, match="not authorised"):
            await link.connect(wait_s=5)
        assert not link.connected
        assert link._runner is None  # it gave up; retrying cannot fix credentials
        assert len(fake.connects) == 1


async def test_server_unavailable_is_retried() -> None:
    async with FakeBroker(lambda n: b"\x20\x02\x00\x03") as fake:
        link = MqttLink(_options(fake.port))
        try:
            assert await link.connect(wait_s=1) is False
            await eventually(lambda: len(fake.connects) >= 2, what="a second attempt")
            assert not link.connected
            fake.answer = lambda n: CONNACK_OK
            await eventually(lambda: link.connected, what="connected once the broker is up")
        finally:
            await link.close()


async def test_a_clean_close_publishes_the_will_itself_and_disconnects(
    broker: Broker, listen: Callable[[str], Listener]
) -> None:
    watcher = listen("status/#")
    options = _options(broker.port, will_topic="status/hub", will_payload=b"offline")
    async with MqttLink(options) as link:
        assert link.publish("status/hub", b"online", qos=1, retain=True)
        await watcher.wait_for(lambda m: ("status/hub", b"online") in m)
    # A client that connects after the link has gone, and publishes once connected: by
    # then mosquitto has seen the link's socket close and would have sent the will.
    with _paho(broker, "status-marker") as pub:
        await _published([pub.publish("status/marker", MARKER, qos=1)])
    seen = await watcher.wait_for(lambda m: ("status/marker", MARKER) in m)
    assert seen == [("status/hub", b"online"), ("status/hub", b"offline"),
                    ("status/marker", MARKER)]
    late = listen("status/hub")
    assert await late.wait_for(lambda m: len(m) >= 1) == [("status/hub", b"offline")]


# ---------------------------------------------------------------------- faults found in review


@pytest.mark.parametrize("first_answer", [None, CONNACK_OK + GARBAGE],
                         ids=["hang-up-before-connack", "connack-and-garbage-in-one-read"])
async def test_a_connection_lost_before_connack_is_retried_at_once(
    first_answer: bytes | None
) -> None:
    async with FakeBroker(lambda n: first_answer if n == 0 else CONNACK_OK) as fake:
        link = MqttLink(_options(fake.port))
        try:
            assert await link.connect(wait_s=3), \
                f"not connected after 3 s; {len(fake.connects)} attempt(s)"
            # Hung up: the second attempt is the one that connected. CONNACK and garbage:
            # the CONNACK counts, then the garbage ends that connection and the next one is up.
            await eventually(lambda: len(fake.connects) == 2 and link.connected, timeout=3,
                             what="connected again on the second attempt")
        finally:
            await link.close()


async def test_a_paused_link_does_not_take_the_broker_for_dead(broker: Broker) -> None:
    async with StallingProxy(broker.port) as proxy, \
            MqttLink(_options(proxy.port, keepalive=1, max_inbox=10)) as link:
        await _subscribed(link, "slow/#", "slow/probe")
        with _paho(broker, "slow-publisher") as pub:
            await _published([pub.publish("slow/x", b"%d" % i, qos=1) for i in range(50)])
        await eventually(lambda: link.stats.inbox_waits > 0, what="the inbox fills")
        pings = proxy.to_broker
        # The link drops a broker it has not heard for 1.5 s: 3 PINGREQs at 0.5 s apart.
        await eventually(lambda: proxy.to_broker >= pings + 5 or not link.connected,
                         what="five keep-alive rounds while paused")
        assert link.connected
        assert link.stats.disconnects == 0


async def test_a_refusal_after_connect_stopped_waiting_is_logged(
    caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="hub.mqtt")
    async with FakeBroker(lambda n: b"\x20\x02\x00\x03") as fake:
        link = MqttLink(_options(fake.port))
        try:
            assert await link.connect(wait_s=0.3) is False
            fake.answer = lambda n: b"\x20\x02\x00\x05"
            attempts = len(fake.connects)
            await eventually(lambda: len(fake.connects) > attempts, what="another attempt")
            await eventually(lambda: any(
                "not authorised" in r.getMessage() and r.levelno >= logging.ERROR
                for r in caplog.records), timeout=2, what="the refusal logged")
        finally:
            await link.close()
            first = link._first_connect  # or asyncio reports it whenever it is collected
            if first is not None and first.done() and not first.cancelled():
                first.exception()


async def test_a_subscribe_left_unanswered_goes_with_its_connection() -> None:
    """Its packet id would otherwise stay taken for good, one more at every reconnect."""
    async with FakeBroker(lambda n: CONNACK_OK) as fake:  # never answers SUBSCRIBE
        link = MqttLink(_options(fake.port))
        link.subscribe("a/#")
        try:
            assert await link.connect(wait_s=3)
            fake.writers[0].close()
            await eventually(lambda: len(fake.connects) == 2 and link.connected, timeout=3,
                             what="connected again")
            assert len(link._subscribing) == 1  # the new connection's SUBSCRIBE only
        finally:
            await link.close()
