"""One POST route per command model, generated from the model (adding a command model adds its
route): ``POST /applications`` for ``apply``, ``POST /persons/forget`` for ``forget`` (issue 13),
``POST /cards/{card}/<command>`` for the rest.

The body is the command model's fields (its JSON schema in the OpenAPI document) without
``actor`` (the authenticated identity), ``command_id`` (the ``Idempotency-Key`` header) and, on
card routes, ``card`` (the path). The same model validates it as on the CLI. A replay of a key
answers the first result with ``Idempotent-Replayed: true``; the key with another body is 409.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, FastAPI, Header, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from commands import certificate_models as cm
from commands import models as m
from commands import pickup_models as pm
from commands.errors import CommandIdReused, ConcurrencyConflict, InputError
from commands.results import CommandResult
from lifecycle.errors import RuleViolation
from mynacard.service.bodies import json_body
from mynacard.service.guard import require, service_of
from mynacard.service.identity import Identity
from mynacard.service.problems import PROBLEM_JSON, PROBLEM_SCHEMA
from mynacard.service.roles import command_permission

COMMAND_MODELS: tuple[type[m.Command], ...] = (
    *m.CARD_COMMANDS,
    *pm.PICKUP_COMMANDS,
    *cm.CERTIFICATE_COMMANDS,
    m.ForgetPerson,
)
SET_BY_THE_SERVICE = ("actor", "command_id")
REPLAYED_HEADER = "Idempotent-Replayed"

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        description="the command id (a UUID): the same key again answers the first result; "
        "the same key with another body is 409",
        json_schema_extra={"format": "uuid"},
    ),
]
CardPath = Annotated[str, Path(description="application id (23 digits) or card id (UUID)", max_length=80)]


def route_of(model: type[m.Command]) -> str:
    if issubclass(model, m.CardCommand):
        return f"/cards/{{card}}/{model.COMMAND}"
    if model is m.ForgetPerson:
        return "/persons/forget"
    return "/applications"


def body_schema(model: type[m.Command], schemas: dict[str, Any]) -> dict[str, Any]:
    """The request body's JSON schema: the model's, minus what the service sets; its ``$defs``
    go to the OpenAPI components (``schemas``)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(schema.pop("$defs", {}))
    omitted = (*SET_BY_THE_SERVICE, "card")
    schema["properties"] = {k: v for k, v in schema.get("properties", {}).items() if k not in omitted}
    schema["required"] = [k for k in schema.get("required", []) if k not in omitted]
    schema["title"] = f"{model.__name__}Request"
    return schema


def command_from(
    model: type[m.Command], body: Any, identity: Identity, key: str, card: str | None
) -> m.Command:
    if not isinstance(body, dict):
        raise InputError.single("(body)", "the body must be a JSON object of the command's fields")
    for name in (*SET_BY_THE_SERVICE, *(("card",) if card is not None else ())):
        if name in body:
            where = {"actor": "the authenticated identity", "command_id": "the Idempotency-Key header"}
            raise InputError.single(name, f"set by {where.get(name, 'the path')}, not by the body")
    try:
        command_id = UUID(key)
    except ValueError:
        raise InputError.single("Idempotency-Key", "must be a UUID (the command id)") from None
    payload = {**body, "actor": identity.actor(), "command_id": str(command_id)}
    if card is not None:
        payload["card"] = card
    try:
        return model.model_validate(payload)
    except ValidationError as e:
        raise InputError.from_validation(e) from None


async def _run(
    request: Request, model: type[m.Command], identity: Identity, key: str, card: str | None
) -> JSONResponse:
    service = service_of(request)
    outcome = "error"
    try:
        command = command_from(model, await json_body(request), identity, key, card)
        result: CommandResult = await run_in_threadpool(service.execute, command)
        outcome = "replayed" if result.duplicate else "recorded"
    except InputError:
        outcome = "bad_input"
        raise
    except RuleViolation:
        outcome = "refused"
        raise
    except (CommandIdReused, ConcurrencyConflict):
        outcome = "conflict"
        raise
    finally:
        service.metrics.commands.labels(model.COMMAND, outcome).inc()
    headers = {
        REPLAYED_HEADER: "true" if result.duplicate else "false",
        "Location": f"/cards/{result.card_id}",
    }
    return JSONResponse(result.model_dump(mode="json"), 200 if result.duplicate else 201, headers)


def _card_endpoint(model: type[m.Command]) -> Any:
    async def endpoint(
        request: Request,
        card: CardPath,
        idempotency_key: IdempotencyKey,
        identity: Identity = require(command_permission(model.COMMAND)),
    ) -> JSONResponse:
        return await _run(request, model, identity, idempotency_key, card)

    return endpoint


def _application_endpoint(model: type[m.Command]) -> Any:
    async def endpoint(
        request: Request,
        idempotency_key: IdempotencyKey,
        identity: Identity = require(command_permission(model.COMMAND)),
    ) -> JSONResponse:
        return await _run(request, model, identity, idempotency_key, None)

    return endpoint


def add_command_routes(app: FastAPI, schemas: dict[str, Any]) -> None:
    router = APIRouter(tags=["commands"])
    problem = {"content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}}}
    for model in COMMAND_MODELS:
        card_route = issubclass(model, m.CardCommand)
        endpoint = _card_endpoint(model) if card_route else _application_endpoint(model)
        name = f"{model.__name__}Request"
        schemas[name] = body_schema(model, schemas)
        router.add_api_route(
            route_of(model),
            endpoint,
            methods=["POST"],
            name=model.COMMAND,
            operation_id=model.COMMAND.replace("-", "_"),
            summary=model.SUMMARY,
            description=(model.__doc__ or model.SUMMARY).strip(),
            status_code=201,
            response_model=CommandResult,
            responses={
                200: {
                    "description": "a replay: the first result of this Idempotency-Key",
                    "model": CommandResult,
                },
                401: problem,
                403: problem,
                404: problem,
                409: problem,
                422: problem,
                503: problem,
            },
            openapi_extra={
                "requestBody": {
                    "required": False,
                    "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
                }
            },
        )
    app.include_router(router)
