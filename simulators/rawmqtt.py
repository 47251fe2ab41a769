"""MQTT 3.1.1 sessions over a bare socket, for the two places paho is too heavy.

Load mode pre-encodes PUBLISH packets and writes them straight to a socket (a Python paho
publisher is slower than the hub's subscriber, so it would measure itself). Last-will sessions
hold hundreds of idle connections in one thread, each only there for its will. Both need just
CONNECT (with a will), PUBLISH, PINGREQ and DISCONNECT, built by `devices.mqttpackets`.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from devices import mqttpackets as packets

_CONNACK = 0x20


class MqttRefusedError(ConnectionError):
    """The broker answered CONNECT with a refusal (bad credentials, not authorised...)."""


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


def connect_packet(client_id: str, *, keepalive: int = 60, will: Will | None = None,
                   username: str | None = None, password: str | None = None) -> bytes:
    """A clean-session CONNECT, with a will when given."""
    if will is None:
        return packets.connect_packet(client_id=client_id, keepalive=keepalive,
                                      username=username, password=password)
    return packets.connect_packet(client_id=client_id, keepalive=keepalive,
                                  username=username, password=password, will_topic=will.topic,
                                  will_payload=will.payload, will_qos=will.qos,
                                  will_retain=will.retain)


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
