"""The service's subcommands: ``serve`` (the HTTP service), ``token create|list|revoke`` (staff
tokens) and ``access-records`` (who read whose personal data)."""

from __future__ import annotations

import argparse
import getpass
import os
import tempfile
from copy import deepcopy
from datetime import UTC
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from commands.config import Settings
from commands.errors import InputError, NotFound
from mynacard import output
from mynacard.bootstrap import open_staff_registry
from mynacard.cli_support import EXIT_OK, option_moment, subcommand_adder
from mynacard.service.identity import Role, issue_token
from storage.errors import ConfigurationError
from storage.settings import is_postgres, storage_env

GRACEFUL_SHUTDOWN = 5
"""Seconds a stopping server waits for open requests (an SSE stream never ends by itself)."""


def without_password(url: str) -> str:
    """A store URL fit to print: its password (if any) replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def run_serve(ns: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    postgres = is_postgres(storage_env(settings))
    if ns.workers < 1:
        raise InputError.single("--workers", "at least one worker")
    if ns.workers > 1 and not postgres:
        raise ConfigurationError(
            "--workers N needs PostgreSQL (MYNACARD_DATABASE_URL=postgresql://…): on the embedded "
            "SQLite store one writer process serves; run without --workers"
        )
    registry = open_staff_registry(settings)
    try:
        if not any(t.role == Role.ADMIN and t.revoked_at is None for t in registry.tokens()):
            _, token = issue_token(registry, "admin", Role.ADMIN, None, "serve (first start)")
            print(f"first start: an admin token was made (shown once, keep it): {token}", flush=True)
            print(
                "  make staff tokens with it: POST /tokens, "
                "or mynacard token create --name NAME --role clerk",
                flush=True,
            )
    finally:
        registry.close()
    print(
        f"mynacard service: http://{ns.host}:{ns.port}/ (web page), /docs (API); "
        f"store {without_password(settings.effective_database_url)}",
        flush=True,  # stdout may be a file or a pipe: the token and URL must show before uvicorn runs
    )
    if ns.workers == 1:
        from mynacard.service.app import create_app

        uvicorn.run(
            create_app(settings),
            host=ns.host,
            port=ns.port,
            log_level=ns.log_level,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN,
        )
        return EXIT_OK
    for key, value in (
        ("MYNACARD_DATA_DIR", str(settings.data_dir)),
        ("MYNACARD_DATABASE_URL", settings.database_url),
        ("MYNACARD_NOW", ns.now),
    ):
        if value:
            os.environ[key] = value
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="mynacard-metrics-"))
    uvicorn.run(
        "mynacard.service.app:app_from_environment",
        factory=True,
        host=ns.host,
        port=ns.port,
        workers=ns.workers,
        log_level=ns.log_level,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN,
    )
    return EXIT_OK


def run_token_create(ns: argparse.Namespace, settings: Settings) -> int:
    try:
        role = Role(ns.role)
    except ValueError:
        raise InputError.single("--role", f"one of {', '.join(r.value for r in Role)}") from None
    if not ns.name.strip():
        raise InputError.single("--name", "a name is needed")
    registry = open_staff_registry(settings)
    try:
        record, token = issue_token(registry, ns.name.strip(), role, ns.office, _cli_actor())
    finally:
        registry.close()
    if ns.json:
        output.print_json(
            {
                "token": token,
                "token_id": record.token_id,
                "name": record.name,
                "role": record.role,
                "office": record.office,
            }
        )
        return EXIT_OK
    print(token)
    print(
        f"(token {record.token_id} for {record.name}, role {record.role}; shown once: only its hash is kept)"
    )
    return EXIT_OK


def run_token_list(ns: argparse.Namespace, settings: Settings) -> int:
    registry = open_staff_registry(settings)
    try:
        tokens = registry.tokens()
    finally:
        registry.close()
    rows = [{k: getattr(t, k) for k in t.__dataclass_fields__ if k != "token_hash"} for t in tokens]
    if ns.json:
        output.print_json(rows)
        return EXIT_OK
    output.print_table(
        "Staff tokens",
        ("id", "name", "role", "office", "created", "by", "revoked"),
        (
            (
                r["token_id"],
                r["name"],
                r["role"],
                r["office"] or "—",
                r["created_at"],
                r["created_by"],
                r["revoked_at"] or "—",
            )
            for r in rows
        ),
    )
    return EXIT_OK


def run_token_revoke(ns: argparse.Namespace, settings: Settings) -> int:
    from datetime import datetime

    registry = open_staff_registry(settings)
    try:
        at = datetime.now(UTC).isoformat(timespec="seconds")
        if not registry.revoke_token(ns.token_id, at, _cli_actor()):
            raise NotFound.single("token_id", "no live token has this id ('mynacard token list' lists them)")
    finally:
        registry.close()
    if ns.json:
        output.print_json({"token_id": ns.token_id, "revoked_at": at})
    else:
        print(f"token {ns.token_id} revoked at {at}")
    return EXIT_OK


def run_access_records(ns: argparse.Namespace, settings: Settings) -> int:
    from mynacard.service.read_routes import subject_key

    since = option_moment("--since", ns.since) if ns.since else None
    until = option_moment("--until", ns.until) if ns.until else None
    registry = open_staff_registry(settings)
    try:
        records = registry.access_records(
            subject=subject_key(ns.subject),
            name=ns.name,
            since=since.astimezone(UTC).isoformat(timespec="microseconds") if since else None,
            until=until.astimezone(UTC).isoformat(timespec="microseconds") if until else None,
            limit=ns.limit,
        )
        counts = registry.access_counts()
    finally:
        registry.close()
    rows = [{k: getattr(r, k) for k in r.__dataclass_fields__} for r in records]
    if ns.json:
        output.print_json(
            {"records": rows, "counted": [{k: getattr(c, k) for k in c.__dataclass_fields__} for c in counts]}
        )
        return EXIT_OK
    output.print_table(
        "Access records (who read whose personal data)",
        ("#", "when (UTC)", "who", "role", "office", "route", "subject", "purpose"),
        (
            (
                str(r["position"]),
                r["recorded_at"],
                r["name"],
                r["role"],
                r["office"] or "—",
                f"{r['method']} {r['route']}",
                f"{r['subject_kind']} {r['subject']}",
                r["purpose"] or "—",
            )
            for r in rows
        ),
    )
    if counts and not ns.subject:
        output.print_table(
            "Counted reads (relying parties, subscribers)",
            ("day", "who", "role", "route", "reads"),
            ((c.day, c.name, c.role, c.route, str(c.count)) for c in counts),
        )
    return EXIT_OK


def _without_defaults(common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The common options for a group's actions, with no defaults of their own: argparse would
    otherwise reset what was given before the action (``token --json list``)."""
    copy = deepcopy(common)
    for action in copy._actions:
        action.default = argparse.SUPPRESS
    return copy


