"""The forms of the common procedures: suspend (一時停止), lift a suspension (一時停止解除), report a
loss (紛失届), change the card's information (券面記載事項変更) and hand the card over (交付).

Each runs form → confirmation → record. The command id is made when the form is opened and
carried as a hidden field, so a second submit of the same confirmation records nothing twice
(the write side answers the first result). The command is built by the API's own
``command_from`` (the same model, the authenticated identity as its actor) and executed by the
same write side: no rule or check is written twice. A refusal shows its rule id, field and
message. PINs are typed on the confirmation page only: never carried in a page or shown.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from commands import models as m
from commands.errors import CommandIdReused, ConcurrencyConflict, InputError, NotFound
from commands.results import CommandResult
from lifecycle.card import vocabulary as v
from lifecycle.documents import CATALOGUE
from lifecycle.errors import RuleViolation
from lifecycle.filers import FILER_ROLES
from mynacard.service.guard import service_of
from mynacard.service.read_routes import card_id_of
from mynacard.service.roles import command_permission, may
from mynacard.service.write_routes import command_from
from mynacard.web.render import render
from mynacard.web.session import Forbidden, Visitor, checked_form, visitor_with


@dataclass(frozen=True, slots=True)
class FormField:
    """One input of a procedure's form; ``name`` is the field's path in the command's body."""

    name: str
    kind: str  # select | check | checks | docs | date | datetime | number | text
    choices: tuple[str, ...] = ()
    group: str = ""
    default: Any = None
    blank: bool = False
    count: int = 1


@dataclass(frozen=True, slots=True)
class Procedure:
    model: type[m.CardCommand]
    fields: tuple[FormField, ...]
    secrets: tuple[str, ...] = ()

    @property
    def command(self) -> str:
        return self.model.COMMAND


def _filer(prefix: str = "filed_by") -> tuple[FormField, ...]:
    return (
        FormField(f"{prefix}.role", "select", FILER_ROLES, "filer_role", "holder"),
        *(
            FormField(f"{prefix}.{paper}", "check", default=False)
            for paper in (
                "same_household",
                "letter_of_delegation",
                "family_register_copy",
                "registry_certificate",
            )
        ),
    )


EFFECTIVE = FormField("effective_at", "datetime")
DOCUMENTS = tuple(CATALOGUE)
PINS = ("sig_pin", "auth_pin", "juki_pin", "card_details_pin")

PROCEDURES: dict[str, Procedure] = {
    p.command: p
    for p in (
        Procedure(
            m.SuspendCard,
            (FormField("channel", "select", v.SUSPENSION_CHANNELS, "channel", "counter"), EFFECTIVE),
        ),
        Procedure(m.LiftSuspension, (FormField("in_person", "check", default=True), *_filer(), EFFECTIVE)),
        Procedure(
            m.ReportLoss,
            (
                FormField("lost_at_home", "check", default=False),
                FormField("police_report", "check", default=False),
                *_filer(),
                EFFECTIVE,
            ),
        ),
        Procedure(
            m.ChangeCardInformation,
            (
                FormField("facts", "checks", v.CARD_FACTS, "fact", ()),
                FormField("pin_confirmed", "check", default=False),
                FormField("new_date_of_birth", "date"),
                FormField(
                    "former_surname_action", "select", v.FORMER_SURNAME_ACTIONS, "surname_action", blank=True
                ),
                *_filer(),
                EFFECTIVE,
            ),
        ),
        Procedure(
            m.HandOverCard,
            (
                FormField("method", "select", v.HANDOVER_METHODS, "method", "counter"),
                FormField("recipient", "select", ("holder", "proxy"), "recipient", "holder"),
                FormField("identity_documents", "docs", DOCUMENTS, "document", (), count=3),
                FormField(
                    "notification_card",
                    "select",
                    v.NOTIFICATION_CARD_OUTCOMES,
                    "notification_card",
                    blank=True,
                ),
                FormField("notification_card_lost_at_home", "check", default=False),
                FormField("police_report", "check", default=False),
                FormField("juki_card", "select", v.JUKI_CARD_OUTCOMES, "juki_card", "not_held"),
                FormField("old_card_brought", "select", ("true", "false"), "tristate", blank=True),
                FormField("proxy_reason", "select", v.PROXY_REASONS, "proxy_reason", blank=True),
                FormField("proxy.role", "select", FILER_ROLES, "filer_role", blank=True),
                FormField("proxy_identity_documents", "docs", DOCUMENTS, "document", (), count=2),
                FormField("fee_paid_yen", "number", default="0"),
                FormField("office", "text"),
                FormField(
                    "pins_set_by", "select", ("holder", "legal_representative"), "pins_set_by", "holder"
                ),
                EFFECTIVE,
            ),
            secrets=PINS,
        ),
    )
}


