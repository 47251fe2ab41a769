"""The read buffer under paho's socket, on a real socket pair."""

from __future__ import annotations

import socket

import pytest

from hub.mqttsock import BufferedSocket


def test_serves_small_reads_from_one_large_recv() -> None:
    a, b = socket.socketpair()
    with a, b:
        b.setblocking(False)
        buffered = BufferedSocket(b)
        a.sendall(b"\x30\x05hello" * 1000)
        out = b""
        while len(out) < 7000:
            out += buffered.recv(1)
            out += buffered.recv(1)
            out += buffered.recv(5)
        assert out == b"\x30\x05hello" * 1000
        assert buffered.pending() == 0
        with pytest.raises(BlockingIOError):
            buffered.recv(1)  # nothing buffered, nothing on the wire: as a bare socket


def test_pending_counts_what_is_buffered_and_other_calls_pass_through() -> None:
    a, b = socket.socketpair()
    with a, b:
        buffered = BufferedSocket(b)
        a.sendall(b"0123456789")
        assert buffered.recv(3) == b"012"
        assert buffered.pending() == 7
        assert buffered.fileno() == b.fileno()
        assert buffered.recv(100) == b"3456789"
        a.close()
        assert buffered.recv(10) == b""  # the peer closed: paho sees the end
