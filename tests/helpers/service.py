"""The HTTP service under test: in-process (FastAPI's ``TestClient``, lifespan run) or as a real
``mynacard serve`` process on a free port, on the test's store (SQLite or PostgreSQL, as the
backend of the run: ``tests.helpers.backend``).

``Api`` sends requests as one identity (a token made for a role) and builds a card through
the write routes: ``Api.issue_card()`` applies, accepts, produces, notifies and hands over.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from commands.config import Settings
from mynacard.bootstrap import open_staff_registry
from mynacard.service.app import create_app
from mynacard.service.identity import Role, issue_token
from tests.helpers.backend import settings as backend_settings

NOW = "2026-04-01T09:00"
"""The service's fixed clock in tests (``MYNACARD_NOW``): reproducible dates."""
MY_NUMBER = "123456789018"
PINS = {"sig_pin": "ABC123", "auth_pin": "1234", "juki_pin": "1234", "card_details_pin": "1234"}

_application_ids = iter(range(10**22, 10**23))


def new_my_number() -> str:
    """A valid My Number (R01 check digit) of a new person."""
    from stdnum.jp import in_

    body = f"{uuid.uuid4().int % 10**11:011d}"
    return body + str(in_.calc_check_digit(body))


def new_application_id() -> str:
    return f"{next(_application_ids) + uuid.uuid4().int % 10**12:023d}"


def service_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"now": NOW}
    values.update(overrides)
    return backend_settings(tmp_path, **values)


def make_token(
    settings: Settings, role: Role | str, name: str | None = None, office: str | None = "131016"
) -> str:
    registry = open_staff_registry(settings)
    try:
        role = Role(role)
        _, token = issue_token(registry, name or f"{role.value}-1", role, office, "test")
        return token
    finally:
        registry.close()


@dataclass
class Api:
    """Requests as one identity, on an ``httpx``-like client (``TestClient`` or ``httpx.Client``)."""

    client: Any
    token: str | None
    last: Any = field(default=None, init=False)

    def headers(self, **extra: str) -> dict[str, str]:
        h = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        h.update(extra)
        return h

    def get(self, path: str, **params: Any) -> Any:
        self.last = self.client.get(path, params=params or None, headers=self.headers())
        return self.last

    def post(self, path: str, body: Any = None, *, key: str | None = None, **headers: str) -> Any:
        h = self.headers(**headers)
        if key is not None:
            h["Idempotency-Key"] = key
        self.last = self.client.post(path, json=body, headers=h)
        return self.last

    def command(self, command: str, card: str | None = None, *, key: str | None = None, **body: Any) -> Any:
        path = f"/cards/{card}/{command}" if card is not None else "/applications"
        return self.post(path, body, key=key or str(uuid.uuid4()))

    def apply(self, application_id: str | None = None, **fields: Any) -> str:
        application_id = application_id or new_application_id()
        body = {
            "application_id": application_id,
            "my_number": MY_NUMBER,
            "date_of_birth": "1980-10-10",
            "photo_taken_on": "2026-03-01",
            **fields,
        }
        r = self.command("apply", **body)
        assert r.status_code == 201, r.text
        return application_id

    def issue_card(self, application_id: str | None = None, **fields: Any) -> str:
        """A card applied for, produced and handed over (active, SIG and AUTH issued)."""
        card = self.apply(application_id, **fields)
        for command in ("accept", "produce", "send-notice"):
            r = self.command(command, card)
            assert r.status_code == 201, r.text
        r = self.command(
            "hand-over", card, identity_documents=["driving_licence"], notification_card="collected", **PINS
        )
        assert r.status_code == 201, r.text
        return card


@contextmanager
def in_process(settings: Settings) -> Iterator[TestClient]:
    """The app in this process, its lifespan run (one ``Service``), server errors as 500s."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[str]
    log: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)


def wait_for_health(process: subprocess.Popen[Any], url: str, log: Path, seconds: float = 60) -> None:
    """Until the ``serve`` process answers ``/healthz`` (AssertionError, with its log, if it exits
    or does not answer within ``seconds``). The tests and the benches start servers this way."""
    deadline = time.monotonic() + seconds
    while True:
        if process.poll() is not None:
            raise AssertionError(f"serve exited {process.returncode}: {log.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"serve did not answer within {seconds:g} s: {log.read_text()}")
        time.sleep(0.1)


@contextmanager
def live_server(settings: Settings, *args: str, **env: str) -> Iterator[LiveServer]:
    """``python -m mynacard serve`` on a free port (its output in ``<data dir>/serve.log``), ready
    when ``/healthz`` answers; stopped (SIGTERM, then SIGKILL) at the end."""
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MYNACARD_")}
    environment.update(
        MYNACARD_DATA_DIR=str(settings.data_dir),
        MYNACARD_DATABASE_URL=settings.effective_database_url,
        **({"MYNACARD_NOW": settings.now.isoformat()} if settings.now else {}),
        **env,
    )
    log = Path(settings.data_dir) / f"serve-{port}.log"
    out = log.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "mynacard", "serve", "--port", str(port), "--log-level", "warning", *args],
        env=environment,
        stdout=out,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(process, url, log)
        yield LiveServer(url, process, log)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        out.close()
