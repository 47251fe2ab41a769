"""Embedded time-series storage for sensor readings."""

from hub.store.base import ReadingStore, ReadingTuple
from hub.store.sqlite_readings import SqliteReadingStore
from hub.store.writer import ReadingWriter

__all__ = ["ReadingStore", "ReadingTuple", "ReadingWriter", "SqliteReadingStore"]
