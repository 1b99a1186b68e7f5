"""Operations over HTTP: staff tokens, projections, rebuild, key rotation and sweep (admin or
supervisor), and the health, readiness and metrics endpoints."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from commands.errors import InputError, NotFound
from commands.sweep import sweep
from lifecycle.calendar import jst_date
from mynacard.bootstrap import check_key_ring, rotate_store_key
from mynacard.integrity.chain_check import BrokenChain, walk_store_chain
from mynacard.service.bodies import body_of, model_body
from mynacard.service.guard import require, service_of
from mynacard.service.identity import Identity, Role, issue_token
from mynacard.service.read_routes import RESPONSES, day_of
from mynacard.service.roles import Permission
from mynacard.service.state import Service


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=120, description="who the token is for (staff id or system)")
    role: Role
    office: str | None = Field(
        None, max_length=20, description="office code (e.g. the municipality's 131016)"
    )


class SweepRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    until: str | None = Field(None, description="record what time made due by this day (default: today)")


def token_listing(service: Service) -> list[dict[str, Any]]:
    return [
        {k: getattr(t, k) for k in t.__dataclass_fields__ if k != "token_hash"}
        for t in service.registry.tokens()
    ]


def run_sweep(service: Service, until_text: str | None, identity: Identity) -> dict[str, Any]:
    today = jst_date(service.write.clock())
    until = day_of("until", until_text) or today
    if until > today:
        raise InputError.single(
            "until", f"{until.isoformat()} lies after today: time has not made it due yet"
        )
    scan = service.ask(lambda q: q.read.sweep_scan(until))
    report = sweep(service.write, scan.candidates, until, identity.actor(), cards_checked=scan.checked)
    return report.as_dict()


def readiness(service: Service) -> tuple[bool, dict[str, Any]]:
    checks: dict[str, Any] = {}
    ok = True
    try:
        head = service.write.recorder.max_notification_id() or 0
        checks["store"] = {"ok": True, "head": head}
    except Exception as e:
        checks["store"] = {"ok": False, "problem": type(e).__name__}
        return False, checks
    try:
        check_key_ring(service.write.recorder, service.write.mapper)
        checks["keys"] = {"ok": True}
    except Exception as e:
        ok = False
        checks["keys"] = {"ok": False, "problem": str(e)}
    positions = service.positions()
    checks["projections"] = positions
    try:
        report = service.latency()
        # Reported, not a reason to take the process out of service: a slow consumer is not cured
        # by sending clerks elsewhere.
        checks["revocation_objective"] = {"met": not report["breaches"], "breaches": report["breaches"]}
    except Exception as e:
        checks["revocation_objective"] = {"met": None, "problem": type(e).__name__}
    if any(p["state"] != "ok" for p in positions.values()):
        ok = False
    return ok, checks


def add_operation_routes(app: FastAPI) -> None:
    r = APIRouter(tags=["operations"], responses=RESPONSES)
    admin = require(Permission.ADMIN)

    @r.post(
        "/tokens",
        status_code=201,
        summary="make a staff token (shown once; only its hash is kept)",
        openapi_extra=body_of(TokenRequest),
    )
    async def create_token(request: Request, identity: Identity = admin) -> dict[str, Any]:
        body = await model_body(request, TokenRequest)
        record, token = await run_in_threadpool(
            issue_token, service_of(request).registry, body.name, body.role, body.office, identity.actor()
        )
        return {
            "token": token,
            "token_id": record.token_id,
            "name": record.name,
            "role": record.role,
            "office": record.office,
        }

    @r.get("/tokens", summary="every staff token (never the token itself)")
    async def list_tokens(request: Request, identity: Identity = admin) -> list[dict[str, Any]]:
        return await run_in_threadpool(token_listing, service_of(request))

    @r.post("/tokens/{token_id}/revoke", summary="revoke a staff token (at once, in every worker)")
    async def revoke_token(request: Request, token_id: str, identity: Identity = admin) -> dict[str, Any]:
        at = datetime.now(UTC).isoformat(timespec="seconds")
        done = await run_in_threadpool(
            service_of(request).registry.revoke_token, token_id, at, identity.actor()
        )
        if not done:
            raise NotFound.single("token_id", "no live token has this id ('GET /tokens' lists them)")
        return {"token_id": token_id, "revoked_at": at}

    @r.get("/projections", summary="each projection's position and lag behind the log")
    async def projections(request: Request, identity: Identity = admin) -> dict[str, Any]:
        return await run_in_threadpool(service_of(request).positions)

    @r.post(
        "/rebuild",
        summary="rebuild the read models from the log (readers keep the old view until the swap); "
        "refused (503, integrity) when the log's hash chain is broken (issue 13)",
    )
    async def rebuild(request: Request, identity: Identity = admin) -> dict[str, Any]:
        service = service_of(request)

        def checked_rebuild() -> Any:
            # As 'mynacard rebuild': never over a broken chain. Accepting a break is a decision
            # recorded with a reason: the CLI's 'rebuild --accept-broken-chain --reason'.
            report, _ = walk_store_chain(service.settings)
            if not report.ok:
                raise BrokenChain(report)
            return service.ask(lambda q: q.read.rebuild())

        return await run_in_threadpool(checked_rebuild)

    @r.post("/rotate-key", summary="add an encryption key to the ring; new events use it")
    async def rotate(request: Request, identity: Identity = admin) -> dict[str, Any]:
        key, position = await run_in_threadpool(rotate_store_key, service_of(request).settings)
        return {"key_id": key.key_id, "older_keys_up_to_position": position}

    @r.post(
        "/sweep",
        summary="record what time made due (expiries, lapses, expiry notices) by a day",
        openapi_extra=body_of(SweepRequest, required=False),
    )
    async def run(
        request: Request, identity: Identity = require(Permission.RECORD_IRREVERSIBLE)
    ) -> dict[str, Any]:
        until = (await model_body(request, SweepRequest)).until
        return await run_in_threadpool(run_sweep, service_of(request), until, identity)

    @r.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics(request: Request, identity: Identity = admin) -> Response:
        text = await run_in_threadpool(service_of(request).metrics.exposition)
        return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    app.include_router(r)

    @app.get("/healthz", tags=["health"], summary="the process answers (no authentication)")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["health"],
        summary="store reachable, keys match, projections on this log (no authentication)",
        responses={503: {"description": "not ready: the checks say which part is not"}},
    )
    async def readyz(request: Request) -> JSONResponse:
        ok, checks = await run_in_threadpool(readiness, service_of(request))
        return JSONResponse({"ready": ok, "checks": checks}, 200 if ok else 503)
