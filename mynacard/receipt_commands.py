"""Signed validity receipts from the command line (issue 13):

- ``mynacard valid-at SERIAL --at T [--as-known-at S] --receipt FILE [--force]`` writes a signed
  receipt of the answer (``issue_receipt``, called by ``audit_commands``);
- ``mynacard verify-receipt FILE [--public-key PEM]`` checks its signature offline, without the
  database (exit 0 signed by the trusted key, 7 not, 2 unreadable);
- ``mynacard recheck-receipt FILE`` checks it against the log: the chain up to its position,
  the answer from that prefix, and what the whole log answers now (exit 0 confirmed, 7 not).

The format and the signed bytes: ``mynacard.integrity.receipts``; docs/integrity.md, "Receipts".
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from eventsourcing.persistence import EventStore

from commands.config import Settings
from commands.errors import InputError
from mynacard import output
from mynacard.bootstrap import open_log, open_write_side
from mynacard.cli_support import (
    EXIT_DIFFERENCES,
    EXIT_OK,
    UnknownCertificate,
    log_integrity,
    option_moment,
    subcommand_adder,
)
from mynacard.integrity.receipts import (
    ReceiptError,
    TrustedKey,
    check_signature,
    describe,
    public_key_of_private_file,
    read_receipt,
    receipt_text,
    write_atomically,
)
from mynacard.integrity.rederive import recheck, signed_answer
from mynacard.integrity.signing import SIGNING_KEY_FILE, load_public_key, open_log_signer
from projections.event_json import jsonable
from storage.errors import ConfigurationError
from storage.interface import CommandLog

RECEIPT_OPTION = "--receipt"


def _input(error: ReceiptError, file_field: str) -> InputError:
    field = file_field if error.field == "(receipt)" else error.field
    return InputError.single(field, error.message)


def _receipt_target(ns: argparse.Namespace) -> Path:
    path = Path(ns.receipt)
    if path.exists() and not ns.force:
        raise InputError.single(
            RECEIPT_OPTION, f"{path} exists: give --force to replace it (nothing was written)"
        )
    if path.is_dir():
        raise InputError.single(RECEIPT_OPTION, f"{path} is a directory: name the receipt's file")
    if not path.absolute().parent.is_dir():
        raise InputError.single(RECEIPT_OPTION, f"the directory of {path} does not exist")
    return path


def issue_receipt(ns: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """``valid-at … --receipt FILE``: answer from the log up to its chain head (read first),
    sign, and write FILE atomically; the receipt."""
    path = _receipt_target(ns)
    at = option_moment("--at", ns.at)
    known_at = option_moment("--as-known-at", ns.as_known_at) if ns.as_known_at else None
    serial = ns.serial.strip().upper()
    app = open_write_side(settings)
    try:
        log = app.command_log
        signer = open_log_signer(settings, log)
        with log_integrity():
            receipt = signed_answer(app.events, log, signer, serial, at, known_at, jsonable(app.clock()))
    finally:
        app.close()
    if receipt is None:
        raise UnknownCertificate()
    try:
        write_atomically(path, receipt_text(receipt), force=ns.force)
    except FileExistsError:
        raise InputError.single(
            RECEIPT_OPTION, f"{path} was created meanwhile: give --force to replace it (nothing was written)"
        ) from None
    except OSError as e:
        raise InputError.single(RECEIPT_OPTION, f"cannot write {path} ({e.strerror})") from None
    return receipt


def print_issued(receipt: dict[str, Any], path: str, as_json: bool) -> None:
    if as_json:
        output.print_json(receipt)
        return
    answer, log = receipt["answer"], receipt["log"]
    known = f"as known at {answer['as_known_at']}" if answer["as_known_at"] else "as known now"
    verdict = (
        f"VALID (inside its validity period, {answer['rule']})"
        if answer["valid"]
        else f"NOT VALID: {answer['reason']} ({answer['rule']})"
    )
    print(f"{answer['kind']} {answer['serial']} at {answer['at']}, {known}: {verdict}")
    print(
        f"signed receipt written to {path}: answered from log position {log['position']} (chain hash "
        f"{log['chain_hash']}), key {receipt['key_id']}"
    )


# ----------------------------------------------------------------------------- verify-receipt


def trusted_key(ns: argparse.Namespace, settings: Settings) -> TrustedKey:
    """``--public-key PEM``, else the configured signing key's public half (MYNACARD_SIGNING_KEY
    or the data directory's ``log-signing.key``); never the database."""
    if ns.public_key:
        path = Path(ns.public_key)
        try:
            data = path.read_bytes()
        except OSError as e:
            raise InputError.single("--public-key", f"cannot read {path} ({e.strerror})") from None
        try:
            return TrustedKey(load_public_key(data, str(path)), f"--public-key {path}")
        except ConfigurationError as e:
            raise InputError.single("--public-key", str(e)) from None
    if settings.signing_key is not None:
        return TrustedKey(
            public_key_of_private_file(settings.signing_key), f"MYNACARD_SIGNING_KEY {settings.signing_key}"
        )
    local = settings.data_dir / SIGNING_KEY_FILE
    if local.is_file():
        return TrustedKey(public_key_of_private_file(local), f"the data directory's signing key {local}")
    raise InputError.single(
        "--public-key",
        "no public key to trust: give --public-key PEM (the store's key, e.g. from GET "
        f"/checkpoints/public-key); there is no {SIGNING_KEY_FILE} in the data directory {settings.data_dir}",
    )


