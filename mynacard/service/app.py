"""The FastAPI application of ``mynacard serve``.

``create_app(settings, authenticator=None)`` builds it; each worker process opens its own
``Service`` (write side, read side, staff registry) in the lifespan. ``app_from_environment`` is
the factory uvicorn's workers call (settings from ``MYNACARD_*``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.openapi.utils import get_openapi

from commands.config import Settings
from mynacard.service.checkpoint_routes import add_checkpoint_routes
from mynacard.service.feed_routes import add_feed_routes
from mynacard.service.identity import Authenticator
from mynacard.service.operation_routes import add_operation_routes
from mynacard.service.pki_routes import add_pki_routes
from mynacard.service.problems import install_problem_handlers
from mynacard.service.read_routes import add_read_routes
from mynacard.service.receipt_routes import add_receipt_routes
from mynacard.service.state import Service, new_request_id
from mynacard.service.write_routes import add_command_routes
from mynacard.web.pages import add_pages

log = logging.getLogger("mynacard.service")

DESCRIPTION = """
The back-office service of mynacard: every write command of the CLI is a POST generated from
its command model; reads answer from the read models (and audit replay from the log).

* **Authentication**: `Authorization: Bearer <token>` on every route but `/`, `/healthz`,
  `/readyz`, `/docs`, `/openapi.json` and what relying parties need: `/ca.pem`,
  `/checkpoints/latest`, `/checkpoints/public-key`. Tokens: `mynacard token create --name N --role R`.
* **Writes** need `Idempotency-Key: <uuid>` (the command id). A replay answers the first result
  (200, `Idempotent-Replayed: true`); the same key with another body is 409.
* **Errors** are RFC 9457 problem details (`application/problem+json`) naming the field and the
  rule: bad input 422 (`/problems/bad-input`), refused by a rule 422 (`/problems/rule-violation`),
  unknown 404, conflict 409, configuration 503, unexpected 500 with a `request_id`.
* **Access records**: every read of a person's data is recorded (who, when, which card or
  person, route, `purpose`); auditors read them at `GET /access-records`.
* Dates: ISO (`2025-04-01`, `2025-04-01T09:00`) or 和暦 (`令和7年4月1日`), JST.
"""


def create_app(settings: Settings | None = None, authenticator: Authenticator | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = Service(settings, authenticator)
        app.state.service = service
        try:
            yield
        finally:
            service.close()

    app = FastAPI(
        title="mynacard",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[
            {"name": "commands", "description": "record procedures (one route per command model)"},
            {"name": "reads", "description": "status, history, certificates, people, lists"},
            {"name": "operations", "description": "tokens, projections, sweep, metrics"},
            {"name": "relying parties", "description": "CA certificate, CRL, OCSP, certificate status"},
            {"name": "feed", "description": "the event feed (SSE) and its named consumers"},
            {"name": "health", "description": "liveness and readiness (no authentication)"},
        ],
    )
    install_problem_handlers(app)
    schemas: dict[str, Any] = {}
    add_command_routes(app, schemas)
    add_read_routes(app)
    add_receipt_routes(app)
    add_operation_routes(app)
    add_pki_routes(app)
    add_feed_routes(app)
    add_checkpoint_routes(app)
    add_pages(app)

    @app.middleware("http")
    async def request_context(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        request.state.request_id = new_request_id()
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "(unmatched)")
        service: Service | None = getattr(request.app.state, "service", None)
        if service is not None:
            service.metrics.requests.labels(request.method, path, str(response.status_code)).inc()
            service.metrics.latency.labels(request.method, path).observe(time.perf_counter() - started)
        response.headers["X-Request-Id"] = request.state.request_id
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
            )
            doc.setdefault("components", {}).setdefault("schemas", {}).update(schemas)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def app_from_environment() -> FastAPI:
    """The factory ``uvicorn --factory`` calls in each worker (settings from ``MYNACARD_*``)."""
    return create_app(Settings())
