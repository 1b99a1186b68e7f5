"""Who is at the page: the staff token in a cookie, checked by the service's own authenticator and
role table on every request, and the forms' protection against cross-site requests.

* Signing in posts the token; it is kept in an ``HttpOnly``, ``SameSite=Strict`` cookie (``Secure``
  over https). Every page authenticates it through ``Service.authenticator`` (a revoked token is
  signed out at once) and checks the role with ``mynacard.service.roles.may``.
* Every form that changes something (a procedure, signing out, a My Number lookup) carries a CSRF
  value: HMAC-SHA256 of a fixed label keyed by the session's token, so it needs no server state
  and holds across workers; a page on another site can neither read the cookie nor compute it.
  The sign-in form itself is protected by a random value in a short-lived cookie (double submit).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from mynacard.service.guard import service_of
from mynacard.service.identity import Identity
from mynacard.service.roles import Permission, may, roles_with
from mynacard.web.labels import DEFAULT_LANGUAGE, LANGUAGES

SESSION_COOKIE = "mynacard_session"
LANG_COOKIE = "mynacard_lang"
SIGNIN_COOKIE = "mynacard_signin"
CSRF_FIELD = "csrf"
_CSRF_LABEL = b"mynacard/web/csrf/v1"


@dataclass(frozen=True, slots=True)
class Visitor:
    """A signed-in member of staff at the page."""

    identity: Identity
    token: str

    @property
    def csrf(self) -> str:
        return csrf_value(self.token)


class SignInRequired(Exception):
    """No valid session: the page answers with a redirect to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


class Forbidden(Exception):
    """Signed in, but the role lacks the permission the page needs (a 403 page)."""

    def __init__(self, visitor: Visitor, permission: Permission) -> None:
        self.visitor = visitor
        self.permission = permission

    def allowed(self) -> str:
        return ", ".join(r.value for r in roles_with(self.permission))


class CsrfRefused(Exception):
    """A form arrived without the session's CSRF value (a 403 page; nothing is done)."""

    def __init__(self, visitor: Visitor | None) -> None:
        self.visitor = visitor


def csrf_value(token: str) -> str:
    return hmac.new(token.encode(), _CSRF_LABEL, hashlib.sha256).hexdigest()


def language(request: Request) -> str:
    """``?lang=`` if given, else the language cookie, else Japanese."""
    for candidate in (request.query_params.get("lang"), request.cookies.get(LANG_COOKIE)):
        if candidate in LANGUAGES:
            return candidate
    return DEFAULT_LANGUAGE


def is_secure(request: Request) -> bool:
    return request.url.scheme == "https"


def safe_next(path: str | None) -> str:
    """A local path to go to after signing in (never another site)."""
    if (
        not path
        or not path.startswith("/")
        or path.startswith("//")
        or "\\" in path
        or any(ch.isspace() or ord(ch) < 32 for ch in path)
    ):
        return "/"
    return path


def current_visitor(request: Request) -> Visitor | None:
    token = request.cookies.get(SESSION_COOKIE, "").strip()
    if not token:
        return None
    identity = service_of(request).authenticator.authenticate(token)
    if identity is None:
        return None
    request.state.identity = identity
    return Visitor(identity, token)


def visitor_with(permission: Permission | None) -> Any:
    """The dependency of a page: the signed-in visitor whose role has ``permission`` (any role
    when None); otherwise the sign-in page or a 403 page."""

    def check(request: Request) -> Visitor:
        visitor = current_visitor(request)
        if visitor is None:
            path = request.url.path
            if request.method == "GET" and request.url.query:
                path = f"{path}?{request.url.query}"
            raise SignInRequired(path if request.method == "GET" else "/")
        if permission is not None and not may(visitor.identity.role, permission):
            raise Forbidden(visitor, permission)
        return visitor

    return Depends(check)


async def checked_form(request: Request, visitor: Visitor) -> FormData:
    """The posted form, once its CSRF value is the session's."""
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    if not isinstance(sent, str) or not hmac.compare_digest(sent, visitor.csrf):
        raise CsrfRefused(visitor)
    return form


def start_session(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, samesite="strict", secure=is_secure(request), path="/"
    )
    response.delete_cookie(SIGNIN_COOKIE, path="/signin")


def end_session(response: Response, request: Request) -> None:
    response.delete_cookie(
        SESSION_COOKIE, httponly=True, samesite="strict", secure=is_secure(request), path="/"
    )


def new_signin_nonce() -> str:
    """The sign-in form's double-submit value (the cookie and the hidden field must match)."""
    return secrets.token_urlsafe(24)


def keep_signin_nonce(response: Response, request: Request, nonce: str) -> None:
    response.set_cookie(
        SIGNIN_COOKIE,
        nonce,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=is_secure(request),
        path="/signin",
    )


def signin_nonce_ok(request: Request, sent: object) -> bool:
    kept = request.cookies.get(SIGNIN_COOKIE)
    return bool(kept) and isinstance(sent, str) and hmac.compare_digest(sent, kept or "")


def remember_language(response: Response, request: Request) -> None:
    """``?lang=`` given: kept in a cookie for the next pages."""
    lang = request.query_params.get("lang")
    if lang in LANGUAGES:
        response.set_cookie(
            LANG_COOKIE, lang, max_age=365 * 24 * 3600, samesite="lax", secure=is_secure(request), path="/"
        )


def signin_url(next_path: str) -> str:
    return "/signin" if next_path == "/" else f"/signin?next={quote(next_path, safe='')}"
