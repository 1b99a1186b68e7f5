"""Signed validity receipts over HTTP (issue 13): ``POST /receipts/valid-at`` answers what
``GET /certificates/{serial}/valid-at`` answers, from the log up to its chain head (read first),
as a receipt signed by the store's log signing key (``mynacard.integrity.receipts``): the same
document ``mynacard valid-at … --receipt FILE`` writes, checked offline by ``mynacard
verify-receipt``. The same roles as valid-at (``certificate_status``); counted, like it.
"""

from __future__ import annotations

import threading
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from mynacard.integrity.rederive import signed_answer
from mynacard.integrity.signing import LogSigner, open_log_signer
from mynacard.queries import Questions, unknown_certificate
from mynacard.service.bodies import body_of, model_body
from mynacard.service.guard import require, service_of
from mynacard.service.identity import Identity
from mynacard.service.read_routes import RESPONSES, WHEN, moment_of
from mynacard.service.roles import Permission
from mynacard.service.state import Service
from projections.event_json import jsonable
from storage.interface import CommandLog

_signer_lock = threading.Lock()


class ValidAtReceiptRequest(BaseModel):
    """The question of a validity receipt."""

    model_config = ConfigDict(extra="forbid")
    serial: str = Field(min_length=1, max_length=64, description="the certificate's serial number")
    at: str = Field(description=f"the effective time T: {WHEN}")
    as_known_at: str | None = Field(None, description=f"a recorded time S (default: as known now): {WHEN}")


def _signer(request: Request, service: Service) -> LogSigner:
    """The store's log signing key, opened (and bound to the store) once per process."""
    with _signer_lock:
        signer: LogSigner | None = getattr(request.app.state, "log_signer", None)
        if signer is None:
            signer = open_log_signer(service.settings, service.write.command_log)
            request.app.state.log_signer = signer
        return signer


def add_receipt_routes(app: FastAPI) -> None:
    r = APIRouter(tags=["relying parties"], responses=RESPONSES)

    @r.post(
        "/receipts/valid-at",
        summary="a signed receipt: was the certificate valid at T, as known now or at S (no personal data)",
        openapi_extra=body_of(ValidAtReceiptRequest),
    )
    async def valid_at_receipt(
        request: Request, identity: Identity = require(Permission.CERTIFICATE_STATUS)
    ) -> dict[str, Any]:
        body = await model_body(request, ValidAtReceiptRequest)
        at = moment_of("at", body.at)
        assert at is not None
        known = moment_of("as_known_at", body.as_known_at)
        serial = body.serial.strip().upper()
        service = service_of(request)
        signer = await run_in_threadpool(_signer, request, service)

        def answer(q: Questions) -> dict[str, Any] | None:
            log = q.read.upstream.recorder
            assert isinstance(log, CommandLog)
            return signed_answer(q.events, log, signer, serial, at, known, jsonable(q.now()))

        receipt = await run_in_threadpool(service.ask, answer)
        if receipt is None:
            raise unknown_certificate()
        route = request.scope.get("route")
        await run_in_threadpool(service.count_access, identity, getattr(route, "path", request.url.path))
        return receipt

    app.include_router(r)
