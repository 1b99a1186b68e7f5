"""Certificate status in the formats relying parties already use (issue 12): the issuer
certificate (``GET /ca.pem``), the CRL (``GET /crl``, DER, RFC 5280), the OCSP responder
(``POST /ocsp`` and ``GET /ocsp/{base64}``, RFC 6960) and a JSON status per certificate
(``GET /certificates/{serial}/status``). They carry serials, never a person; reads are counted.

The CRL and OCSP routes need a token with the ``certificate_status`` permission (relying parties
and staff): JPKI's revocation information is given to registered verifiers, not to the public.
``GET /ca.pem`` needs none (a CA certificate is public).
"""

from __future__ import annotations

from typing import Annotated, Any

from cryptography.x509 import ocsp
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from mynacard.pki.answers import crl_der, ocsp_der, relying_party_status
from mynacard.pki.crl import crl_pem
from mynacard.pki.ocsp import request_from_get, unsuccessful
from mynacard.queries import unknown_certificate
from mynacard.service.guard import require, service_of
from mynacard.service.identity import Identity
from mynacard.service.read_routes import RESPONSES, WHEN, moment_of
from mynacard.service.roles import Permission

OCSP_REQUEST, OCSP_RESPONSE = "application/ocsp-request", "application/ocsp-response"
MAX_OCSP_REQUEST = 8192


def add_pki_routes(app: FastAPI) -> None:
    r = APIRouter(tags=["relying parties"], responses=RESPONSES)
    status_reader = require(Permission.CERTIFICATE_STATUS)

    @r.get(
        "/ca.pem",
        summary="the issuer certificate of the CRL and OCSP answers (PEM; no authentication)",
        response_class=Response,
        responses={200: {"content": {"application/x-pem-file": {}}}},
    )
    async def ca_pem(request: Request) -> Response:
        return Response(service_of(request).issuer.pem, media_type="application/x-pem-file")

    @r.get(
        "/crl",
        summary="the revocation list as a signed X.509 CRL (DER; ?format=pem for PEM)",
        response_class=Response,
        responses={200: {"content": {"application/pkix-crl": {}, "application/x-pem-file": {}}}},
    )
    async def crl(
        request: Request,
        format: Annotated[str, Query(pattern="^(der|pem)$")] = "der",
        identity: Identity = status_reader,
    ) -> Response:
        service = service_of(request)
        validity, since = service.settings.crl_validity, service.started_at
        der = await run_in_threadpool(
            service.ask, lambda q: crl_der(q.read, service.issuer, validity, since, service.seen)
        )
        await _count(request, identity)
        if format == "pem":
            return Response(crl_pem(der), media_type="application/x-pem-file")
        return Response(der, media_type="application/pkix-crl")

    @r.post(
        "/ocsp",
        summary="OCSP (RFC 6960): the DER request in the body, a signed DER response",
        response_class=Response,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {OCSP_REQUEST: {"schema": {"type": "string", "format": "binary"}}},
            }
        },
        responses={200: {"content": {OCSP_RESPONSE: {}}}},
    )
    async def ocsp_post(request: Request, identity: Identity = status_reader) -> Response:
        body = await request.body()
        return await _answer(request, identity, body[: MAX_OCSP_REQUEST + 1])

    @r.get(
        "/ocsp/{request_b64:path}",
        summary="OCSP by GET (RFC 6960 Appendix A.1: the base64 of the DER request in the path)",
        response_class=Response,
        responses={200: {"content": {OCSP_RESPONSE: {}}}},
    )
    async def ocsp_get(request: Request, request_b64: str, identity: Identity = status_reader) -> Response:
        return await _answer(request, identity, request_from_get(request_b64))

    @r.get(
        "/certificates/{serial}/status",
        summary="a certificate's status for relying parties (JSON, no personal data)",
    )
    async def status(
        request: Request,
        serial: str,
        at: Annotated[str | None, Query(description=f"the moment to judge (default now): {WHEN}")] = None,
        identity: Identity = status_reader,
    ) -> dict[str, Any]:
        service = service_of(request)
        moment = moment_of("at", at) or service.questions.now()
        answer = await run_in_threadpool(service.ask, lambda q: relying_party_status(q.read, serial, moment))
        if answer is None:
            raise unknown_certificate()
        await _count(request, identity)
        return answer

    app.include_router(r)


async def _answer(request: Request, identity: Identity, der: bytes) -> Response:
    service = service_of(request)
    if len(der) > MAX_OCSP_REQUEST:
        body = unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    else:
        try:
            body = await run_in_threadpool(
                service.ask,
                lambda q: ocsp_der(q.read, service.issuer, der, service.settings.ocsp_validity, service.seen),
            )
        except Exception:  # the read side cannot answer now: tryLater (RFC 6960 §2.3), never a 500
            body = unsuccessful(ocsp.OCSPResponseStatus.TRY_LATER)
    await _count(request, identity)
    return Response(body, media_type=OCSP_RESPONSE, headers={"Cache-Control": "no-store"})


async def _count(request: Request, identity: Identity) -> None:
    route = request.scope.get("route")
    await run_in_threadpool(
        service_of(request).count_access, identity, getattr(route, "path", request.url.path)
    )
