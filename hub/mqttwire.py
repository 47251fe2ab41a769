"""MQTT 3.1.1 packets as the hub reads them from its broker: a stream cut into packets.

Pure, no sockets, so every boundary case (a packet split anywhere, a four-byte length, a
broken length) is tested without a broker. Only what a subscriber at QoS 0 and 1 gets:
CONNACK, SUBACK, PUBLISH, PUBACK, PINGRESP (OASIS MQTT 3.1.1, chapters 2 and 3). What the hub
sends is built by `devices.mqttpackets`, shared with the simulators.
"""

from __future__ import annotations

from collections import deque
from typing import Final

CONNACK: Final = 2
PUBLISH: Final = 3
PUBACK: Final = 4
SUBACK: Final = 9
PINGRESP: Final = 13

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
