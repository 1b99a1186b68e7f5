"""The page's templates (Jinja2, autoescaped) and how values are shown: days in 西暦 and 和暦,
moments in JST, yen, and the actor of an event split into name, role and office."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from commands.dates import format_wareki
from lifecycle.calendar import to_jst
from mynacard.web.labels import Labels
from mynacard.web.session import Visitor, language, remember_language

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

_ACTOR = re.compile(r"^(?P<name>.+) \((?P<role>[a-z_]+)(?:, (?P<office>[^()]+))?\)$")


def day_of(value: object) -> date | None:
    if isinstance(value, datetime):
        return to_jst(value).date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value).date() if "T" in value else date.fromisoformat(value)
        except ValueError:
            return None
    return None


def wareki(value: object) -> str:
    """``2036-10-10`` → ``令和18年10月10日`` (empty for no day or a day before 明治)."""
    day = day_of(value)
    if day is None:
        return ""
    try:
        return format_wareki(day)
    except (ValueError, AttributeError):
        return ""


def moment(value: object) -> str:
    """An ISO instant as JST ``2026-04-01 09:00:05`` (empty for none)."""
    if not isinstance(value, str) or not value:
        return ""
    try:
        at = to_jst(datetime.fromisoformat(value))
    except ValueError:
        return value
    return at.strftime("%Y-%m-%d %H:%M:%S")


def local_input(value: object) -> str:
    """An ISO instant as the value of a ``datetime-local`` input (JST, to the second)."""
    if not isinstance(value, str) or not value:
        return ""
    try:
        return to_jst(datetime.fromisoformat(value)).strftime("%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return ""


def actor_parts(actor: object) -> dict[str, str]:
    """``yamada (clerk, 131016)`` → name, role, office (a free-text actor of the CLI as the name)."""
    text = str(actor or "")
    m = _ACTOR.match(text)
    if m is None:
        return {"name": text, "role": "", "office": ""}
    return {"name": m["name"], "role": m["role"], "office": m["office"] or ""}


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"], default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(wareki=wareki, moment=moment, local_input=local_input)
    env.globals.update(actor_parts=actor_parts)
    return env


ENVIRONMENT = _environment()


def render(
    request: Request,
    template: str,
    *,
    visitor: Visitor | None = None,
    status: int = 200,
    lang_path: str | None = None,
    **context: Any,
) -> HTMLResponse:
    """A page in the visitor's language. ``lang_path`` is where the language toggle goes on a
    page that answers a POST (default: this page again, with ``?lang=``)."""
    t = Labels(language(request))
    if lang_path is None:
        url = request.url.include_query_params(lang=t.other())
        toggle = f"{url.path}?{url.query}"
    else:
        sep = "&" if "?" in lang_path else "?"
        toggle = f"{lang_path}{sep}lang={t.other()}"
    html = ENVIRONMENT.get_template(template).render(
        t=t,
        lang=t.lang,
        visitor=visitor,
        identity=visitor.identity if visitor else None,
        csrf=visitor.csrf if visitor else "",
        toggle=toggle,
        **context,
    )
    response = HTMLResponse(html, status)
    remember_language(response, request)
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; style-src 'self'; img-src 'self' data:; script-src 'none'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def yen(value: object, lang: str) -> str:
    amount = int(value) if isinstance(value, int) else 0
    return f"{amount:,}円" if lang == "ja" else f"¥{amount:,}"


ENVIRONMENT.globals.update(yen=yen)
