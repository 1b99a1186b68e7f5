"""Signed validity receipts (issue 13): what the service answered to "was this certificate valid
at T (as known at S)?", from which log prefix, signed by the store's log signing key, so that an
auditor can hold the answer and check it without the database.

Format ``mynacard-validity-receipt/1``, one JSON object with exactly these members::

    {
      "format": "mynacard-validity-receipt/1",
      "question": {"serial": "…", "at": "<ISO, JST>", "as_known_at": "<ISO, JST>" | null},
      "answer": {"serial", "kind", "at", "as_known_at", "valid", "reason", "rule",
                 "events_considered"},            (what ``mynacard valid-at --json`` prints)
      "log": {"position": N, "chain_hash": "<64 hex digits>"},
      "store_id": "…", "issued_at": "<ISO, JST>",
      "key_id": "<16 hex digits>", "public_key": "<PEM, for convenience: trust --public-key>",
      "signature": "<base64 Ed25519 signature>"
    }

The answer is derived from exactly the log prefix up to ``log.position`` (the chain head, read
first), whose chain hash there is ``log.chain_hash``. **Signed bytes**: the receipt without its
``signature`` member as canonical JSON, i.e. Python's ``json.dumps(obj, sort_keys=True,
separators=(",", ":"), ensure_ascii=True)`` encoded as UTF-8 (keys sorted by code point, no
whitespace, every non-ASCII character escaped as ``\\uXXXX``); the signature is Ed25519 over those
bytes, base64 (standard alphabet, padded).

Pure: building, canonical bytes, parsing (``ReceiptError`` names the field) and checking a
signature. May import the standard library, ``cryptography`` and ``mynacard.integrity.signing``.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from mynacard.integrity.signing import (
    KEY_ID_HEX,
    LogSigner,
    fingerprint_of,
    load_public_key,
    verify_signature,
)
from storage.errors import ConfigurationError

FORMAT = "mynacard-validity-receipt/1"
MEMBERS = (
    "format",
    "question",
    "answer",
    "log",
    "store_id",
    "issued_at",
    "key_id",
    "public_key",
    "signature",
)
QUESTION_MEMBERS = ("serial", "at", "as_known_at")
ANSWER_MEMBERS = ("serial", "kind", "at", "as_known_at", "valid", "reason", "rule", "events_considered")
LOG_MEMBERS = ("position", "chain_hash")


class ReceiptError(ValueError):
    """A receipt that cannot be read as ``mynacard-validity-receipt/1``: ``field`` names where."""

    def __init__(self, field_: str, message: str) -> None:
        super().__init__(f"{field_}: {message}")
        self.field = field_
        self.message = message


def canonical_bytes(receipt: dict[str, Any]) -> bytes:
    """The bytes the signature is over: the receipt without ``signature``, canonical JSON."""
    unsigned = {k: v for k, v in receipt.items() if k != "signature"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("utf-8")


def build_receipt(
    *,
    question: dict[str, Any],
    answer: dict[str, Any],
    position: int,
    chain_hash: bytes,
    store_id: str,
    issued_at: str,
    signer: LogSigner,
) -> dict[str, Any]:
    """A signed receipt (see the module docstring)."""
    receipt: dict[str, Any] = {
        "format": FORMAT,
        "question": dict(question),
        "answer": dict(answer),
        "log": {"position": position, "chain_hash": chain_hash.hex()},
        "store_id": store_id,
        "issued_at": issued_at,
        "key_id": signer.key_id,
        "public_key": signer.public_key_pem,
    }
    receipt["signature"] = signer.sign(canonical_bytes(receipt))
    return receipt


def receipt_text(receipt: dict[str, Any]) -> str:
    """How a receipt is written to a file (readable; the signature does not depend on layout)."""
    return json.dumps(receipt, ensure_ascii=False, indent=2) + "\n"


# ----------------------------------------------------------------------------- reading


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise ReceiptError(key, "appears twice in one object (a reader could be shown either value)")
        found[key] = value
    return found


def _object(value: Any, where: str, members: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ReceiptError(where, "must be a JSON object")
    prefix = f"{where}." if where != "(receipt)" else ""
    for name in members:
        if name not in value:
            raise ReceiptError(prefix + name, "is missing")
    for name in value:
        if name not in members:
            raise ReceiptError(prefix + name, f"is not a member of {FORMAT}")
    return value


def _string(value: Any, where: str, *, nullable: bool = False) -> None:
    if value is None and nullable:
        return
    if not isinstance(value, str) or not value:
        raise ReceiptError(where, "must be a non-empty string" + (" or null" if nullable else ""))


def _moment(value: Any, where: str, *, nullable: bool = False) -> None:
    _string(value, where, nullable=nullable)
    if value is None:
        return
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ReceiptError(where, f"is not an ISO date and time: {value!r}") from None
    if moment.tzinfo is None:
        raise ReceiptError(where, "has no time zone offset")


def _hex(value: Any, where: str, digits: int) -> None:
    if not isinstance(value, str) or len(value) != digits or any(c not in "0123456789abcdef" for c in value):
        raise ReceiptError(where, f"must be {digits} lowercase hex digits")


def parse_receipt(data: bytes) -> dict[str, Any]:
    """A receipt read from ``data`` and checked for form (not for its signature)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ReceiptError("(receipt)", "is not UTF-8 text") from None
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates)
    except ReceiptError:
        raise
    except ValueError as e:
        raise ReceiptError("(receipt)", f"is not JSON ({e})") from None
    except RecursionError:
        raise ReceiptError("(receipt)", "is nested too deeply to be a receipt") from None
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ReceiptError("(receipt)", "holds a lone surrogate (U+D800–U+DFFF): not text") from None
    receipt = _object(value, "(receipt)", MEMBERS)
    if receipt["format"] != FORMAT:
        raise ReceiptError(
            "format", f"must be {FORMAT!r} (this program reads no other), not {receipt['format']!r}"
        )
    question = _object(receipt["question"], "question", QUESTION_MEMBERS)
    _string(question["serial"], "question.serial")
    _moment(question["at"], "question.at")
    _moment(question["as_known_at"], "question.as_known_at", nullable=True)
    answer = _object(receipt["answer"], "answer", ANSWER_MEMBERS)
    for name in ("serial", "kind", "reason", "rule"):
        _string(answer[name], f"answer.{name}")
    _moment(answer["at"], "answer.at")
    _moment(answer["as_known_at"], "answer.as_known_at", nullable=True)
    if not isinstance(answer["valid"], bool):
        raise ReceiptError("answer.valid", "must be true or false")
    considered = answer["events_considered"]
    if not isinstance(considered, int) or isinstance(considered, bool) or considered < 0:
        raise ReceiptError("answer.events_considered", "must be a whole number ≥ 0")
    log = _object(receipt["log"], "log", LOG_MEMBERS)
    position = log["position"]
    if not isinstance(position, int) or isinstance(position, bool) or position < 1:
        raise ReceiptError("log.position", "must be a log position (a whole number ≥ 1)")
    _hex(log["chain_hash"], "log.chain_hash", 64)
    _string(receipt["store_id"], "store_id")
    _moment(receipt["issued_at"], "issued_at")
    _hex(receipt["key_id"], "key_id", KEY_ID_HEX)
    _string(receipt["public_key"], "public_key")
    _string(receipt["signature"], "signature")
    return receipt


