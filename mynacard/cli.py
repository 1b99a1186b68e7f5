"""``mynacard``: the command line. A thin adapter: parse, call the service, print.

Exit codes: 0 done; 2 bad input (a field is wrong: nothing recorded); 3 refused by a rule
(nothing recorded); 4 unknown card; 5 conflict (command id reused, or the card kept
changing); 6 configuration; 7 integrity (the stored data fails a check: tampering, a version
gap, or ``verify`` found differences); 1 unexpected.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from eventsourcing.persistence import MapperDeserialisationError
from pydantic import ValidationError
from pydantic_settings import SettingsError

from commands.config import Settings
from commands.errors import CommandIdReused, ConcurrencyConflict, InputError, NotFound
from lifecycle.errors import RuleViolation
from mynacard import output
from mynacard.audit_commands import add_audit_commands
from mynacard.chain_commands import add_chain_commands
from mynacard.erasure_commands import add_erasure_commands
from mynacard.event_commands import add_event_commands
from mynacard.operation_commands import add_operation_commands
from mynacard.pki_commands import add_pki_commands
from mynacard.read_commands import add_read_commands
from mynacard.receipt_commands import add_receipt_commands
from mynacard.relay_commands import add_relay_commands
from mynacard.service_commands import add_service_commands
from mynacard.write_commands import add_write_commands
from storage.errors import ConfigurationError, ConsumerBusy
from storage.integrity import StoreIntegrityError, TamperingDetected

EXIT_OK, EXIT_INTERNAL, EXIT_INPUT, EXIT_RULE, EXIT_NOT_FOUND, EXIT_CONFLICT, EXIT_CONFIG, EXIT_INTEGRITY = (
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
)

Runner = Callable[[argparse.Namespace, Settings], int]


def _common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("common options")
    g.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    g.add_argument("--data-dir", help="data directory (MYNACARD_DATA_DIR)")
    g.add_argument("--database-url", help="event store URL (MYNACARD_DATABASE_URL), e.g. sqlite:///x.sqlite")
    g.add_argument("--now", help="fix the current time, e.g. 2025-04-01T09:00 (MYNACARD_NOW)")
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mynacard",
        description="Event-sourced lifecycle of My Number Cards (マイナンバーカード). "
        "Every command is recorded as events; refusals name the rule (R01…) and record nothing.",
        epilog="Exit codes: 0 done, 2 bad input, 3 refused by a rule, 4 unknown card, 5 conflict, "
        "6 configuration, 7 integrity (tampering or differences). "
        "Dates: ISO (2025-04-01) or 和暦 (令和7年4月1日, R7.4.1).",
    )
    sub = parser.add_subparsers(dest="subcommand", required=True, metavar="COMMAND")
    common = _common()
    add_write_commands(sub, common)
    add_read_commands(sub, common)
    add_audit_commands(sub, common)
    add_operation_commands(sub, common)
    add_chain_commands(sub, common)
    add_receipt_commands(sub, common)
    add_event_commands(sub, common)
    add_relay_commands(sub, common)
    add_service_commands(sub, common)
    add_pki_commands(sub, common)
    add_erasure_commands(sub, common)
    return parser


def _settings(ns: argparse.Namespace) -> Settings:
    overrides = {
        key: value
        for key, value in (("data_dir", ns.data_dir), ("database_url", ns.database_url), ("now", ns.now))
        if value
    }
    try:
        return Settings(**overrides)
    except ValidationError as e:
        issues = InputError.from_validation(e).issues
        raise ConfigurationError(
            "; ".join(f"{_setting_name(i.field)}: {i.message}" for i in issues)
        ) from None
    except SettingsError as e:
        # e.g. MYNACARD_POLICIES=notjson: pydantic-settings cannot parse a complex value.
        raise ConfigurationError(
            f"{e}; give MYNACARD_POLICIES as a JSON object, or set one policy with "
            "MYNACARD_POLICIES__<NAME>=value ('mynacard policies' lists them)"
        ) from None


def _setting_name(field: str) -> str:
    """``policies.feb29_birthday`` → ``MYNACARD_POLICIES__FEB29_BIRTHDAY``."""
    return "MYNACARD_" + "__".join(part.upper() for part in field.split("."))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    ns = parser.parse_args(argv)
    as_json = bool(getattr(ns, "json", False))
    try:
        settings = _settings(ns)
        code: int = ns.run(ns, settings)
        return code
    except NotFound as e:
        output.print_error(e.as_dict(), as_json)
        return EXIT_NOT_FOUND
    except InputError as e:
        output.print_error(e.as_dict(), as_json)
        return EXIT_INPUT
    except RuleViolation as e:
        output.print_error(e.as_dict(), as_json)
        return EXIT_RULE
    except (CommandIdReused, ConcurrencyConflict, ConsumerBusy) as e:
        output.print_error(e.as_dict(), as_json)
        return EXIT_CONFLICT
    except BrokenPipeError:
        return EXIT_OK
    except (TamperingDetected, StoreIntegrityError) as e:
        as_dict = getattr(e, "as_dict", None)
        output.print_error(
            as_dict()
            if callable(as_dict)
            else {
                "kind": "integrity",
                "message": str(e),
                "hint": "the stored data was altered behind the service: run 'mynacard verify' and "
                "restore the store from a backup",
            },
            as_json,
        )
        return EXIT_INTEGRITY
    except MapperDeserialisationError as e:
        output.print_error(
            {
                "kind": "configuration",
                "message": f"the stored events cannot be read: {e.__cause__ or e}",
                "hint": "the encryption key ring does not match this store: restore cipher.keys from backup "
                "or set MYNACARD_CIPHER_KEYS",
            },
            as_json,
        )
        return EXIT_CONFIG
    except ConfigurationError as e:
        output.print_error({"kind": "configuration", "message": str(e)}, as_json)
        return EXIT_CONFIG
    except Exception as e:  # the last resort: a message, not a traceback, unless debugging
        if os.environ.get("MYNACARD_DEBUG"):
            raise
        output.print_error(
            {
                "kind": "internal",
                "message": f"{type(e).__name__}: {e}",
                "hint": "set MYNACARD_DEBUG=1 for the traceback and report it",
            },
            as_json,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
