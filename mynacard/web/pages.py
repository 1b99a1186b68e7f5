"""The clerks' web page, served by the service's own app (server-rendered, no script).

| route | what |
|---|---|
| ``GET /signin``, ``POST /signin`` | sign in with a staff token (kept in an HttpOnly cookie) |
| ``POST /signout`` | sign out |
| ``GET /`` | search: a card by application id or card id, a person by My Number |
| ``GET /find?card=`` | go to a card's page |
| ``POST /person`` | a person's cards by My Number (the number only in the body) |
| ``GET /card/{card}`` | a card: status, validity (西暦/和暦), fees, certificates, timeline |
| ``GET /card/{card}?as_known_at=`` | the same page as known at an earlier recorded time |
| ``GET /card/{card}/do/{command}`` | a procedure's form (``procedures.PROCEDURES``) |
| ``POST /card/{card}/do/{command}/confirm`` | what will be recorded, to confirm |
| ``POST /card/{card}/do/{command}/edit`` | back to the form, to correct it |
| ``POST /card/{card}/do/{command}`` | record it (then back to the card) |

Japanese by default; ``?lang=en`` (kept in a cookie) switches to English. Every page
authenticates through the service's authenticator and role table (``session``); the pages stay
out of the OpenAPI document.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from commands.errors import InputError
from mynacard.service.guard import service_of
from mynacard.service.read_routes import card_id_of
from mynacard.service.roles import Permission
from mynacard.web.procedures import add_procedure_routes
from mynacard.web.reading import add_reading_routes, home_page, purpose_of
from mynacard.web.render import STATIC, render
from mynacard.web.session import (
    SESSION_COOKIE,
    CsrfRefused,
    Forbidden,
    SignInRequired,
    Visitor,
    checked_form,
    current_visitor,
    end_session,
    keep_signin_nonce,
    new_signin_nonce,
    safe_next,
    signin_nonce_ok,
    signin_url,
    start_session,
    visitor_with,
)


def _signin_page(
    request: Request, *, next_path: str, status: int = 200, refused: bool = False, stale: bool = False
) -> Response:
    nonce = new_signin_nonce()
    response = render(
        request,
        "signin.html",
        status=status,
        lang_path=signin_url(next_path) if request.method == "POST" else None,
        next_path=next_path,
        nonce=nonce,
        refused=refused,
        stale=stale,
    )
    keep_signin_nonce(response, request, nonce)
    return response


def add_pages(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    router = APIRouter(include_in_schema=False)

    @router.get("/signin", response_class=HTMLResponse)
    async def signin_form(request: Request, next: str | None = None) -> Response:
        return _signin_page(request, next_path=safe_next(next))

    @router.post("/signin", response_class=HTMLResponse)
    async def signin(request: Request) -> Response:
        form = await request.form()
        next_path = safe_next(str(form.get("next") or "/"))
        if not signin_nonce_ok(request, form.get("nonce")):
            return _signin_page(request, next_path=next_path, status=403, stale=True)
        token = form.get("token")
        token = token.strip() if isinstance(token, str) else ""
        identity = service_of(request).authenticator.authenticate(token) if token else None
        if identity is None:
            return _signin_page(request, next_path=next_path, status=401, refused=True)
        response = RedirectResponse(next_path, 303)
        start_session(response, request, token)
        return response

    @router.post("/signout")
    async def signout(request: Request, visitor: Visitor = visitor_with(None)) -> Response:
        await checked_form(request, visitor)
        response = RedirectResponse("/signin", 303)
        end_session(response, request)
        return response

    @router.get("/", response_class=HTMLResponse)
    async def home(request: Request, visitor: Visitor = visitor_with(Permission.READ_PERSONAL)) -> Response:
        return home_page(request, visitor)

    @router.get("/find", response_class=HTMLResponse)
    async def find(
        request: Request,
        card: str = "",
        purpose: str | None = None,
        visitor: Visitor = visitor_with(Permission.READ_PERSONAL),
    ) -> Response:
        try:
            card_id = card_id_of(card.strip()[:80])
        except InputError as e:
            return home_page(
                request, visitor, status=422, card_error=e.issues[0].message, card_value=card[:80]
            )
        kept = purpose_of(purpose)
        query = f"?{urlencode({'purpose': kept})}" if kept else ""
        return RedirectResponse(f"/card/{card_id}{query}", 303)

    add_reading_routes(router)
    add_procedure_routes(router)
    app.include_router(router)

    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, e: SignInRequired) -> Response:
        response = RedirectResponse(signin_url(e.next_path), 303)
        if request.cookies.get(SESSION_COOKIE):
            end_session(response, request)  # a revoked or unknown token: forget it
        return response

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, e: Forbidden) -> Response:
        t_role = e.visitor.identity.role.value
        return render(
            request,
            "error.html",
            visitor=e.visitor,
            status=403,
            lang_path="/" if request.method == "POST" else None,
            title_key="forbidden",
            forbidden={"role": t_role, "what": e.permission.value, "allowed": e.allowed()},
            detail="",
            back=None,
        )

    @app.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, e: CsrfRefused) -> Response:
        return render(
            request,
            "error.html",
            visitor=e.visitor or current_visitor(request),
            status=403,
            lang_path="/",
            title_key="csrf",
            detail="",
            back="/",
        )
