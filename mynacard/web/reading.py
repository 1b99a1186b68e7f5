"""The pages that show a person's data: a card (status, validity, fees, certificates, timeline,
replayed "as known at" a recorded time) and a person's cards by My Number (POSTed, never in a
URL, shown masked). Each read is answered by the same read side as the API and leaves the same
access record (who, when, which card or person, route, purpose) before the page is sent."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from pydantic import TypeAdapter, ValidationError

from commands.errors import InputError, NotFound
from commands.fields import MyNumber
from lifecycle.identifiers import holder_reference, mask_my_number
from mynacard.service.guard import service_of
from mynacard.service.read_routes import card_id_of, moment_of
from mynacard.service.roles import Permission, command_permission, may
from mynacard.web.procedures import PROCEDURES
from mynacard.web.render import render
from mynacard.web.session import Visitor, checked_form, visitor_with

HIDDEN_EVENT_DATA = frozenset({"holder_ref"})
"""Event fields not shown in the timeline's details (a keyed hash means nothing to a clerk)."""
PURPOSE_MAX = 200


def purpose_of(raw: object) -> str | None:
    text = raw.strip()[:PURPOSE_MAX] if isinstance(raw, str) else ""
    return text or None


def record_access(request: Request, visitor: Visitor, kind: str, subject: str, purpose: str | None) -> None:
    """The access record of a page read, exactly as the API's (``read_routes._record``)."""
    route = request.scope.get("route")
    service_of(request).record_access(
        visitor.identity,
        method=request.method,
        route=getattr(route, "path", request.url.path),
        subject_kind=kind,
        subject=subject,
        purpose=purpose,
        request_id=request.state.request_id,
    )


def timeline(history: dict[str, Any]) -> list[dict[str, Any]]:
    """The history's events as the page shows them."""
    rows = []
    for event in history.get("events", []):
        data = event.get("data") or {}
        details = {
            k: ", ".join(map(str, value)) if isinstance(value, list) else value
            for k, value in data.items()
            if k not in HIDDEN_EVENT_DATA and value not in (None, [], {}) and not isinstance(value, dict)
        }
        rows.append(
            {
                "type": event.get("type"),
                "subject": event.get("subject"),
                "effective_at": event.get("effective_at"),
                "recorded_at": event.get("recorded_at"),
                "back_dated": event.get("effective_at") != event.get("recorded_at"),
                "actor": event.get("actor"),
                "office": data.get("office"),
                "details": details,
            }
        )
    return rows


def home_page(
    request: Request,
    visitor: Visitor,
    *,
    status: int = 200,
    card_error: str | None = None,
    person_error: str | None = None,
    card_value: str = "",
) -> HTMLResponse:
    return render(
        request,
        "home.html",
        visitor=visitor,
        status=status,
        lang_path="/" if request.method == "POST" else None,
        card_error=card_error,
        person_error=person_error,
        card_value=card_value,
    )


def add_reading_routes(router: APIRouter) -> None:
    personal = visitor_with(Permission.READ_PERSONAL)

    @router.get("/card/{card}", include_in_schema=False, response_class=HTMLResponse)
    async def card_page(
        request: Request,
        card: str,
        as_known_at: str | None = None,
        purpose: str | None = None,
        done: str | None = None,
        replayed: str | None = None,
        visitor: Visitor = personal,
    ) -> Response:
        try:
            card_id = card_id_of(card)
            known = moment_of("as_known_at", as_known_at.strip() if as_known_at else None)
        except InputError as e:
            return input_error_page(request, visitor, e)
        service = service_of(request)
        try:
            status, history = await run_in_threadpool(
                service.ask,
                lambda q: (q.card(card_id, as_known_at=known), q.history(card_id, as_known_at=known)),
            )
        except InputError as e:
            return input_error_page(request, visitor, e)
        kept = purpose_of(purpose)
        await run_in_threadpool(record_access, request, visitor, "card", str(card_id), kept)
        procedures = [
            name
            for name in PROCEDURES
            if may(visitor.identity.role, command_permission(name)) and known is None
        ]
        return render(
            request,
            "card.html",
            visitor=visitor,
            card=status,
            card_id=str(card_id),
            events=timeline(history),
            as_known_at=status.get("as_known_at"),
            purpose=kept or "",
            procedures=procedures,
            done=done if done in PROCEDURES else None,
            replayed=bool(replayed),
        )

    @router.post("/person", include_in_schema=False, response_class=HTMLResponse)
    async def person_page(request: Request, visitor: Visitor = personal) -> Response:
        form = await checked_form(request, visitor)
        raw = form.get("my_number")
        try:
            number = TypeAdapter(MyNumber).validate_python(raw if isinstance(raw, str) else "")
        except ValidationError as e:
            issue = InputError.from_validation(e).issues[0]
            rule = f"{issue.rule}: " if issue.rule else ""
            return home_page(request, visitor, status=422, person_error=f"{rule}{issue.message}")
        service = service_of(request)
        digits = number.get_secret_value()
        ref = holder_reference(digits, service.write.holder_key)
        answer = await run_in_threadpool(service.ask, lambda q: q.cards_of_holder(ref))
        kept = purpose_of(form.get("purpose"))
        await run_in_threadpool(record_access, request, visitor, "person", ref, kept)
        return render(
            request,
            "person.html",
            visitor=visitor,
            lang_path="/",
            holder=mask_my_number(digits),
            cards=answer["cards"],
            purpose=kept or "",
        )


def input_error_page(request: Request, visitor: Visitor, e: InputError) -> Response:
    """An unknown card (``NotFound``) as a 404 page, any other bad input as a 422 page."""
    unknown = isinstance(e, NotFound)
    return render(
        request,
        "error.html",
        visitor=visitor,
        status=404 if unknown else 422,
        title_key="not_found" if unknown else "bad_input",
        detail=str(e),
        back="/",
    )
