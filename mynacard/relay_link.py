"""The relay's one NATS connection (``mynacard/relay.py``), made again after it broke: the
client's own reconnection is off, so a publish in doubt is retried by the relay itself with the
same ``Nats-Msg-Id``.

Only ``mynacard relay`` loads this module (and with it the NATS client).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

import nats
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js import JetStreamContext

FAILURES = (TimeoutError, NatsError, OSError)
"""What a lost connection, a server that does not answer or a timeout raise."""


class LinkOptions(Protocol):
    @property
    def servers(self) -> list[str]: ...

    @property
    def ack_timeout(self) -> float: ...


class Link:
    """One NATS connection, made again after it broke (the client's own reconnection is off: a
    publish in doubt is retried here, with the same ``Nats-Msg-Id``)."""

    def __init__(self, options: LinkOptions) -> None:
        self.options = options
        self.client: Client | None = None
        self.js: JetStreamContext | None = None
        self.last_error = ""

    async def _note_error(self, error: Exception) -> None:
        self.last_error = f"{type(error).__name__}: {error}".rstrip(": ")

    async def connect(self) -> JetStreamContext:
        if self.client is not None and self.client.is_connected and self.js is not None:
            return self.js
        await self.close()
        self.last_error = ""
        try:
            self.client = await nats.connect(
                self.options.servers,
                name="mynacard-relay",
                connect_timeout=2,
                allow_reconnect=False,
                max_reconnect_attempts=1,  # the initial connect tries each server twice
                reconnect_time_wait=0.2,
                error_cb=self._note_error,
            )
        except FAILURES as e:
            raise Unreachable(self.last_error or f"{type(e).__name__}: {e}") from None
        self.js = self.client.jetstream(timeout=self.options.ack_timeout)
        return self.js

    async def close(self) -> None:
        client, self.client, self.js = self.client, None, None
        if client is not None and not client.is_closed:
            with contextlib.suppress(*FAILURES):
                await asyncio.wait_for(client.close(), 5)


class Unreachable(Exception):
    """The connection could not be made (the reason is the client's last error)."""