# ---------------------------------------------------------------------- form values ⇄ body


def default_values(procedure: Procedure, visitor: Visitor) -> dict[str, Any]:
    values = {f.name: f.default for f in procedure.fields}
    if "office" in values:
        values["office"] = visitor.identity.office or ""
    return values


def values_from_form(procedure: Procedure, form: FormData) -> dict[str, Any]:
    """What the clerk entered, as the form shows it again."""
    values: dict[str, Any] = {}
    for f in procedure.fields:
        if f.kind == "check":
            values[f.name] = form.get(f.name) == "on"
        elif f.kind in {"checks", "docs"}:
            chosen = [str(x) for x in form.getlist(f.name) if isinstance(x, str) and x]
            values[f.name] = [c for c in chosen if c in f.choices]
        else:
            raw = form.get(f.name)
            values[f.name] = raw.strip()[:200] if isinstance(raw, str) else ""
    return values


def body_of(procedure: Procedure, values: dict[str, Any]) -> dict[str, Any]:
    """The command's body (what will be recorded) from the form's values: empty inputs left out,
    so the model's defaults hold; nested names (``filed_by.role``) become objects."""
    body: dict[str, Any] = {}
    for f in procedure.fields:
        value = values.get(f.name)
        if f.kind in {"select", "date", "datetime", "number", "text"} and not value:
            continue
        if f.group == "tristate":
            value = value == "true"
        elif f.kind == "number" and isinstance(value, str) and value.isdigit():
            value = int(value)
        head, _, tail = f.name.partition(".")
        if tail:
            if head not in body and not values.get(f"{head}.role"):
                continue  # a nested party (the proxy) not named at all is left out
            body.setdefault(head, {})[tail] = value
        else:
            body[head] = list(value) if isinstance(value, list | tuple) else value
    return body


