"""Being told when the log grows. On PostgreSQL every insert into the event table issues
``NOTIFY <events table>`` (the library does it in the same transaction); a ``LogWakeup`` holds
one connection that LISTENs and wakes the projection runner and the subscribers at once, so they
are pushed rather than polling. SQLite has no such channel: there, waiters poll.

May import: the standard library, psycopg and ``eventsourcing.postgres`` (both only once a
PostgreSQL recorder exists: a SQLite read side never loads them).
"""

from __future__ import annotations

import sys
import threading
from typing import Any


class LogWakeup:
    """A LISTEN connection in a background thread that sets an event on every NOTIFY."""

    def __init__(self, conninfo: str, channel: str) -> None:
        self.conninfo = conninfo
        self.channel = channel
        self._event = threading.Event()
        self._stop = threading.Event()
        self._listening = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._listen, name="mynacard-listen", daemon=True)
        self._thread.start()
        self._listening.wait(10)

    def _listen(self) -> None:
        import psycopg
        from psycopg import sql

        try:
            with psycopg.connect(self.conninfo, autocommit=True) as conn:
                conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                self._listening.set()
                while not self._stop.is_set():
                    for _ in conn.notifies(timeout=0.5):
                        self._event.set()
        except BaseException as e:
            self.error = e
            self._listening.set()

    def wait(self, timeout: float, stop: threading.Event | None = None) -> bool:
        """Wait until the log grows (True), ``timeout`` seconds pass or ``stop`` is set (False)."""
        deadline = timeout
        while deadline > 0:
            if self._event.wait(min(0.25, deadline)):
                self._event.clear()
                return True
            if stop is not None and stop.is_set():
                return False
            deadline -= 0.25
        return False

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)


def wakeup_for(recorder: Any) -> LogWakeup | None:
    """A LISTEN/NOTIFY wake-up for a PostgreSQL log; None for SQLite (poll instead)."""
    if "eventsourcing.postgres" not in sys.modules:
        return None  # no PostgreSQL recorder can exist in this process
    from eventsourcing.postgres import PostgresApplicationRecorder

    if isinstance(recorder, PostgresApplicationRecorder):
        from psycopg.conninfo import make_conninfo

        pool = recorder.datastore.pool
        kwargs = pool.kwargs() if callable(pool.kwargs) else (pool.kwargs or {})
        params = {k: v for k, v in kwargs.items() if k in _CONNECTION_PARAMS and v is not None}
        return LogWakeup(make_conninfo(str(pool.conninfo or ""), **params), recorder.channel_name)
    return None


_CONNECTION_PARAMS = frozenset({"dbname", "host", "port", "user", "password", "connect_timeout", "sslmode"})