def read_receipt(path: Path, option: str) -> dict[str, Any]:
    """``parse_receipt`` of a file; an unreadable file is a ``ReceiptError`` naming ``option``."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ReceiptError(option, f"cannot read {path} ({e.strerror})") from None
    return parse_receipt(data)


# ----------------------------------------------------------------------------- checking


@dataclass(frozen=True)
class TrustedKey:
    """The public key a receipt is checked against, and where it came from."""

    key: ed25519.Ed25519PublicKey
    source: str

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.key)

    @property
    def key_id(self) -> str:
        return self.fingerprint[:KEY_ID_HEX]


@dataclass(frozen=True)
class SignatureCheck:
    """Whether a receipt is signed by the trusted key; ``problems`` say why not."""

    trusted: TrustedKey
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "signature_valid": self.ok,
            "trusted_key": {"key_id": self.trusted.key_id, "source": self.trusted.source},
            "problems": list(self.problems),
        }


def check_signature(receipt: dict[str, Any], trusted: TrustedKey) -> SignatureCheck:
    """Is ``receipt`` (parsed) signed by ``trusted``? The receipt's ``key_id`` must be the
    trusted key's, its ``public_key`` (if it names another key) is not trusted, and the
    signature must verify over ``canonical_bytes``."""
    problems = []
    if receipt["key_id"] != trusted.key_id:
        problems.append(
            f"the receipt names key {receipt['key_id']}, not the trusted key {trusted.key_id} "
            f"({trusted.source}): it was not signed by that key"
        )
    try:
        embedded = load_public_key(receipt["public_key"], "public_key")
    except ConfigurationError:
        problems.append("the receipt's public_key is not an Ed25519 public key")
    else:
        if fingerprint_of(embedded) != trusted.fingerprint:
            problems.append(
                f"the receipt carries public key {fingerprint_of(embedded)[:KEY_ID_HEX]}, not the trusted "
                f"key {trusted.key_id}"
            )
    if not verify_signature(trusted.key, canonical_bytes(receipt), receipt["signature"]):
        problems.append(
            "the signature does not verify over the receipt's contents with the trusted key: the "
            "receipt was altered after signing, or signed by another key"
        )
    return SignatureCheck(trusted, problems)


def public_key_of_private_file(path: Path) -> ed25519.Ed25519PublicKey:
    """The public half of an Ed25519 private key file (PEM or DER); ``ConfigurationError`` when
    it is not one."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ConfigurationError(f"cannot read the log signing key {path} ({e.strerror})") from None
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            key = serialization.load_pem_private_key(data, password=None)
        else:
            key = serialization.load_der_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise ConfigurationError(f"{path}: not an unencrypted private key ({e})") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ConfigurationError(f"{path}: the log signing key must be an Ed25519 key")
    return key.public_key()


def describe(receipt: dict[str, Any]) -> str:
    """One line saying what a receipt says."""
    q, a, log = receipt["question"], receipt["answer"], receipt["log"]
    known = f"as known at {q['as_known_at']}" if q["as_known_at"] else "as known when issued"
    verdict = "VALID" if a["valid"] else f"NOT VALID: {a['reason']}"
    return (
        f"{a['kind']} {q['serial']} at {q['at']}, {known}: {verdict} ({a['rule']}); answered from log "
        f"position {log['position']} (chain hash {log['chain_hash']}) of store {receipt['store_id']}, "
        f"issued {receipt['issued_at']}, key {receipt['key_id']}"
    )


def write_atomically(path: Path, text: str, *, force: bool) -> None:
    """Write ``path`` so that it appears complete or not at all; an existing file is kept
    (``FileExistsError``) unless ``force``."""
    directory = path.parent if str(path.parent) else Path(".")
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        tmp.chmod(0o644)
        if force:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