def run_verify_receipt(ns: argparse.Namespace, settings: Settings) -> int:
    try:
        receipt = read_receipt(Path(ns.file), "FILE")
    except ReceiptError as e:
        raise _input(e, "FILE") from None
    check = check_signature(receipt, trusted_key(ns, settings))
    says = {k: v for k, v in receipt.items() if k not in ("public_key", "signature")}
    if ns.json:
        output.print_json({**check.as_dict(), "says": describe(receipt), "receipt": says})
        return EXIT_OK if check.ok else EXIT_DIFFERENCES
    trusted = f"key {check.trusted.key_id} ({check.trusted.source})"
    if check.ok:
        print(f"receipt signature VALID: signed by {trusted}")
        print(f"it says: {describe(receipt)}")
        return EXIT_OK
    print(f"receipt signature INVALID against {trusted}:")
    for problem in check.problems:
        print(f"  - {problem}")
    print(f"it claims: {describe(receipt)}")
    return EXIT_DIFFERENCES


# ----------------------------------------------------------------------------- recheck-receipt


def run_recheck_receipt(ns: argparse.Namespace, settings: Settings) -> int:
    try:
        receipt = read_receipt(Path(ns.file), "FILE")
    except ReceiptError as e:
        raise _input(e, "FILE") from None
    log = open_log(settings)
    try:
        recorder = log.recorder
        assert isinstance(recorder, CommandLog)
        events = EventStore(mapper=log.mapper, recorder=recorder)
        with log_integrity():
            found = recheck(events, recorder, receipt)
    finally:
        log.close()
    if ns.json:
        output.print_json(found.as_dict())
    elif found.confirmed:
        for line in found.summary:
            print(line)
    else:
        print("receipt NOT CONFIRMED by the log:")
        for problem in found.problems:
            print(f"  - {problem}")
        print(f"it claims: {describe(receipt)}")
    return EXIT_OK if found.confirmed else EXIT_DIFFERENCES


def add_receipt_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    add = subcommand_adder(sub, common)
    p = add(
        "verify-receipt",
        run_verify_receipt,
        "check a signed validity receipt offline (no database)",
        "Check a receipt written by 'valid-at --receipt' (or POST /receipts/valid-at) without the "
        "database: its format, that it names the trusted key, and its Ed25519 signature; then print "
        "what it says. The trusted key is --public-key, else the configured log signing key "
        "(MYNACARD_SIGNING_KEY or log-signing.key in the data directory). Exit 0 signed by that "
        "key, 7 not (altered, or signed by another key), 2 unreadable (naming the field).",
    )
    p.add_argument("file", metavar="FILE", help="the receipt (JSON)")
    p.add_argument("--public-key", metavar="PEM", help="the store's public key (PEM, DER or 64 hex digits)")
    p = add(
        "recheck-receipt",
        run_recheck_receipt,
        "check a receipt against the log, and say what changed since",
        "Check a receipt against this store's log: signed by the key the store recorded; the hash "
        "chain intact from the first event to the receipt's position and equal there to the "
        "receipt's chain hash (else the log was rewritten since); the log up to that position "
        "answers as the receipt says. Then answer the question again from the whole log, as known "
        "now, and say what was recorded since (e.g. a loss backdated before T). Exit 0 confirmed "
        "(even when the answer changed since: printed), 7 not confirmed, 2 unreadable.",
    )
    p.add_argument("file", metavar="FILE", help="the receipt (JSON)")


def add_receipt_options(p: argparse.ArgumentParser) -> None:
    """``valid-at``'s receipt options."""
    p.add_argument(
        RECEIPT_OPTION,
        metavar="FILE",
        help="also write a signed receipt of the answer to FILE (answered from the log up to its "
        "chain head; check it with 'verify-receipt' and 'recheck-receipt')",
    )
    p.add_argument("--force", action="store_true", help=f"with {RECEIPT_OPTION}: replace an existing FILE")
