"""Signed checkpoints of the hash chain over HTTP (issue 13), public as ``/ca.pem`` is: relying
parties and consumers need them to check what they hold without a token.

- ``GET /checkpoints/latest``: the newest checkpoint (``mynacard.checkpoint/1`` JSON,
  ``storage.chain_checkpoints``); 404 problem when none was made yet.
- ``GET /checkpoints/public-key``: the log signing key's public key (PEM, SubjectPublicKeyInfo).

Each worker makes checkpoints every ``MYNACARD_CHECKPOINT_INTERVAL`` seconds (0: none) when the
log grew (``mynacard.integrity.checkpoints.CheckpointMaker``, started in the lifespan); workers
racing at one head store one checkpoint.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from mynacard.integrity.checkpoints import CheckpointMaker, Made, make_checkpoint, open_chain_checkpoints
from mynacard.integrity.signing import LogSigner, open_log_signer
from mynacard.service.guard import service_of
from mynacard.service.problems import PROBLEM_JSON, PROBLEM_SCHEMA, problem
from mynacard.service.state import Service
from storage.interface import ChainCheckpoints

PEM = "application/x-pem-file"


class Checkpointing:
    """A worker's checkpoint store, signing key and (when the interval is not 0) maker."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.store: ChainCheckpoints = open_chain_checkpoints(service.settings)
        self.signer: LogSigner = open_log_signer(service.settings, service.write.command_log)
        interval = service.settings.checkpoint_interval
        self.maker = CheckpointMaker(self.make, interval) if interval > 0 else None

    def make(self) -> Made | None:
        return make_checkpoint(self.service.write.command_log, self.store, self.signer, datetime.now(UTC))

    def close(self) -> None:
        if self.maker is not None:
            self.maker.stop()
        self.store.close()


def checkpointing_of(request: Request) -> Checkpointing:
    found: Checkpointing = request.app.state.checkpointing
    return found


def run_checkpoints_in_lifespan(app: FastAPI) -> None:
    """Open the worker's checkpointing once its service is open; stop it before the service closes."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: Any) -> AsyncIterator[Any]:
        async with inner(app_) as state:
            checkpointing = Checkpointing(app_.state.service)
            app_.state.checkpointing = checkpointing
            if checkpointing.maker is not None:
                checkpointing.maker.start()
            try:
                yield state
            finally:
                app_.state.checkpointing = None
                checkpointing.close()

    app.router.lifespan_context = lifespan


def add_checkpoint_routes(app: FastAPI) -> None:
    run_checkpoints_in_lifespan(app)
    r = APIRouter(tags=["relying parties"])

    @r.get(
        "/checkpoints/latest",
        summary="the newest signed checkpoint of the hash chain (mynacard.checkpoint/1; no authentication)",
        responses={404: {"content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}}}},
    )
    async def latest(request: Request) -> Any:
        service_of(request)
        found = await run_in_threadpool(checkpointing_of(request).store.latest_checkpoint)
        if found is None:
            return problem(
                request,
                404,
                "not-found",
                "no checkpoint was signed yet",
                hint="the service signs one every MYNACARD_CHECKPOINT_INTERVAL seconds once the log has "
                "events; an operator can run 'mynacard checkpoint'",
            )
        return found.as_dict()

    @r.get(
        "/checkpoints/public-key",
        summary="the public key that signs checkpoints and receipts (PEM; no authentication)",
        response_class=Response,
        responses={200: {"content": {PEM: {}}}},
    )
    async def public_key(request: Request) -> Response:
        return Response(checkpointing_of(request).signer.public_key_pem, media_type=PEM)

    app.include_router(r)


def checkpoints_of(request: Request) -> ChainCheckpoints | None:
    """The worker's checkpoint store (None before the lifespan opened it)."""
    found: Checkpointing | None = getattr(request.app.state, "checkpointing", None)
    return found.store if found is not None else None