def values_from_body(procedure: Procedure, body: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for f in procedure.fields:
        head, _, tail = f.name.partition(".")
        nested = body.get(head)
        value = (nested.get(tail) if isinstance(nested, dict) else None) if tail else nested
        if f.kind == "check":
            values[f.name] = bool(value)
        elif f.kind in {"checks", "docs"}:
            values[f.name] = [str(x) for x in value] if isinstance(value, list) else []
        elif isinstance(value, bool):
            values[f.name] = "true" if value else "false"
        else:
            values[f.name] = "" if value is None else str(value)
    return values


def shown_rows(procedure: Procedure, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The confirmation's rows: each field the body sets, with how to show its value."""
    rows = []
    for f in procedure.fields:
        head, _, tail = f.name.partition(".")
        container = body.get(head) if tail else body
        key = tail or head
        if not isinstance(container, dict) or key not in container:
            continue
        rows.append({"field": f, "value": container[key]})
    return rows


# ---------------------------------------------------------------------- routes


def _command_id(form: FormData) -> str:
    raw = form.get("command_id")
    try:
        return str(uuid.UUID(raw)) if isinstance(raw, str) else str(uuid.uuid4())
    except ValueError:
        return str(uuid.uuid4())


def _body_json(form: FormData) -> dict[str, Any]:
    raw = form.get("body")
    try:
        body = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise InputError.single("(body)", "the confirmation form is damaged; open the procedure again")
    return body


def add_procedure_routes(router: APIRouter) -> None:
    base = "/card/{card}/do/{command}"

    def procedure_of(command: str, visitor: Visitor) -> Procedure | None:
        procedure = PROCEDURES.get(command)
        if procedure is not None:
            permission = command_permission(command)
            if not may(visitor.identity.role, permission):
                raise Forbidden(visitor, permission)
        return procedure

    def form_page(
        request: Request,
        visitor: Visitor,
        procedure: Procedure,
        card: str,
        values: dict[str, Any],
        command_id: str,
        issues: list[dict[str, Any]] | None = None,
    ) -> HTMLResponse:
        return render(
            request,
            "procedure_form.html",
            visitor=visitor,
            status=422 if issues else 200,
            lang_path=f"/card/{card}/do/{procedure.command}",
            procedure=procedure,
            card=card,
            values=values,
            command_id=command_id,
            issues=issues or [],
            bad_fields={
                ".".join(parts[:n])
                for i in issues or []
                for parts in [str(i["field"]).split(".")]
                for n in range(1, len(parts) + 1)
            },
        )

    def problem_page(
        request: Request, visitor: Visitor, card: str, command: str, status: int, **problem: Any
    ) -> HTMLResponse:
        return render(
            request,
            "procedure_refused.html",
            visitor=visitor,
            status=status,
            lang_path=f"/card/{card}",
            card=card,
            command=command,
            **{"rule": None, "message": "", "hint": None, "issues": [], "kind": "rule", **problem},
        )

    @router.get(base, include_in_schema=False, response_class=HTMLResponse)
    async def procedure_form(
        request: Request, card: str, command: str, visitor: Visitor = visitor_with(None)
    ) -> Response:
        procedure = procedure_of(command, visitor)
        if procedure is None:
            return not_found(request, visitor, card)
        try:
            card_id_of(card)
        except InputError as e:
            return not_found(request, visitor, card, str(e))
        return form_page(
            request, visitor, procedure, card, default_values(procedure, visitor), str(uuid.uuid4())
        )

    @router.post(f"{base}/confirm", include_in_schema=False, response_class=HTMLResponse)
    async def procedure_confirm(
        request: Request, card: str, command: str, visitor: Visitor = visitor_with(None)
    ) -> Response:
        form = await checked_form(request, visitor)
        procedure = procedure_of(command, visitor)
        if procedure is None:
            return not_found(request, visitor, card)
        values, command_id = values_from_form(procedure, form), _command_id(form)
        body = body_of(procedure, values)
        try:
            # The model's own checks now, so a wrong field is fixed before the confirmation.
            command_from(procedure.model, dict(body), visitor.identity, command_id, card)
        except InputError as e:
            return form_page(
                request, visitor, procedure, card, values, command_id, [i.as_dict() for i in e.issues]
            )
        return render(
            request,
            "procedure_confirm.html",
            visitor=visitor,
            lang_path=f"/card/{card}/do/{command}",
            procedure=procedure,
            card=card,
            rows=shown_rows(procedure, body),
            body_json=json.dumps(body, ensure_ascii=False, sort_keys=True),
            command_id=command_id,
        )

    @router.post(f"{base}/edit", include_in_schema=False, response_class=HTMLResponse)
    async def procedure_edit(
        request: Request, card: str, command: str, visitor: Visitor = visitor_with(None)
    ) -> Response:
        form = await checked_form(request, visitor)
        procedure = procedure_of(command, visitor)
        if procedure is None:
            return not_found(request, visitor, card)
        try:
            body = _body_json(form)
        except InputError:
            body = {}
        values = {**default_values(procedure, visitor), **values_from_body(procedure, body)}
        return form_page(request, visitor, procedure, card, values, _command_id(form))

    @router.post(base, include_in_schema=False, response_class=HTMLResponse)
    async def procedure_record(
        request: Request, card: str, command: str, visitor: Visitor = visitor_with(None)
    ) -> Response:
        form = await checked_form(request, visitor)
        procedure = procedure_of(command, visitor)
        if procedure is None:
            return not_found(request, visitor, card)
        service = service_of(request)
        outcome = "error"
        try:
            body = _body_json(form)
            for name in procedure.secrets:
                value = form.get(name)
                if isinstance(value, str) and value:
                    body[name] = value
            built = command_from(procedure.model, body, visitor.identity, _command_id(form), card)
            result: CommandResult = await run_in_threadpool(service.execute, built)
            outcome = "replayed" if result.duplicate else "recorded"
        except NotFound as e:
            outcome = "bad_input"
            return problem_page(
                request, visitor, card, command, 404, kind="not_found", message=str(e), issues=_issues(e)
            )
        except InputError as e:
            outcome = "bad_input"
            return problem_page(
                request,
                visitor,
                card,
                command,
                422,
                kind="bad_input",
                message=str(e),
                hint=e.hint,
                issues=_issues(e),
                rule=next((i.rule for i in e.issues if i.rule), None),
            )
        except RuleViolation as e:
            outcome = "refused"
            return problem_page(
                request, visitor, card, command, 422, rule=e.rule, message=e.message, hint=e.hint
            )
        except (CommandIdReused, ConcurrencyConflict) as e:
            outcome = "conflict"
            return problem_page(
                request,
                visitor,
                card,
                command,
                409,
                kind="conflict",
                message=str(e),
                hint=e.as_dict()["hint"],
            )
        finally:
            service.metrics.commands.labels(command, outcome).inc()
        done = f"/card/{result.card_id}?done={command}" + ("&replayed=1" if result.duplicate else "")
        return RedirectResponse(done, 303)


def _issues(e: InputError) -> list[dict[str, str]]:
    return [i.as_dict() for i in e.issues]


def not_found(request: Request, visitor: Visitor, card: str, message: str | None = None) -> HTMLResponse:
    return render(
        request,
        "error.html",
        visitor=visitor,
        status=404,
        title_key="not_found",
        detail=message or "",
        back=f"/card/{card}" if message is None else "/",
    )
