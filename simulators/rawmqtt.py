"""MQTT 3.1.1 packets written by hand, for the two places paho is too heavy.

Load mode pre-encodes PUBLISH packets and writes them straight to a socket (a Python paho
publisher is slower than the hub's subscriber, so it would measure itself). Last-will sessions
hold hundreds of idle connections in one thread, each only there for its will. Both need just
CONNECT (with a will), PUBLISH, PINGREQ and DISCONNECT.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

PINGREQ = b"\xc0\x00"
DISCONNECT = b"\xe0\x00"
_CONNACK = 0x20


class MqttRefusedError(ConnectionError):
    """The broker answered CONNECT with a refusal (bad credentials, not authorised...)."""


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


def remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return len(b).to_bytes(2, "big") + b


def connect_packet(client_id: str, *, keepalive: int = 60, will: Will | None = None,
                   username: str | None = None, password: str | None = None) -> bytes:
    flags = 0x02  # clean session
    payload = _string(client_id)
    if will is not None:
        flags |= 0x04 | (will.qos << 3) | (0x20 if will.retain else 0)
        payload += _string(will.topic) + _string(will.payload)
    if username is not None:
        flags |= 0x80
        payload += _string(username)
        if password is not None:
            flags |= 0x40
            payload += _string(password)
    body = _string("MQTT") + bytes([4, flags]) + keepalive.to_bytes(2, "big") + payload
    return b"\x10" + remaining_length(len(body)) + body


def publish_packet(topic: str, payload: bytes, *, qos: int = 0, packet_id: int = 1,
                   retain: bool = False) -> bytes:
    body = _string(topic) + (packet_id.to_bytes(2, "big") if qos else b"") + payload
    header = 0x30 | (qos << 1) | (1 if retain else 0)
    return bytes([header]) + remaining_length(len(body)) + body


def open_session(host: str, port: int, connect: bytes, timeout: float = 5.0) -> socket.socket:
    """A TCP connection that has sent `connect` and read an accepting CONNACK."""
    sock = socket.create_connection((host, port), timeout)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(connect)
        ack = b""
        while len(ack) < 4:
            chunk = sock.recv(4 - len(ack))
            if not chunk:
                raise ConnectionError(f"{host}:{port} closed the connection before CONNACK")
            ack += chunk
        if ack[0] != _CONNACK:
            raise ConnectionError(f"{host}:{port} answered CONNECT with packet type "
                                  f"{ack[0] >> 4}, not CONNACK")
        if ack[3] != 0:
            raise MqttRefusedError(f"{host}:{port} refused the connection (CONNACK code {ack[3]})")
    except BaseException:
        sock.close()
        raise
    return sock
