"""The read routes: a card (as of a day, as known at a recorded time or log position), its
history, certificates and ``valid-at``, a person by My Number (POST: the number never appears in
a URL), expiring, counts, revocations, policies, and the access records.

Every read that returns a person's data is recorded (``Service.record_access``) before it is
answered; relying parties' reads are counted.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, SecretStr, TypeAdapter, ValidationError

from commands.dates import parse_date, parse_datetime
from commands.errors import InputError
from commands.fields import CardRef, MyNumber
from commands.handlers import resolve_card_ref
from lifecycle.identifiers import holder_reference
from mynacard.service.bodies import body_of, model_body
from mynacard.service.guard import require, service_of, signed_in
from mynacard.service.identity import Identity
from mynacard.service.problems import PROBLEM_JSON, PROBLEM_SCHEMA
from mynacard.service.roles import Permission
from mynacard.service.state import Service

WHEN = "ISO (2025-04-01, 2025-04-01T09:00) or 和暦 (令和7年4月1日); JST"
Purpose = Annotated[
    str | None, Query(max_length=200, description="why the record is read (kept in the access record)")
]
Moment = Annotated[str | None, Query(description=f"a recorded time: {WHEN}")]
Day = Annotated[str | None, Query(description=f"a day: {WHEN}")]
ListLimit = Annotated[int, Query(ge=1, le=10000)]
PROBLEM = {"content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}}}
RESPONSES: dict[int | str, dict[str, Any]] = dict.fromkeys((401, 403, 404, 422, 503), PROBLEM)


def day_of(field: str, text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return parse_date(text)
    except ValueError as e:
        raise InputError.single(field, str(e)) from None


def moment_of(field: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_datetime(text)
    except ValueError as e:
        raise InputError.single(field, str(e)) from None


def card_id_of(text: str) -> UUID:
    try:
        ref = TypeAdapter(CardRef).validate_python(text)
    except ValidationError as e:
        raise InputError.single("card", InputError.from_validation(e).issues[0].message) from None
    card_id: UUID = resolve_card_ref(str(ref))
    return card_id


async def _record(request: Request, identity: Identity, kind: str, subject: str, purpose: str | None) -> None:
    """Record the read (in the threadpool: it writes to the store) before the answer leaves."""
    route = request.scope.get("route")
    await run_in_threadpool(
        service_of(request).record_access,
        identity,
        method=request.method,
        route=getattr(route, "path", request.url.path),
        subject_kind=kind,
        subject=subject,
        purpose=purpose,
        request_id=request.state.request_id,
    )


async def _count(request: Request, identity: Identity) -> None:
    route = request.scope.get("route")
    await run_in_threadpool(
        service_of(request).count_access, identity, getattr(route, "path", request.url.path)
    )


async def _ask(service: Service, question: Any) -> Any:
    return await run_in_threadpool(service.ask, question)


class PersonLookup(BaseModel):
    """A lookup of a person's cards by My Number (the number is hashed at once, never kept or shown)."""

    model_config = ConfigDict(extra="forbid")
    my_number: SecretStr = Field(
        description="個人番号, 12 digits (R01)", json_schema_extra={"format": "password"}
    )
    purpose: str | None = Field(None, max_length=200, description="why the person is looked up")


