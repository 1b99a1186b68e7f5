"""``mynacard forget PERSON --reason TEXT``: erase a person's personal data (消去, issue 13).

PERSON is the person's 12-digit My Number (hashed with the holder key into the holder
reference, never stored) or the holder reference as ``person --json`` prints it. The command is
recorded like every other (idempotent by ``--command-id``); refused (exit 3, nothing written)
while the person has a card before handover or in use, a live certificate, or while the
retention period (``MYNACARD_POLICIES__FORGET_AFTER_DAYS``) runs. Afterwards the person's
personal fields read as erased everywhere; status and validity still answer.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from pydantic import ValidationError

from commands import models as m
from commands.config import Settings
from commands.errors import InputError
from mynacard.bootstrap import open_write_side
from mynacard.write_commands import _print_result, _read_input, _writer

EXIT_OK = 0
HOLDER_REF = re.compile(r"[0-9a-f]{64}")


def person_fields(person: str) -> dict[str, str]:
    """PERSON → the command's ``my_number`` or ``holder_ref``."""
    text = person.strip()
    if HOLDER_REF.fullmatch(text):
        return {"holder_ref": text}
    digits = text.replace(" ", "").replace("-", "")
    if digits.isdigit() and len(digits) == 12:
        return {"my_number": digits}
    raise InputError.single(
        "person", "give the person's My Number (12 digits) or holder reference (64 hex digits)"
    )


def run_forget(ns: argparse.Namespace, settings: Settings) -> int:
    payload: dict[str, Any] = _read_input(ns.input) if ns.input else {}
    payload.update({**person_fields(ns.person), "reason": ns.reason})
    for key in ("effective_at", "command_id"):
        if getattr(ns, key):
            payload[key] = getattr(ns, key)
    payload["actor"] = ns.actor or settings.default_actor()
    try:
        command = m.ForgetPerson.model_validate(payload)
    except ValidationError as e:
        raise InputError.from_validation(e) from None
    app = open_write_side(settings)
    try:
        result = app.execute(command)
    finally:
        app.close()
    _print_result(result, ns.json)
    if not ns.json and result.erasure is not None:
        erasure = result.erasure
        print(
            f"erased: the data keys of {len(erasure.holder_refs)} holder reference(s) are destroyed "
            f"({erasure.keys_destroyed} by this run); personal fields now read as erased"
        )
        if not erasure.scrubbed:
            print("warning: the database could not be scrubbed yet (a reader held it): run forget again")
        if erasure.plain_events:
            print(
                f"note: {erasure.plain_events} event(s) recorded before erasable fields existed keep their "
                "personal fields under the store key only: they cannot be erased (docs/integrity.md, Erasure)"
            )
    return EXIT_OK


def add_erasure_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        m.ForgetPerson.COMMAND,
        parents=[common, _writer()],
        help=m.ForgetPerson.SUMMARY,
        description=(m.ForgetPerson.__doc__ or m.ForgetPerson.SUMMARY).strip(),
    )
    p.add_argument("person", metavar="PERSON", help="My Number (12 digits) or holder reference (64 hex)")
    p.add_argument("--reason", required=True, help="why the person is forgotten (recorded with the event)")
    p.set_defaults(run=run_forget)
