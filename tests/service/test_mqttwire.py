"""MQTT 3.1.1 packets as the hub writes and reads them, checked against the spec's own
examples. That mosquitto understands them is tested with the real broker (test_mqtt_link)."""

from __future__ import annotations

from collections import deque

import pytest

from devices import mqttpackets as packets
from hub import mqttwire as wire

Inbox = deque[tuple[str, bytes, float]]


def _read(stream: bytes) -> tuple[int, Inbox, list[bytes], list[wire.Control]]:
    inbox: Inbox = deque()
    acks: list[bytes] = []
    control: list[wire.Control] = []
    used = wire.read_stream(stream, 1.5, inbox, acks, control)
    return used, inbox, acks, control


@pytest.mark.parametrize(("size", "length_bytes"), [
    (0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"), (16_383, b"\xff\x7f"),
    (16_384, b"\x80\x80\x01"), (2_097_151, b"\xff\xff\x7f"), (2_097_152, b"\x80\x80\x80\x01"),
])
def test_remaining_length_matches_the_spec_table(size: int, length_bytes: bytes) -> None:
    # MQTT 3.1.1 §2.2.3, table 2.4: the edges of the 1-, 2-, 3- and 4-byte lengths.
    packet = packets.publish_packet("t", b"x" * (size - 3), qos=0, retain=False) if size >= 3 \
        else None
    if packet is not None:
        assert packet[1:1 + len(length_bytes)] == length_bytes
    assert packets.remaining_length(size) == length_bytes


def test_publish_round_trips_at_every_length_edge() -> None:
    stream = b"".join(packets.publish_packet("站/楼/1", b"p" * n, qos=1, retain=False,
                                          packet_id=n % 65_535 + 1)
                      for n in (0, 100, 200, 20_000, 3_000_000))
    used, inbox, acks, control = _read(stream)
    assert used == len(stream)
    assert [(t, len(p)) for t, p, _ in inbox] == [
        ("站/楼/1", n) for n in (0, 100, 200, 20_000, 3_000_000)]
    assert acks == [packets.puback_packet(n % 65_535 + 1) for n in (0, 100, 200, 20_000, 3_000_000)]
    assert control == []


def test_a_stream_cut_anywhere_reads_the_same() -> None:
    """TCP hands over bytes, not packets: every cut point must give the same messages."""
    stream = (packets.publish_packet("a/b", b"hello", qos=0, retain=False)
              + packets.publish_packet("a/c", b"y" * 300, qos=1, retain=True, packet_id=7)
              + b"\xd0\x00"  # PINGRESP
              + packets.publish_packet("a/d", b"", qos=0, retain=False))
    whole = _read(stream)
    for cut in range(len(stream) + 1):
        inbox: Inbox = deque()
        acks: list[bytes] = []
        control: list[wire.Control] = []
        used = wire.read_stream(stream[:cut], 1.5, inbox, acks, control)
        rest = stream[used:cut] + stream[cut:]
        assert wire.read_stream(rest, 1.5, inbox, acks, control) == len(rest)
        assert (inbox, acks, control) == whole[1:], f"cut at {cut}"


def test_control_packets_are_handed_back_with_their_bodies() -> None:
    used, inbox, acks, control = _read(b"\x20\x02\x01\x00" + b"\x90\x03\x00\x05\x01"
                                       + b"\x40\x02\x12\x34" + b"\xd0\x00")
    assert used == 4 + 5 + 4 + 2
    assert control == [(wire.CONNACK, b"\x01\x00"), (wire.SUBACK, b"\x00\x05\x01"),
                       (wire.PUBACK, b"\x12\x34"), (wire.PINGRESP, b"")]
    assert not inbox
    assert not acks


@pytest.mark.parametrize(("stream", "why"), [
    (b"\x30\xff\xff\xff\xff\x01", "longer than four bytes"),
    (b"\x34\x05\x00\x01tab", "QoS 2"),
    (b"\x30\x03\x00\x09a", "past the end"),
])
def test_broken_packets_are_protocol_errors(stream: bytes, why: str) -> None:
    with pytest.raises(wire.MqttProtocolError, match=why):
        _read(stream)


def test_a_bad_utf8_topic_is_kept_for_quarantine_not_a_crash() -> None:
    packet = b"\x30\x06\x00\x02\xff\xfe{}"
    _, inbox, _, _ = _read(packet)
    assert inbox[0][0] == "\ufffd\ufffd"
    assert inbox[0][1] == b"{}"


def test_connect_packet_flags() -> None:
    packet = packets.connect_packet(client_id="hub", keepalive=30, clean_session=False,
                                 username="u", password="p", will_topic="s/hub/status",
                                 will_payload=b"offline")
    # fixed header, "MQTT", level 4, then the flags: user, password, will retain, will QoS 1,
    # will flag; no clean session.
    assert packet[0] == 0x10
    assert packet[2:9] == b"\x00\x04MQTT\x04"
    assert packet[9] == 0x80 | 0x40 | 0x20 | 0x08 | 0x04
    assert packet[10:12] == (30).to_bytes(2, "big")
    assert packet.endswith(b"\x00\x03hub\x00\x0cs/hub/status\x00\x07offline\x00\x01u\x00\x01p")
    bare = packets.connect_packet(client_id="x", keepalive=0, clean_session=True)
    assert bare[9] == 0x02


def test_publish_bytes_spelled_out() -> None:
    # §3.3: type 3, QoS 1, retain; remaining length 200 + 2 + 3 + 2 = 207 = 0xCF 0x01; topic
    # length and topic; packet id; payload.
    packet = packets.publish_packet("a/b", b"x" * 200, qos=1, retain=True, packet_id=0x0102)
    assert packet == b"\x33\xcf\x01" + b"\x00\x03a/b" + b"\x01\x02" + b"x" * 200


def test_duplicate_sets_only_the_dup_flag() -> None:
    packet = packets.publish_packet("t", b"x", qos=1, retain=True, packet_id=3)
    dup = packets.as_duplicate(packet)
    assert dup[0] == packet[0] | 0x08
    assert dup[1:] == packet[1:]


def test_oversized_strings_are_refused() -> None:
    with pytest.raises(ValueError, match="65,535"):
        packets.publish_packet("t" * 70_000, b"", qos=0, retain=False)