def add_read_routes(app: FastAPI) -> None:
    r = APIRouter(tags=["reads"], responses=RESPONSES)
    personal = require(Permission.READ_PERSONAL)

    @r.get("/cards/{card}", summary="a card's status, validity, renewal window, fees and certificates")
    async def card(
        request: Request,
        card: str,
        as_of: Day = None,
        as_known_at: Moment = None,
        at_position: Annotated[int | None, Query(ge=1)] = None,
        purpose: Purpose = None,
        identity: Identity = personal,
    ) -> dict[str, Any]:
        card_id = card_id_of(card)
        day, known = day_of("as_of", as_of), moment_of("as_known_at", as_known_at)
        answer = await _ask(
            service_of(request),
            lambda q: q.card(card_id, as_of=day, as_known_at=known, at_position=at_position),
        )
        await _record(request, identity, "card", str(card_id), purpose)
        return answer  # type: ignore[no-any-return]

    @r.get("/cards/{card}/history", summary="every event of a card and its certificates, in order")
    async def history(
        request: Request,
        card: str,
        as_known_at: Moment = None,
        at_position: Annotated[int | None, Query(ge=1)] = None,
        until_version: Annotated[int | None, Query(ge=1)] = None,
        purpose: Purpose = None,
        identity: Identity = personal,
    ) -> dict[str, Any]:
        card_id = card_id_of(card)
        known = moment_of("as_known_at", as_known_at)
        answer = await _ask(
            service_of(request),
            lambda q: q.history(
                card_id, as_known_at=known, at_position=at_position, until_version=until_version
            ),
        )
        await _record(request, identity, "card", str(card_id), purpose)
        return answer  # type: ignore[no-any-return]

    @r.post(
        "/persons/lookup",
        summary="every card of a person, by My Number (in the body, never the URL)",
        openapi_extra=body_of(PersonLookup),
    )
    async def person(request: Request, identity: Identity = personal) -> dict[str, Any]:
        lookup = await model_body(request, PersonLookup)
        try:
            number = TypeAdapter(MyNumber).validate_python(lookup.my_number.get_secret_value())
        except ValidationError as e:
            issue = InputError.from_validation(e).issues[0]
            raise InputError.single("my_number", issue.message, issue.rule) from None
        service = service_of(request)
        ref = holder_reference(number.get_secret_value(), service.write.holder_key)
        answer = await _ask(service, lambda q: q.cards_of_holder(ref))
        await _record(request, identity, "person", ref, lookup.purpose)
        return answer  # type: ignore[no-any-return]

    @r.get("/certificates/{serial}", summary="a certificate's state and validity at a moment (with its card)")
    async def certificate(
        request: Request,
        serial: str,
        at: Moment = None,
        purpose: Purpose = None,
        identity: Identity = personal,
    ) -> dict[str, Any]:
        moment = moment_of("at", at)
        answer = await _ask(service_of(request), lambda q: q.certificate(serial, moment))
        await _record(request, identity, "certificate", serial.strip().upper(), purpose)
        return answer  # type: ignore[no-any-return]

    @r.get(
        "/certificates/{serial}/valid-at",
        summary="was the certificate valid at T, as known now or as known at S (no personal data)",
    )
    async def valid_at(
        request: Request,
        serial: str,
        at: Annotated[str, Query(description=f"the effective time T: {WHEN}")],
        as_known_at: Moment = None,
        identity: Identity = require(Permission.CERTIFICATE_STATUS),
    ) -> dict[str, Any]:
        moment = moment_of("at", at)
        assert moment is not None
        known = moment_of("as_known_at", as_known_at)
        answer = await _ask(service_of(request), lambda q: q.valid_at(serial, moment, known))
        await _count(request, identity)
        return answer  # type: ignore[no-any-return]

    @r.get("/revocations", summary="the revocation list with its list number")
    async def revocations(
        request: Request,
        all: bool = False,
        identity: Identity = require(Permission.CERTIFICATE_STATUS),
    ) -> dict[str, Any]:
        answer = await _ask(service_of(request), lambda q: q.revocations(include_removed=all))
        await _count(request, identity)
        return answer  # type: ignore[no-any-return]

    @r.get("/expiring", summary="cards and certificates expiring in a date range (R44)")
    async def expiring(
        request: Request,
        to: Annotated[str, Query(description=f"last day: {WHEN}")],
        from_: Annotated[str | None, Query(alias="from", description="first day (default: today)")] = None,
        purpose: Purpose = None,
        identity: Identity = personal,
    ) -> dict[str, Any]:
        first, last = day_of("from", from_), day_of("to", to)
        assert last is not None
        answer = await _ask(service_of(request), lambda q: q.expiring(first, last))
        await _record(request, identity, "listing", f"expiring {answer['from']}..{answer['to']}", purpose)
        return answer  # type: ignore[no-any-return]

    @r.get("/counts", summary="counts of cards and certificates by status, kind and month")
    async def counts(
        request: Request, identity: Identity = require(Permission.READ_AGGREGATE)
    ) -> dict[str, Any]:
        return await _ask(service_of(request), lambda q: q.counts())  # type: ignore[no-any-return]

    @r.get("/policies", summary="the policy settings in force (D01–D11)")
    async def policies(
        request: Request, identity: Identity = require(Permission.READ_AGGREGATE)
    ) -> dict[str, Any]:
        return service_of(request).settings.policies.as_dict()

    @r.get("/access-records", summary="who read whose personal data, when, by which route, why (auditor)")
    async def access_records(
        request: Request,
        subject: Annotated[
            str | None, Query(description="a card (application id or card id) or holder reference")
        ] = None,
        name: Annotated[str | None, Query(description="the reader's name")] = None,
        since: Moment = None,
        until: Moment = None,
        limit: ListLimit = 1000,
        offset: Annotated[int, Query(ge=0)] = 0,
        identity: Identity = require(Permission.ACCESS_RECORDS),
    ) -> dict[str, Any]:
        return await run_in_threadpool(
            access_listing,
            service_of(request),
            subject,
            name,
            moment_of("since", since),
            moment_of("until", until),
            limit,
            offset,
        )

    @r.get("/me", summary="who the token belongs to")
    async def me(identity: Identity = signed_in()) -> dict[str, Any]:
        return identity.as_dict()

    app.include_router(r)


def subject_key(subject: str | None) -> str | None:
    """A card given by application id is recorded by its card id; other subjects as given."""
    if subject is None:
        return None
    try:
        return str(card_id_of(subject))
    except InputError:
        return subject


def access_listing(
    service: Service,
    subject: str | None,
    name: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    offset: int,
) -> dict[str, Any]:
    from datetime import UTC

    records = service.registry.access_records(
        subject=subject_key(subject),
        name=name,
        since=since.astimezone(UTC).isoformat(timespec="microseconds") if since else None,
        until=until.astimezone(UTC).isoformat(timespec="microseconds") if until else None,
        limit=limit,
        offset=offset,
    )
    return {
        "records": [{k: getattr(rec, k) for k in rec.__dataclass_fields__} for rec in records],
        "counted": [
            {k: getattr(c, k) for k in c.__dataclass_fields__} for c in service.registry.access_counts()
        ],
    }
