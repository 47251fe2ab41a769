"""MQTT 3.1.1 control packets as bytes, for whoever writes to a broker without a client library.

Pure functions, no sockets. The hub's own broker link (`hub.mqtt`) and the simulators' load
mode and last-will sessions (`simulators.rawmqtt`) build their packets here; the hub reads
packets with `hub.mqttwire`. OASIS MQTT 3.1.1, chapters 2 and 3.
"""

from __future__ import annotations

from typing import Final

PINGREQ: Final = b"\xc0\x00"
DISCONNECT: Final = b"\xe0\x00"
MAX_REMAINING: Final = 268_435_455
"""The largest remaining length four length bytes can say (§2.2.3)."""


def remaining_length(n: int) -> bytes:
    """The 1-4 byte remaining length: 7 bits a byte, least significant first."""
    if n > MAX_REMAINING:
        raise ValueError(f"MQTT packet of {n} bytes is over the {MAX_REMAINING}-byte limit")
    out = bytearray()
    while True:
        digit, n = n & 0x7F, n >> 7
        out.append(digit | 0x80 if n else digit)
        if not n:
            return bytes(out)


def mqtt_string(text: str | bytes) -> bytes:
    """A UTF-8 string (or binary data) with its two-byte length in front."""
    raw = text.encode() if isinstance(text, str) else text
    if len(raw) > 0xFFFF:
        raise ValueError(f"MQTT string of {len(raw)} bytes is over the 65,535-byte limit")
    return len(raw).to_bytes(2, "big") + raw


def _packet(first: int, body: bytes) -> bytes:
    return bytes((first,)) + remaining_length(len(body)) + body


def connect_packet(*, client_id: str, keepalive: int = 60, clean_session: bool = True,
                   username: str | None = None, password: str | None = None,
                   will_topic: str | None = None, will_payload: bytes = b"",
                   will_qos: int = 1, will_retain: bool = True) -> bytes:
    flags = 0x02 if clean_session else 0
    payload = mqtt_string(client_id)
    if will_topic is not None:
        flags |= 0x04 | (will_qos << 3) | (0x20 if will_retain else 0)
        payload += mqtt_string(will_topic) + mqtt_string(will_payload)
    if username is not None:
        flags |= 0x80
        payload += mqtt_string(username)
        if password is not None:
            flags |= 0x40
            payload += mqtt_string(password)
    header = mqtt_string("MQTT") + bytes((4, flags)) + keepalive.to_bytes(2, "big")
    return _packet(0x10, header + payload)


def subscribe_packet(packet_id: int, topics: list[tuple[str, int]]) -> bytes:
    body = packet_id.to_bytes(2, "big")
    for topic, qos in topics:
        body += mqtt_string(topic) + bytes((qos,))
    return _packet(0x82, body)


def publish_packet(topic: str, payload: bytes, *, qos: int = 0, retain: bool = False,
                   packet_id: int = 1, dup: bool = False) -> bytes:
    """A PUBLISH; `packet_id` counts only at QoS 1 and 2."""
    first = 0x30 | qos << 1 | (0x01 if retain else 0) | (0x08 if dup else 0)
    body = mqtt_string(topic)
    if qos:
        body += packet_id.to_bytes(2, "big")
    return _packet(first, body + payload)


def as_duplicate(packet: bytes) -> bytes:
    """The same PUBLISH with its DUP flag set, for a resend after reconnecting (§4.4)."""
    return bytes((packet[0] | 0x08,)) + packet[1:]


def puback_packet(packet_id: int) -> bytes:
    return b"\x40\x02" + packet_id.to_bytes(2, "big")
