"""The write subcommands (the clerk recording procedures): one per command model, generated from
the model's fields, so adding a command model adds its subcommand. Each runs the command through
the write side and prints its result (or the first result of the same command id)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from commands import certificate_models as cm
from commands import models as m
from commands import pickup_models as pm
from commands.application import CommandResult
from commands.config import Settings
from commands.errors import InputError
from mynacard import output
from mynacard.arguments import Option, add_model_options, collect
from mynacard.bootstrap import open_write_side

EXIT_OK = 0

Runner = Callable[[argparse.Namespace, Settings], int]


def _writer() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("recording options")
    g.add_argument("--actor", help="who records this (MYNACARD_ACTOR; default: login name)")
    g.add_argument(
        "--at",
        dest="effective_at",
        metavar="WHEN",
        help="when it happened: 2025-04-01, 令和7年4月1日, 2025-04-01T03:10 (JST; default: now)",
    )
    g.add_argument("--command-id", help="idempotency key (UUID); default: a new one")
    g.add_argument(
        "--input", metavar="FILE", help="read the command's fields as JSON from FILE ('-' = stdin)"
    )
    return p


def add_write_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    writer = _writer()
    models: tuple[type[m.Command], ...] = (*m.CARD_COMMANDS, *pm.PICKUP_COMMANDS, *cm.CERTIFICATE_COMMANDS)
    for model in models:
        p = sub.add_parser(
            model.COMMAND, parents=[common, writer], help=model.SUMMARY, description=f"{model.SUMMARY}."
        )
        options = add_model_options(p, model)
        p.set_defaults(run=_command_runner(model, options))


def _command_runner(model: type[m.Command], options: list[Option]) -> Runner:
    def run(ns: argparse.Namespace, settings: Settings) -> int:
        payload: dict[str, Any] = {}
        if ns.input:
            payload.update(_read_input(ns.input))
        payload.update(collect(ns, options))
        for key in ("effective_at", "command_id"):
            if getattr(ns, key):
                payload[key] = getattr(ns, key)
        payload.setdefault("actor", ns.actor or settings.default_actor())
        try:
            command = model.model_validate(payload)
        except ValidationError as e:
            raise InputError.from_validation(e) from None
        app = open_write_side(settings)
        result = app.execute(command)
        _print_result(result, ns.json)
        return EXIT_OK

    return run


def _read_input(source: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if source == "-" else open(source, encoding="utf-8").read()  # noqa: SIM115
        data = json.loads(text)
    except (OSError, json.JSONDecodeError) as e:
        raise InputError.single("--input", f"cannot read a JSON object: {e}") from None
    if not isinstance(data, dict):
        raise InputError.single("--input", "the JSON document must be an object of fields")
    return data


def _print_result(result: CommandResult, as_json: bool) -> None:
    if as_json:
        output.print_json(result.model_dump(mode="json"))
        return
    again = " (already recorded: first result)" if result.duplicate else ""
    print(f"{result.command}: card {result.application_id} is {result.status}{again}")
    for line in output.result_lines(result):
        print(line)
    output.print_table(
        None,
        ("version", "event", "effective (JST)"),
        ((str(e.version), e.type, e.effective_at) for e in result.events),
    )
