"""Request bodies read inside the endpoint, after the caller is authenticated (FastAPI parses a
declared body before its dependencies run, so a bad body would answer 422 to a caller without a
token): the raw JSON, validated by the model, errors as bad input naming the field."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from commands.errors import InputError

M = TypeVar("M", bound=BaseModel)


async def json_body(request: Request) -> Any:
    """The body as JSON (an empty body is an empty object)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InputError.single("(body)", "the body is not JSON (UTF-8)") from None


async def model_body(request: Request, model: type[M]) -> M:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise InputError.single("(body)", "the body must be a JSON object")
    try:
        return model.model_validate(body)
    except ValidationError as e:
        raise InputError.from_validation(e) from None


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with its ``$defs`` resolved in place (for ``openapi_extra``)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return resolve(schema)  # type: ignore[no-any-return]


def body_of(model: type[BaseModel], *, required: bool = True) -> dict[str, Any]:
    """``openapi_extra`` documenting a JSON body of ``model`` read by ``model_body``."""
    return {
        "requestBody": {
            "required": required,
            "content": {"application/json": {"schema": inline_schema(model)}},
        }
    }
