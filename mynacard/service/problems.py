"""Errors as RFC 9457 problem details (``application/problem+json``), mapped from the same error
classes the CLI maps to exit codes:

| class | CLI exit | HTTP | ``type`` |
|---|---|---|---|
| bad input (a field is wrong) | 2 | 422 | ``/problems/bad-input`` (``errors``: field, message, rule) |
| refused by a rule | 3 | 422 | ``/problems/rule-violation`` (``rule``) |
| unknown card, certificate, token | 4 | 404 | ``/problems/not-found`` |
| conflict (command id reused, card kept changing) | 5 | 409 | ``/problems/conflict`` |
| configuration (store, keys, clock behind the log) | 6 | 503 | ``/problems/configuration`` |
| integrity (tampering, a version gap) | 7 | 503 | ``/problems/integrity`` |
| unexpected | 1 | 500 | ``/problems/internal`` (``request_id`` names the log line) |
| no or bad token / wrong role | — | 401 / 403 | ``/problems/unauthenticated`` / ``/problems/forbidden`` |

A refusal by a rule is 422, not 409: the request is understood and well-formed but the rules
forbid it (the same request is refused again until the card's state changes); 409 is kept for
conflicts a client resolves by retrying or by a new ``Idempotency-Key``. No traceback and no
submitted value ever reaches a client (a My Number or a PIN never leaves the model).
"""

from __future__ import annotations

import logging
from typing import Any

from eventsourcing.persistence import MapperDeserialisationError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from commands.errors import CommandIdReused, ConcurrencyConflict, InputError, NotFound
from lifecycle.errors import RuleViolation
from storage.errors import ConfigurationError, ConsumerBusy
from storage.integrity import StoreIntegrityError, TamperingDetected

log = logging.getLogger("mynacard.service")

PROBLEM_JSON = "application/problem+json"

TITLES = {
    "bad-input": "A field of the request is wrong; nothing was recorded",
    "rule-violation": "Refused by a rule; nothing was recorded",
    "not-found": "Not found",
    "conflict": "Conflict",
    "configuration": "The service is not configured to answer",
    "integrity": "The stored data failed an integrity check",
    "internal": "Unexpected error",
    "unauthenticated": "Authentication required",
    "forbidden": "This role may not do this",
    "method-not-allowed": "Method not allowed",
}

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "rule": {"type": "string"},
        "field": {"type": "string"},
        "hint": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                    "rule": {"type": "string"},
                },
            },
        },
    },
}


def problem(request: Request, status: int, kind: str, detail: str, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"/problems/{kind}",
        "title": TITLES.get(kind, kind),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "request_id": getattr(request.state, "request_id", None),
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    headers = {"X-Request-Id": body["request_id"] or ""}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="mynacard"'
    return JSONResponse(
        {k: v for k, v in body.items() if v is not None}, status, headers, media_type=PROBLEM_JSON
    )


def _input(request: Request, e: InputError, status: int, kind: str) -> JSONResponse:
    issues = [i.as_dict() for i in e.issues]
    first = e.issues[0] if e.issues else None
    return problem(
        request,
        status,
        kind,
        str(e) or kind,
        errors=issues,
        field=first.field if first else None,
        rule=next((i.rule for i in e.issues if i.rule), None),
        hint=e.hint,
    )


def _request_validation(request: Request, e: RequestValidationError) -> JSONResponse:
    """FastAPI's own checks of path, query and headers, named like the model's (no input echoed)."""
    issues = []
    for err in e.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        field = "(body)" if err.get("type") == "json_invalid" else ".".join(loc) or "(request)"
        issues.append({"field": field, "message": str(err.get("msg", "invalid"))})
    detail = "; ".join(f"{i['field']}: {i['message']}" for i in issues)
    return problem(
        request, 422, "bad-input", detail, errors=issues, field=issues[0]["field"] if issues else None
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Every error class answered as problem details; anything else a 500 with a request id."""

    @app.exception_handler(NotFound)
    async def not_found(request: Request, e: NotFound) -> JSONResponse:
        return _input(request, e, 404, "not-found")

    @app.exception_handler(InputError)
    async def bad_input(request: Request, e: InputError) -> JSONResponse:
        return _input(request, e, 422, "bad-input")

    @app.exception_handler(RequestValidationError)
    async def request_invalid(request: Request, e: RequestValidationError) -> JSONResponse:
        return _request_validation(request, e)

    @app.exception_handler(RuleViolation)
    async def rule(request: Request, e: RuleViolation) -> JSONResponse:
        return problem(request, 422, "rule-violation", e.message, rule=e.rule, hint=e.hint)

    @app.exception_handler(CommandIdReused)
    @app.exception_handler(ConcurrencyConflict)
    @app.exception_handler(ConsumerBusy)
    async def conflict(request: Request, e: Exception) -> JSONResponse:
        hint = e.as_dict().get("hint") if hasattr(e, "as_dict") else None
        field = "Idempotency-Key" if isinstance(e, CommandIdReused) else None
        return problem(request, 409, "conflict", str(e), hint=hint, field=field)

    @app.exception_handler(TamperingDetected)
    @app.exception_handler(StoreIntegrityError)
    async def integrity(request: Request, e: Exception) -> JSONResponse:
        log.error("integrity failure (request %s): %s", request.state.request_id, e)
        return problem(
            request,
            503,
            "integrity",
            str(e),
            hint="run 'mynacard verify' and restore the store from a backup",
        )

    @app.exception_handler(MapperDeserialisationError)
    @app.exception_handler(ConfigurationError)
    async def configuration(request: Request, e: Exception) -> JSONResponse:
        log.error("configuration (request %s): %s", request.state.request_id, e)
        return problem(
            request,
            503,
            "configuration",
            str(e)
            if isinstance(e, ConfigurationError)
            else "the stored events cannot be read with the configured key ring",
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException) -> JSONResponse:
        if e.status_code == 400:  # FastAPI could not decode a body: bad input, like the model's
            detail = "the body is not JSON (UTF-8)"
            return problem(
                request,
                422,
                "bad-input",
                detail,
                field="(body)",
                errors=[{"field": "(body)", "message": detail}],
            )
        kind = {401: "unauthenticated", 403: "forbidden", 404: "not-found", 405: "method-not-allowed"}.get(
            e.status_code, "bad-input"
        )
        return problem(request, e.status_code, kind, str(e.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, e: Exception) -> JSONResponse:
        rid = getattr(request.state, "request_id", "?")
        log.exception("unexpected error (request %s)", rid, exc_info=e)
        return problem(
            request, 500, "internal", f"unexpected error; the service log has it under request id {rid}"
        )
