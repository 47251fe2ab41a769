"""MQTT 3.1.1 packets, as bytes: what the hub's broker link sends and how it reads a stream.

Pure functions, no sockets, so every boundary case (a packet split anywhere, a four-byte
length, a broken length) is tested without a broker. Only what a subscriber that publishes
at QoS 0 and 1 needs: CONNECT, SUBSCRIBE, PUBLISH, PUBACK, PINGREQ, DISCONNECT out;
CONNACK, SUBACK, PUBLISH, PUBACK, PINGRESP in (OASIS MQTT 3.1.1, chapters 2 and 3).
"""

from __future__ import annotations

from collections import deque
from typing import Final

CONNECT: Final = 1
CONNACK: Final = 2
PUBLISH: Final = 3
PUBACK: Final = 4
SUBSCRIBE: Final = 8
SUBACK: Final = 9
PINGREQ_BYTES: Final = b"\xc0\x00"
PINGRESP: Final = 13
DISCONNECT_BYTES: Final = b"\xe0\x00"

MAX_REMAINING: Final = 268_435_455
"""The largest remaining length four length bytes can say (MQTT 3.1.1 §2.2.3)."""

CONNACK_REASONS: Final = {
    1: "unacceptable protocol version",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorised",
}
RETRYABLE_CONNACK: Final = frozenset({3})
"""Only "server unavailable" can go away by itself; the others need the operator."""


class MqttProtocolError(Exception):
    """The broker sent bytes that are not MQTT 3.1.1; the connection cannot go on."""


def _length(n: int) -> bytes:
    if n > MAX_REMAINING:
        raise ValueError(f"MQTT packet of {n} bytes is over the {MAX_REMAINING}-byte limit")
    out = bytearray()
    while True:
        digit, n = n & 0x7F, n >> 7
        out.append(digit | 0x80 if n else digit)
        if not n:
            return bytes(out)


def _string(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    if len(raw) > 0xFFFF:
        raise ValueError(f"MQTT string of {len(raw)} bytes is over the 65,535-byte limit")
    return len(raw).to_bytes(2, "big") + raw


def _packet(first: int, body: bytes) -> bytes:
    return bytes((first,)) + _length(len(body)) + body


def connect_packet(*, client_id: str, keepalive: int, clean_session: bool,
                   username: str | None = None, password: str | None = None,
                   will_topic: str | None = None, will_payload: bytes = b"",
                   will_qos: int = 1, will_retain: bool = True) -> bytes:
    flags = 0x02 if clean_session else 0
    payload = _string(client_id)
    if will_topic is not None:
        flags |= 0x04 | (will_qos << 3) | (0x20 if will_retain else 0)
        payload += _string(will_topic) + _string(will_payload)
    if username is not None:
        flags |= 0x80
        payload += _string(username)
        if password is not None:
            flags |= 0x40
            payload += _string(password)
    header = _string("MQTT") + bytes((4, flags)) + keepalive.to_bytes(2, "big")
    return _packet(CONNECT << 4, header + payload)


def subscribe_packet(packet_id: int, topics: list[tuple[str, int]]) -> bytes:
    body = packet_id.to_bytes(2, "big")
    for topic, qos in topics:
        body += _string(topic) + bytes((qos,))
    return _packet(SUBSCRIBE << 4 | 0x02, body)


def publish_packet(topic: str, payload: bytes, *, qos: int, retain: bool, packet_id: int = 0,
                   dup: bool = False) -> bytes:
    first = PUBLISH << 4 | qos << 1 | (0x01 if retain else 0) | (0x08 if dup else 0)
    body = _string(topic)
    if qos:
        body += packet_id.to_bytes(2, "big")
    return _packet(first, body + payload)


def as_duplicate(packet: bytes) -> bytes:
    """The same PUBLISH with its DUP flag set, for a resend after reconnecting (§4.4)."""
    return bytes((packet[0] | 0x08,)) + packet[1:]


def puback_packet(packet_id: int) -> bytes:
    return b"\x40\x02" + packet_id.to_bytes(2, "big")


Control = tuple[int, bytes]
"""(packet type, body) of a packet that is not a PUBLISH."""


def read_stream(buffer: bytes, received_at: float, inbox: deque[tuple[str, bytes, float]],
                acks: list[bytes], control: list[Control]) -> int:
    """Read whole packets from the start of `buffer`; return how many bytes they took.

    PUBLISH packets go straight to `inbox` as (topic, payload, received_at), with a PUBACK
    added to `acks` for each QoS 1 one; every other packet goes to `control`. A packet cut
    off at the end stays unread, for the next call with more bytes. This is the hub's
    hottest loop (tens of thousands of calls' worth of packets a second), so it is written
    out flat: no object per packet but the tuple ingest needs.
    """
    end = len(buffer)
    pos = 0
    append = inbox.append
    while end - pos >= 2:
        first = buffer[pos]
        # Remaining length: 1-4 bytes, 7 bits each, least significant first.
        length = 0
        shift = 0
        i = pos + 1
        while True:
            if i >= end:
                return pos
            byte = buffer[i]
            length |= (byte & 0x7F) << shift
            i += 1
            if not byte & 0x80:
                break
            shift += 7
            if shift > 21:
                raise MqttProtocolError("remaining length longer than four bytes")
        stop = i + length
        if stop > end:
            return pos
        kind = first >> 4
        if kind == PUBLISH:
            topic_end = i + 2 + (buffer[i] << 8 | buffer[i + 1])
            qos = (first >> 1) & 0x03
            if qos > 1:
                raise MqttProtocolError("QoS 2 PUBLISH, but the hub never subscribes at QoS 2")
            start = topic_end + 2 if qos else topic_end
            if start > stop:
                raise MqttProtocolError("PUBLISH topic runs past the end of its packet")
            if qos:
                acks.append(b"\x40\x02" + buffer[topic_end:start])
            topic = buffer[i + 2:topic_end].decode("utf-8", "replace")
            append((topic, buffer[start:stop], received_at))
        else:
            control.append((kind, buffer[i:stop]))
        pos = stop
    return pos