def add_service_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    add = subcommand_adder(sub, common)
    p = add(
        "serve",
        run_serve,
        "run the HTTP service (API, web page, metrics)",
        "Run the HTTP service: the API (/docs), the clerks' web page (/), /healthz, /readyz, /metrics. "
        "On first start an admin token is made and printed once.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (PostgreSQL only; default 1)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])

    token = sub.add_parser(
        "token",
        parents=[common],
        help="staff tokens: create, list, revoke",
        description="Staff tokens of the HTTP service.",
    )
    tsub = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    tadd = subcommand_adder(tsub, _without_defaults(common))
    p = tadd("create", run_token_create, "make a token (printed once; only its hash is kept)")
    p.add_argument("--name", required=True, help="who the token is for")
    p.add_argument(
        "--role", required=True, choices=[r.value for r in Role], help="what it may do (README: roles)"
    )
    p.add_argument("--office", help="office code, e.g. 131016")
    tadd("list", run_token_list, "every token (never the token itself)")
    p = tadd("revoke", run_token_revoke, "revoke a token at once")
    p.add_argument("token_id", metavar="TOKEN_ID", help="the id 'token list' shows")

    p = add("access-records", run_access_records, "who read whose personal data, when and why (auditor)")
    p.add_argument("--subject", help="a card (application id or card id) or a holder reference")
    p.add_argument("--name", help="only this reader")
    p.add_argument("--since", metavar="WHEN", help="from this time")
    p.add_argument("--until", metavar="WHEN", help="up to this time")
    p.add_argument("--limit", type=int, default=1000, help="at most this many (default 1000)")
