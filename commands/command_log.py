"""Moved to storage (records, interface, sqlite, postgres); shim kept until the import pass."""

from storage.interface import CommandLog
from storage.postgres.event_store import PostgresCommandLogRecorder
from storage.records import COMMAND_LOG_KWARG, CommandLogEntry, StoreIdentity
from storage.sqlite.event_store import SQLiteCommandLogRecorder

__all__ = [
    "COMMAND_LOG_KWARG",
    "CommandLog",
    "CommandLogEntry",
    "PostgresCommandLogRecorder",
    "SQLiteCommandLogRecorder",
    "StoreIdentity",
]
