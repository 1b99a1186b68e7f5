"""Signed validity receipts (issue 13, "Signed receipts for auditors") on the run's backend:
``valid-at --receipt``, ``verify-receipt`` and ``recheck-receipt`` through real ``mynacard``
subprocesses, and ``POST /receipts/valid-at`` in-process.

The story is the bitemporal one of the audit tests (R51 loss reported on Tuesday, effective on
Sunday; R35/R36 validity periods of AUTH/SIG; R66 recorded time never going backwards, which
"as known at" depends on): a receipt issued on Monday says the SIG certificate was valid on
Monday; it still verifies after the backdated loss, and the recheck says it was true as known
then and what was recorded since.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from commands import models as m
from commands.application import CardLifecycle
from mynacard.bootstrap import open_write_side
from mynacard.integrity.receipts import (
    FORMAT,
    TrustedKey,
    canonical_bytes,
    check_signature,
    public_key_of_private_file,
)
from mynacard.integrity.rederive import signed_answer
from mynacard.integrity.signing import SIGNING_KEY_FILE, LogSigner, load_public_key, open_log_signer
from storage import chain
from storage.postgres.event_store import PostgresCommandLogRecorder
from storage.sqlite.event_store import SQLiteCommandLogRecorder
from tests.helpers import backend
from tests.helpers.support import Clock, Story, at, certificates_of, my_number

SUNDAY_LOSS = "2025-01-05T03:10"
MONDAY = "2025-01-06T12:00"
MONDAY_RECEIPT = "2025-01-06T13:00"
TUESDAY_REPORT = "2025-01-07T10:00"
LATER = "2025-02-01T09:00"


def cli(data_dir: Path, *args: str, now: str = LATER, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m mynacard`` (this worktree's code: the test's PYTHONPATH and cwd) on the store."""
    environment = {**backend.cli_env(data_dir, MYNACARD_ACTOR="auditor-receipts"), **env}
    return subprocess.run(
        [sys.executable, "-m", "mynacard", *args, "--json", "--now", now],
        check=False,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def ok(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def error_of(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The error printed (``--json``), with ``field``: the first issue's field, if any."""
    error: dict[str, Any] = json.loads(done.stderr)["error"]
    issues = error.get("issues") or [{}]
    return {**error, "field": error.get("field", issues[0].get("field"))}


@dataclass
class Store:
    path: Path
    app: CardLifecycle
    clock: Clock
    story: Story
    serials: dict[str, str]

    def report_the_loss(self) -> None:
        """R51: the loss reported on Tuesday, effective on Sunday (before the receipt's T)."""
        self.story.run(m.ReportLoss, TUESDAY_REPORT, lost_at_home=True, effective_at=SUNDAY_LOSS)

    def public_key_file(self) -> Path:
        """The store's public key as an auditor holds it (PEM), outside the data directory."""
        pem = self.path.parent / f"{self.path.name}-public.pem"
        public = public_key_of_private_file(self.path / SIGNING_KEY_FILE)
        pem.write_bytes(
            public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        return pem


def load_receipt(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    data_dir = tmp_path / "data"
    app = open_write_side(backend.settings(data_dir))
    clock = Clock("2024-05-01T09:00")
    app.clock = clock
    story = Story(app, clock, my_number_=my_number(9_300_001))
    story.to_active(
        "2024-05-01T09:00", "2024-05-10", "2024-05-15", "2024-06-20T10:00", photo_taken_on="2024-04-01"
    )
    serials = {c.kind: c.serial for c in certificates_of(app, story.card)}
    yield Store(data_dir, app, clock, story, serials)
    app.close()


def monday_receipt(store: Store, name: str = "monday.json") -> Path:
    """SIG valid at Monday noon, asked on Monday afternoon (before the loss was reported)."""
    path = store.path.parent / name
    ok(
        cli(
            store.path,
            "valid-at",
            store.serials["SIG"],
            "--at",
            MONDAY,
            "--receipt",
            str(path),
            now=MONDAY_RECEIPT,
        )
    )
    return path


# ----------------------------------------------------------------------------- issuing and verifying


def test_a_receipt_verifies_offline_without_the_database(store: Store, tmp_path: Path) -> None:
    """Issue 13; R35/R36: the SIG certificate inside its validity period on Monday."""
    path = monday_receipt(store)
    receipt = load_receipt(path)
    assert receipt["format"] == FORMAT
    assert receipt["question"] == {
        "serial": store.serials["SIG"],
        "at": "2025-01-06T12:00:00+09:00",
        "as_known_at": None,
    }
    assert receipt["answer"]["valid"] is True and receipt["answer"]["kind"] == "SIG"
    head = store.app.command_log.chain_head()
    assert head is not None
    assert receipt["log"] == {"position": head.position, "chain_hash": head.chain_hash.hex()}
    identity = store.app.command_log.store_identity()
    assert identity is not None and receipt["store_id"] == identity.store_id
    assert receipt["issued_at"] == "2025-01-06T13:00:00+09:00"
    public = load_public_key(receipt["public_key"], "receipt")
    assert receipt["key_id"] == TrustedKey(public, "x").key_id
    # The signature is over the canonical bytes (sorted keys, no whitespace, ASCII), Ed25519.
    unsigned = {k: v for k, v in receipt.items() if k != "signature"}
    signed = json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    assert signed == canonical_bytes(receipt)
    assert check_signature(receipt, TrustedKey(public, "test")).ok

    # Offline: no database reachable, no data directory, the key given.
    pem = store.public_key_file()
    nowhere = tmp_path / "absent"
    done = subprocess.run(
        [sys.executable, "-m", "mynacard", "verify-receipt", str(path), "--public-key", str(pem), "--json"],
        check=False,
        env={
            **backend.cli_env(store.path),
            "MYNACARD_DATA_DIR": str(nowhere),
            "MYNACARD_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/nowhere",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    checked = json.loads(done.stdout)
    assert checked["signature_valid"] is True and checked["problems"] == []
    assert checked["trusted_key"] == {"key_id": receipt["key_id"], "source": f"--public-key {pem}"}
    assert checked["receipt"]["answer"]["valid"] is True
    assert not nowhere.exists()

    # Without --public-key: the data directory's signing key, named as the one trusted.
    local = ok(cli(store.path, "verify-receipt", str(path)))
    assert local["trusted_key"]["source"].startswith("the data directory's signing key")
    # Neither: exit 2 asking for --public-key.
    asked = cli(store.path, "verify-receipt", str(path), MYNACARD_DATA_DIR=str(nowhere))
    assert asked.returncode == 2, asked.stderr
    assert error_of(asked)["field"] == "--public-key"
    # The human form says what the receipt says.
    human = subprocess.run(
        [sys.executable, "-m", "mynacard", "verify-receipt", str(path), "--public-key", str(pem)],
        check=False,
        env=backend.cli_env(store.path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert human.returncode == 0 and "VALID" in human.stdout and store.serials["SIG"] in human.stdout


def _changed(path: Path, change: Any, name: str) -> Path:
    receipt = load_receipt(path)
    change(receipt)
    out = path.parent / name
    out.write_text(json.dumps(receipt, indent=2))
    return out


def _flip_signature(receipt: dict[str, Any]) -> None:
    sig = receipt["signature"]
    receipt["signature"] = ("B" if sig[0] == "A" else "A") + sig[1:]


def test_a_changed_byte_in_the_answer_the_position_or_the_signature_fails(store: Store) -> None:
    """Issue 13: any change to a signed member, or to the signature, is exit 7; a member that is
    not of the format's form is bad input (exit 2) naming the field."""
    path = monday_receipt(store)
    pem = store.public_key_file()
    changes = {
        "answer": lambda r: r["answer"].update(valid=False),
        "reason": lambda r: r["answer"].update(reason=r["answer"]["reason"] + "."),
        "position": lambda r: r["log"].update(position=r["log"]["position"] - 1),
        "chain_hash": lambda r: r["log"].update(chain_hash="0" + r["log"]["chain_hash"][1:]),
        "at": lambda r: r["question"].update(at="2025-01-06T12:00:01+09:00"),
        "signature": _flip_signature,
    }
    for name, change in changes.items():
        done = cli(
            store.path,
            "verify-receipt",
            str(_changed(path, change, f"{name}.json")),
            "--public-key",
            str(pem),
        )
        assert done.returncode == 7, (name, done.stdout, done.stderr)
        assert json.loads(done.stdout)["signature_valid"] is False, name
    # One byte of the file itself: the answer's "true" made "false" by editing the text.
    raw = path.read_text()
    assert '"valid": true' in raw
    edited = path.parent / "edited.json"
    edited.write_text(raw.replace('"valid": true', '"valid": false', 1))
    assert cli(store.path, "verify-receipt", str(edited), "--public-key", str(pem)).returncode == 7
    # Not of the format's form: exit 2 naming the field.
    malformed = {
        "log.position": lambda r: r["log"].update(position="12"),
        "format": lambda r: r.update(format="mynacard-validity-receipt/2"),
        "answer.valid": lambda r: r["answer"].update(valid="yes"),
        "extra": lambda r: r.update(extra=1),
        "key_id": lambda r: r.pop("key_id"),
    }
    for field, change in malformed.items():
        done = cli(
            store.path, "verify-receipt", str(_changed(path, change, "bad.json")), "--public-key", str(pem)
        )
        assert done.returncode == 2, (field, done.stderr)
        assert error_of(done)["field"] == field
    (path.parent / "not-json.json").write_text("{not json")
    unreadable = cli(
        store.path, "verify-receipt", str(path.parent / "not-json.json"), "--public-key", str(pem)
    )
    assert unreadable.returncode == 2 and error_of(unreadable)["field"] == "FILE"
    missing = cli(store.path, "verify-receipt", str(path.parent / "missing.json"), "--public-key", str(pem))
    assert missing.returncode == 2 and error_of(missing)["field"] == "FILE"


def test_a_receipt_signed_by_another_key_fails_against_the_right_key(store: Store) -> None:
    """Issue 13: a receipt re-signed with a key that is not the store's (its own public key and
    key id inside, all consistent) fails against the store's key given with --public-key."""
    path = monday_receipt(store)
    pem = store.public_key_file()
    other = LogSigner(ed25519.Ed25519PrivateKey.generate(), "another key")
    receipt = load_receipt(path)
    receipt.update(key_id=other.key_id, public_key=other.public_key_pem)
    receipt["signature"] = other.sign(canonical_bytes(receipt))
    forged = path.parent / "forged.json"
    forged.write_text(json.dumps(receipt))
    # It is consistent in itself ...
    assert check_signature(receipt, TrustedKey(other.public_key, "its own key")).ok
    # ... and fails against the store's key.
    done = cli(store.path, "verify-receipt", str(forged), "--public-key", str(pem))
    assert done.returncode == 7, done.stdout + done.stderr
    problems = json.loads(done.stdout)["problems"]
    assert any(other.key_id in p for p in problems)
    # The store's recheck refuses it too.
    assert cli(store.path, "recheck-receipt", str(forged)).returncode == 7


def test_the_receipt_file_is_not_overwritten_without_force(store: Store) -> None:
    """Issue 13: --receipt refuses an existing file (exit 2 naming --receipt), --force replaces it."""
    path = monday_receipt(store)
    before = path.read_bytes()
    again = cli(
        store.path,
        "valid-at",
        store.serials["SIG"],
        "--at",
        MONDAY,
        "--receipt",
        str(path),
        now=MONDAY_RECEIPT,
    )
    assert again.returncode == 2 and error_of(again)["field"] == "--receipt"
    assert path.read_bytes() == before
    replaced = ok(
        cli(
            store.path,
            "valid-at",
            store.serials["AUTH"],
            "--at",
            MONDAY,
            "--receipt",
            str(path),
            "--force",
            now=MONDAY_RECEIPT,
        )
    )
    assert load_receipt(path) == replaced and replaced["answer"]["kind"] == "AUTH"
    unknown = cli(store.path, "valid-at", "0" * 20, "--at", MONDAY, "--receipt", str(path.parent / "u.json"))
    assert unknown.returncode == 4 and not (path.parent / "u.json").exists()


# ----------------------------------------------------------------------------- recheck


def test_a_receipt_from_before_a_backdated_loss_still_verifies_and_recheck_says_what_changed(
    store: Store,
) -> None:
    """Issue 13; R51 (a loss effective on Sunday, reported on Tuesday) and R66: the Monday
    receipt was true as known at its position, still verifies, and the recheck confirms it while
    saying that the loss recorded since makes the certificate not valid at T as known now."""
    path = monday_receipt(store)
    receipt = load_receipt(path)
    store.report_the_loss()
    pem = store.public_key_file()
    assert ok(cli(store.path, "verify-receipt", str(path), "--public-key", str(pem)))["signature_valid"]

    found = ok(cli(store.path, "recheck-receipt", str(path)))
    assert found["confirmed"] is True and found["problems"] == []
    assert found["chain"]["chain_hash_in_log"] == receipt["log"]["chain_hash"]
    assert found["chain"]["log_head"] > receipt["log"]["position"]
    assert found["answer_at_position"] == receipt["answer"]
    now = found["answer_now"]
    assert (now["valid"], now["rule"], now["as_known_at"]) == (False, "R51", None)
    assert found["changed_since"] is True
    recorded = found["recorded_since"]
    lost = [c for c in recorded if c["type"] == "Lost"]
    assert lost and lost[0]["subject"] == "card"
    assert lost[0]["recorded_at"] == "2025-01-07T10:00:00+09:00"
    assert lost[0]["effective_at"] == "2025-01-05T03:10:00+09:00" and lost[0]["reaches_back_to_at"]
    summary = "\n".join(found["summary"])
    assert "Lost" in summary and "2025-01-05T03:10" in summary and "2025-01-07T10:00" in summary
    assert f"the receipt was valid as known at position {receipt['log']['position']}" in summary

    # The human form says the same.
    human = subprocess.run(
        [sys.executable, "-m", "mynacard", "recheck-receipt", str(path), "--now", LATER],
        check=False,
        env=backend.cli_env(store.path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert human.returncode == 0, human.stderr
    assert "confirmed" in human.stdout and "not valid" in human.stdout and "Lost" in human.stdout

    # A receipt asked after the report, as known on Monday, is issued at the new head and says
    # valid (as known then); its recheck finds nothing changed.
    monday_as_known = store.path.parent / "as-known-monday.json"
    asked = ok(
        cli(
            store.path,
            "valid-at",
            store.serials["SIG"],
            "--at",
            MONDAY,
            "--as-known-at",
            MONDAY,
            "--receipt",
            str(monday_as_known),
        )
    )
    assert asked["answer"]["valid"] is True and asked["log"]["position"] > receipt["log"]["position"]
    again = ok(cli(store.path, "recheck-receipt", str(monday_as_known)))
    assert again["confirmed"] and again["recorded_since"] == []


# ----------------------------------------------------------------------------- tampering


def _sql(app: CardLifecycle, statement: str, params: tuple[Any, ...]) -> None:
    """Run ``statement`` on the event store behind the service ({events}, {chain}: the tables)."""
    recorder = app.recorder
    if isinstance(recorder, SQLiteCommandLogRecorder):
        with recorder.datastore.transaction(commit=True) as c:
            c.execute(statement.format(events=recorder.events_table_name, chain="event_chain"), params)
        return
    assert isinstance(recorder, PostgresCommandLogRecorder)
    schema = recorder.datastore.schema
    events = f'"{schema}"."{recorder.events_table_name}"'
    links = f'"{schema}"."{recorder.events_table_name.removesuffix("_events")}_event_chain"'
    sql = statement.format(events=events, chain=links).replace("?", "%s").replace("rowid", "notification_id")
    with recorder.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
        curs.execute(sql.encode(), params)


def _rechain(app: CardLifecycle) -> None:
    """Recompute every chain row from the log as it now is (what an insider covering an edit does)."""
    log = app.command_log
    rows = log.chain_rows(0, 100_000)
    previous = chain.GENESIS
    _sql(app, "DELETE FROM {chain}", ())
    for row in rows:
        if row.state is None:
            continue
        assert row.originator_id is not None and row.originator_version is not None and row.topic is not None
        previous = chain.link(
            previous, row.position, row.originator_id, row.originator_version, row.topic, row.state
        )
        _sql(app, "INSERT INTO {chain} VALUES (?, ?)", (row.position, previous))


def test_recheck_exits_7_when_an_event_before_the_receipt_was_altered(store: Store) -> None:
    """Issue 13: an event's stored bytes altered behind the service (position 2, before the
    receipt's): the chain no longer holds there, so the log does not confirm the receipt."""
    path = monday_receipt(store)
    row = store.app.command_log.chain_rows(1, 1)[0]
    assert row.state is not None
    altered = row.state[:-1] + bytes([row.state[-1] ^ 1])
    _sql(store.app, "UPDATE {events} SET state = ? WHERE rowid = ?", (altered, row.position))
    done = cli(store.path, "recheck-receipt", str(path))
    assert done.returncode == 7, done.stdout + done.stderr
    found = json.loads(done.stdout)
    assert found["confirmed"] is False
    assert any("broken at position 2" in p for p in found["problems"])
    # verify-receipt (the signature alone) still passes: it proves what was said, not the log.
    assert cli(store.path, "verify-receipt", str(path)).returncode == 0


def test_recheck_exits_7_when_the_log_was_rewritten_with_its_chain(store: Store) -> None:
    """Issue 13: an event deleted and the whole chain recomputed over what is left: the chain is
    intact again (verify --chain passes), but its hash at the receipt's position is not the one
    the receipt holds: rewritten since."""
    path = monday_receipt(store)
    receipt = load_receipt(path)
    store.report_the_loss()  # the log goes on past the receipt's position
    row = store.app.command_log.chain_rows(2, 1)[0]  # position 3, before the receipt's
    _sql(store.app, "DELETE FROM {events} WHERE rowid = ?", (row.position,))
    _rechain(store.app)
    assert ok(cli(store.path, "verify", "--chain"))["ok"] is True
    done = cli(store.path, "recheck-receipt", str(path))
    assert done.returncode == 7, done.stdout + done.stderr
    found = json.loads(done.stdout)
    assert any("rewritten" in p for p in found["problems"]), found["problems"]
    assert found["chain"]["chain_hash_in_log"] != receipt["log"]["chain_hash"]


# ----------------------------------------------------------------------------- HTTP


def test_a_receipt_over_http_is_the_same_document_and_verifies(tmp_path: Path) -> None:
    """Issue 13; R35/R36: ``POST /receipts/valid-at`` (a relying party) answers as valid-at does,
    signed from the log's head; unknown serials are 404, bad times 422 naming the field."""
    from mynacard.service.identity import Role
    from tests.helpers.service import Api, in_process, make_token, service_settings

    settings = service_settings(tmp_path)
    clerk_token = make_token(settings, Role.CLERK)
    bank_token = make_token(settings, Role.RELYING_PARTY, "bank-1")
    with in_process(settings) as client:
        clerk, bank = Api(client, clerk_token), Api(client, bank_token)
        card = clerk.issue_card()
        serial = clerk.get(f"/cards/{card}").json()["certificates"][0]["serial"]
        plain = bank.get(f"/certificates/{serial}/valid-at", at="2026-04-03T10:00").json()
        r = bank.post("/receipts/valid-at", {"serial": serial.lower(), "at": "令和8年4月3日"})
        assert r.status_code == 200, r.text
        receipt = r.json()
        assert receipt["format"] == FORMAT and receipt["answer"]["valid"] is plain["valid"] is True
        assert receipt["question"]["serial"] == serial
        assert bank.post("/receipts/valid-at", {"serial": "0" * 20, "at": "2026-04-03"}).status_code == 404
        bad = bank.post("/receipts/valid-at", {"serial": serial, "at": "someday"})
        assert bad.status_code == 422 and "at" in bad.text
        extra = bank.post("/receipts/valid-at", {"serial": serial, "at": "2026-04-03", "actor": "x"})
        assert extra.status_code == 422
    public = load_public_key(receipt["public_key"], "receipt")
    stored = public_key_of_private_file(tmp_path / SIGNING_KEY_FILE)
    assert TrustedKey(stored, "store").key_id == TrustedKey(public, "receipt").key_id
    assert check_signature(receipt, TrustedKey(stored, "the store's key")).ok
    path = tmp_path / "http-receipt.json"
    path.write_text(json.dumps(receipt))
    done = subprocess.run(
        [sys.executable, "-m", "mynacard", "recheck-receipt", str(path), "--json"],
        check=False,
        env=backend.cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["confirmed"] is True


# ----------------------------------------------------------------------------- the log prefix


class _WriteAfterHead:
    """The event store's log, where another writer commits right after the chain head is read."""

    def __init__(self, log: Any, write: Any) -> None:
        self.log = log
        self.write = write

    def chain_head(self) -> Any:
        head = self.log.chain_head()
        self.write()
        return head

    def __getattr__(self, name: str) -> Any:
        return getattr(self.log, name)


def test_a_write_committed_after_the_head_was_read_does_not_slip_into_the_answer(store: Store) -> None:
    """Issue 13; R51: the receipt answers from exactly the log up to the head it read first. The
    loss committed between reading the head and answering lies after that position: the answer
    (and the receipt's position) leave it out, and a recheck then says it was recorded since."""
    app = store.app
    sig = store.serials["SIG"]
    before = app.command_log.chain_head()
    assert before is not None
    log = _WriteAfterHead(app.command_log, store.report_the_loss)
    signer = open_log_signer(backend.settings(store.path), app.command_log)
    issued = "2025-01-07T11:00:00+09:00"
    receipt = signed_answer(app.events, log, signer, sig, at(MONDAY), None, issued)  # type: ignore[arg-type]
    assert receipt is not None
    assert receipt["log"] == {"position": before.position, "chain_hash": before.chain_hash.hex()}
    assert receipt["answer"]["valid"] is True  # the loss was not in the log at that position
    assert app.command_log.log_max_position() > before.position
    path = store.path.parent / "raced.json"
    path.write_text(json.dumps(receipt))
    found = ok(cli(store.path, "recheck-receipt", str(path)))
    assert found["confirmed"] and found["answer_now"]["valid"] is False
    assert any(c["type"] == "Lost" for c in found["recorded_since"])
