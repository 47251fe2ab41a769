"""A read buffer under paho's socket.

paho reads each MQTT packet in three or four `recv` calls (the type byte, the length bytes one
by one, then the body). Every call is a syscall that lets go of the GIL and must win it back,
and with the store writer busy that wait, not the parsing, is what limited ingest (py-spy:
`_sock_recv`). Reading 64 KiB at a time and serving paho from memory turns four syscalls a
message into one per few hundred messages. `pending()` tells paho's loop, as it does for TLS
sockets, that bytes are waiting, so it reads them without waiting in select().
"""

from __future__ import annotations

from typing import Any

_CHUNK = 64 * 1024


class BufferedSocket:
    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buffer = b""
        self._offset = 0

    def recv(self, size: int) -> bytes:
        if self._offset >= len(self._buffer):
            data: bytes = self._sock.recv(max(size, _CHUNK))  # may raise BlockingIOError
            if len(data) <= size:
                return data
            self._buffer, self._offset = data, 0
        start = self._offset
        end = min(start + size, len(self._buffer))
        self._offset = end
        return self._buffer[start:end]

    def pending(self) -> int:
        inner = self._sock.pending() if hasattr(self._sock, "pending") else 0
        return len(self._buffer) - self._offset + int(inner)

    def __getattr__(self, name: str) -> Any:
        # send, fileno, setblocking, close, ... are the real socket's.
        return getattr(self._sock, name)
