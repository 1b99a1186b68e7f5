"""Encrypted payloads are bound to their row (issue 8 item 6), on the test storage (SQLite files,
or a PostgreSQL schema with ``MYNACARD_TEST_DATABASE_URL``), through the real wiring.

Every payload is encrypted with AES-GCM whose associated data names its row: originator id,
originator version and topic (``storage.bound_mapper.payload_aad``). The rows are edited behind
the service's back, as an attacker with access to the database would (tests/helpers/backend.py
``tamper``): a payload copied onto another card's row, onto another version of the same card, a
row whose topic was changed, a view snapshot copied onto another card's view row. Each is reported
as tampering (``storage.integrity.TamperingDetected``; exit 7 on the command line, with ``rebuild``
failing rather than folding the moved payload into the views), never read as the other card's
data, never exit 1. Payloads of the previous, unbound format (``MK``) stay readable; a wrong key
stays a configuration problem. Issue 8 item 10: a corrupted ciphertext in the newest event is a
tampering error, not "restore cipher.keys".
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.cipher import AESCipher
from eventsourcing.persistence import (
    Cipher,
    Mapper,
    MapperDeserialisationError,
    Notification,
    StoredEvent,
)
from eventsourcing.utils import Environment

from commands import models as m
from commands.application import CardLifecycle
from commands.config import Settings
from lifecycle.identifiers import card_id_for
from mynacard.bootstrap import open_read_side, open_write_side, upstream_of
from storage.bound_mapper import payload_aad
from storage.crypto import (
    BOUND_MAGIC,
    MAGIC,
    CipherKeyError,
    KeyRingCipher,
    RingKey,
    parse_ring,
    read_ring_file,
)
from storage.integrity import TamperingDetected
from storage.keys import CIPHER_KEY_FILE, cipher_env
from storage.settings import storage_env
from tests.helpers.backend import POSTGRES, tamper
from tests.helpers.backend import settings as settings_for
from tests.helpers.recorded_store import Run, cli, foreign_ring
from tests.helpers.support import KEY, Clock, Story, at, my_number

APPLIED = "mynacard.Card.Applied"
SUSPENDED = "mynacard.Card.Suspended"
LIFTED = "mynacard.Card.SuspensionLifted"


@pytest.fixture(autouse=True)
def only_the_settings_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """``Settings`` also reads ``MYNACARD_*`` from the environment: none of the caller's."""
    for name in list(os.environ):
        if name.startswith("MYNACARD_") and name != "MYNACARD_TEST_DATABASE_URL":
            monkeypatch.delenv(name)


# ----------------------------------------------------------------------------- the store


@dataclass
class Cards:
    settings: Settings
    a: str
    """application id of card A: active, suspended, lifted, suspended again (its last events are
    the newest of the log)"""
    b: str
    """application id of card B: active"""

    @property
    def a_id(self) -> UUID:
        return card_id_for(self.a)

    @property
    def b_id(self) -> UUID:
        return card_id_for(self.b)


@pytest.fixture
def opened() -> Iterator[list[CardLifecycle]]:
    """Applications a test opens; closed after it."""
    apps: list[CardLifecycle] = []
    yield apps
    for app in apps:
        app.close()


@pytest.fixture
def cards(tmp_path: Path) -> Cards:
    """Two cards through the real wiring (A applies first, so neither B's rows nor A's first
    suspension are the first or the newest event of the log), then the read side catches up."""
    settings = settings_for(tmp_path)
    clock = Clock("2020-05-01T09:00")
    app = open_write_side(settings)
    app.clock = clock
    try:
        a = Story(app, clock, my_number_=my_number(52_873_019_466))
        b = Story(app, clock, my_number_=my_number(38_160_274_953))
        a.apply("2020-05-01T09:00")
        b.to_active(applied="2020-05-02T09:00")
        a.run(m.AcceptApplication, "2020-07-10T09:00", effective_at="2020-07-10")
        a.run(m.ProduceCard, "2020-07-15T09:00", effective_at="2020-07-15")
        a.run(
            m.HandOverCard,
            "2020-08-20T10:00",
            identity_documents=["driving_licence"],
            notification_card="collected",
            sig_pin="QZ8PX7WK3M",
            auth_pin="4817",
            juki_pin="5926",
            card_details_pin="3071",
        )
        a.run(m.SuspendCard, "2021-01-05T03:15")
        a.run(m.LiftSuspension, "2021-01-06T10:00")
        a.run(m.SuspendCard, "2021-02-05T03:15")
        assert a.card.status == "suspended" and b.card.status == "active"
        read = open_read_side(settings, upstream_of(app))
        try:
            read.catch_up()
        finally:
            read.close()
    finally:
        app.close()
    return Cards(settings, a.application_id, b.application_id)


def ring_of(settings: Settings) -> list[RingKey]:
    ring = read_ring_file(settings.data_dir / CIPHER_KEY_FILE)
    assert ring is not None
    return ring


def reader(
    opened: list[CardLifecycle], settings: Settings, ring: list[RingKey] | None = None
) -> CardLifecycle:
    """The application with the store's key ring (or ``ring``), below the service's open checks:
    what it reads is decided by the mapper alone."""
    app = CardLifecycle(
        env={**storage_env(settings), **cipher_env(ring or ring_of(settings))}, holder_key=KEY
    )
    opened.append(app)
    return app


def rows(settings: Settings) -> list[Notification]:
    """Every stored event as it lies in the log (no cipher)."""
    app = CardLifecycle(env=storage_env(settings), holder_key=KEY)
    try:
        return list(app.recorder.select_notifications(start=1, limit=100_000))
    finally:
        app.close()


def row(notes: list[Notification], card: UUID, topic: str, nth: int = 0) -> Notification:
    found = [n for n in notes if n.originator_id == card and n.topic == topic]
    assert len(found) > nth, (card, topic, [(n.originator_id, n.topic) for n in notes])
    return found[nth]


_tables: dict[str, str] = {}


def events_table(settings: Settings) -> str:
    """The name of the event store's table (without its schema)."""
    url = settings.effective_database_url
    if url not in _tables:
        app = CardLifecycle(env=storage_env(settings), holder_key=KEY)
        try:
            name: str = app.recorder.events_table_name  # type: ignore[attr-defined]
        finally:
            app.close()
        _tables[url] = name.rpartition(".")[2].strip('"')
    return _tables[url]


POSITION = "notification_id" if POSTGRES else "rowid"
EVENTS_FILE = "mynacard.sqlite"


def edit_row(settings: Settings, at_position: int, column: str, value: Any) -> None:
    """Set one column of the event store's row at ``at_position``, behind the service's back."""
    changed = tamper(
        settings,
        EVENTS_FILE,
        events_table(settings),
        f"UPDATE {{table}} SET {column} = ? WHERE {POSITION} = ?",
        (value, at_position),
    )
    assert changed == 1


def move_payload(settings: Settings, source: Notification, target: Notification) -> None:
    """Copy the encrypted payload of row ``source`` onto row ``target`` (ids, versions and topics
    of both rows unchanged)."""
    assert source.state != target.state
    edit_row(settings, target.id, "state", source.state)


def assert_names_the_row(error: BaseException, stored: StoredEvent) -> None:
    message = str(error)
    assert "altered" in message and "moved" in message and "tampering" in message, message
    assert stored.topic in message and str(stored.originator_id) in message, message
    assert f"version {stored.originator_version}" in message, message
    if isinstance(stored, Notification):
        assert f"position {stored.id}" in message, message


# ----------------------------------------------------------------------------- moved payloads


def test_issue_8_item_6_a_payload_moved_to_another_cards_row_is_tampering(
    cards: Cards, opened: list[CardLifecycle]
) -> None:
    """issue 8 item 6: card A's encrypted ``Applied`` payload copied onto card B's ``Applied`` row
    (same topic, same version) fails to decrypt: TamperingDetected naming B's row, through the
    repository and through the mapper; never B read with A's data."""
    settings = cards.settings
    notes = rows(settings)
    a_applied, b_applied = row(notes, cards.a_id, APPLIED), row(notes, cards.b_id, APPLIED)
    app = reader(opened, settings)
    b_before = app.get_card(cards.b)
    assert b_before.application_id.replace(" ", "") == cards.b
    move_payload(settings, a_applied, b_applied)

    app = reader(opened, settings)
    with pytest.raises(TamperingDetected) as through_repository:
        app.repository.get(cards.b_id)
    assert_names_the_row(through_repository.value, StoredEvent(cards.b_id, 1, APPLIED, b""))
    assert isinstance(through_repository.value, MapperDeserialisationError)  # existing handlers hold

    moved = row(rows(settings), cards.b_id, APPLIED)
    assert moved.state == a_applied.state
    with pytest.raises(TamperingDetected) as through_mapper:
        app.mapper.to_domain_event(moved)
    assert_names_the_row(through_mapper.value, moved)
    # Without the database: the payload read with another card's row.
    with pytest.raises(TamperingDetected):
        app.mapper.to_domain_event(StoredEvent(cards.b_id, 1, APPLIED, a_applied.state))

    # The source row is untouched and still reads; so does every other row.
    assert app.repository.get(cards.a_id).status == "suspended"
    for n in rows(settings):
        if n.id != moved.id:
            app.mapper.to_domain_event(n)


def test_issue_8_item_6_a_payload_moved_to_another_version_of_the_same_card_is_tampering(
    cards: Cards, opened: list[CardLifecycle]
) -> None:
    """issue 8 item 6: card A's first ``Suspended`` payload copied onto its second ``Suspended``
    row (same card, same topic, another version) fails to decrypt: TamperingDetected."""
    settings = cards.settings
    notes = rows(settings)
    first, second = row(notes, cards.a_id, SUSPENDED, 0), row(notes, cards.a_id, SUSPENDED, 1)
    assert first.originator_version < second.originator_version
    move_payload(settings, first, second)

    app = reader(opened, settings)
    with pytest.raises(TamperingDetected) as through_repository:
        app.repository.get(cards.a_id)
    assert_names_the_row(
        through_repository.value, StoredEvent(cards.a_id, second.originator_version, SUSPENDED, b"")
    )
    moved = row(rows(settings), cards.a_id, SUSPENDED, 1)
    with pytest.raises(TamperingDetected) as through_mapper:
        app.mapper.to_domain_event(moved)
    assert_names_the_row(through_mapper.value, moved)
    # The version is bound on its own: the first payload read as any other version fails.
    for version in (first.originator_version + 1, second.originator_version, 2**40):
        with pytest.raises(TamperingDetected):
            app.mapper.to_domain_event(StoredEvent(cards.a_id, version, SUSPENDED, first.state))
    assert app.repository.get(cards.b_id).status == "active"


def test_issue_8_item_6_an_altered_topic_is_tampering(cards: Cards, opened: list[CardLifecycle]) -> None:
    """issue 8 item 6: a row whose topic was changed (to another event class of the card, or to a
    topic that does not exist) fails to decrypt: TamperingDetected, not a wrongly typed event."""
    settings = cards.settings
    notes = rows(settings)
    lifted = row(notes, cards.a_id, LIFTED)
    app = reader(opened, settings)
    # Mapper level: the same id, version and payload under another topic.
    for topic in (SUSPENDED, "mynacard.Card.Nothing", "no.such.module:Event"):
        with pytest.raises(TamperingDetected) as detected:
            app.mapper.to_domain_event(
                StoredEvent(lifted.originator_id, lifted.originator_version, topic, lifted.state)
            )
        assert_names_the_row(detected.value, StoredEvent(cards.a_id, lifted.originator_version, topic, b""))

    edit_row(settings, lifted.id, "topic", SUSPENDED)
    app = reader(opened, settings)
    with pytest.raises(TamperingDetected) as through_repository:
        app.repository.get(cards.a_id)
    assert_names_the_row(
        through_repository.value, StoredEvent(cards.a_id, lifted.originator_version, SUSPENDED, b"")
    )


def test_issue_8_item_6_a_view_snapshot_moved_to_another_cards_view_row_is_tampering(
    cards: Cards, opened: list[CardLifecycle]
) -> None:
    """issue 8 item 6: the read models' snapshots go through the same mapper, bound to their view
    row's card id, version and topic: A's snapshot copied onto B's view row is tampering (in
    process, and ``status`` exits 7), not B shown with A's data."""
    settings = cards.settings
    app = reader(opened, settings)
    sqlite_file = "mynacard-lifecycle_view.sqlite"
    table = "lifecycle_view_cards" if POSTGRES else "cards"
    key = (lambda card: card) if POSTGRES else str
    changed = tamper(
        settings,
        sqlite_file,
        table,
        "UPDATE {table} SET state = (SELECT state FROM {table} WHERE card_id = ?) WHERE card_id = ?",
        (key(cards.a_id), key(cards.b_id)),
    )
    assert changed == 1
    read = open_read_side(settings, upstream_of(app))
    try:
        with pytest.raises(TamperingDetected) as detected:
            read.card_report(cards.b_id, at("2022-01-10").date(), at("2022-01-10T09:00"))
        assert "altered" in str(detected.value) and str(cards.b_id) in str(detected.value)
        assert read.card_report(cards.a_id, at("2022-01-10").date(), at("2022-01-10T09:00")) is not None
    finally:
        read.close()

    status = cli(settings, "status", cards.b)
    assert_integrity_error(status, "status B (view snapshot moved)")


# ----------------------------------------------------------------------------- the command line


def assert_integrity_error(run: Run, what: str) -> dict[str, Any]:
    """Exit 7 with the tampering named: an integrity error on stderr, or (``verify``) a report
    on stdout whose findings name it. Returns the error, or the report."""
    assert run.returncode == 7, (what, run.returncode, run.stdout, run.stderr)
    assert "Traceback" not in run.stderr, (what, run.stderr)
    if run.stdout:
        assert what.startswith("verify"), (what, run.stdout)
        report: dict[str, Any] = json.loads(run.stdout)
        assert report["ok"] is False, (what, report)
        text = json.dumps(report)
        assert "altered" in text and "tamper" in text, (what, report)
        return {"kind": "integrity", "message": text}
    error = run.error
    assert error["kind"] == "integrity", (what, error)
    assert "altered" in error["message"] and "tamper" in error["message"], (what, error)
    return error


def test_issue_8_item_6_a_moved_payload_on_the_command_line_exits_7_and_rebuild_refuses_it(
    cards: Cards, opened: list[CardLifecycle]
) -> None:
    """issue 8 item 6: after A's ``Applied`` payload is copied onto B's row, every command that
    reads B's events exits 7 naming the row (``history``, ``status --as-known-at``, ``verify``),
    and ``rebuild`` exits 7 instead of folding the moved payload into the views (the hole: after a
    rebuild, ``verify`` reported 0 differences)."""
    settings = cards.settings
    notes = rows(settings)
    b_applied = row(notes, cards.b_id, APPLIED)
    assert notes[0].id < b_applied.id < notes[-1].id  # not what the service's open check reads
    move_payload(settings, row(notes, cards.a_id, APPLIED), b_applied)

    for args in (
        ["history", cards.b],
        ["status", cards.b, "--as-known-at", "2021-12-01T09:00"],
        ["verify"],
        ["rebuild"],
        ["verify"],  # the failed rebuild left nothing that verifies clean
    ):
        error = assert_integrity_error(cli(settings, *args), " ".join(args))
        assert f"position {b_applied.id}" in error["message"] or str(cards.b_id) in error["message"], error
    # A's events are untouched: its history still reads.
    assert cli(settings, "history", cards.a).out


def test_issue_8_item_10_a_corrupted_ciphertext_in_the_newest_event_is_tampering_not_a_key_problem(
    cards: Cards, opened: list[CardLifecycle]
) -> None:
    """issue 8 item 10: one flipped byte in the ciphertext of the newest event is tampering
    (TamperingDetected; on the command line exit 7, kind "integrity"), not "restore cipher.keys";
    a wrong key ring stays a configuration problem (CipherKeyError; its exit 6 is shown by
    tests/stress/test_encryption.py)."""
    settings = cards.settings
    newest = rows(settings)[-1]
    assert newest.state[:2] == BOUND_MAGIC
    corrupted = bytearray(newest.state)
    corrupted[-20] ^= 0x01
    edit_row(settings, newest.id, "state", bytes(corrupted))

    app = reader(opened, settings)
    with pytest.raises(TamperingDetected) as detected:
        app.mapper.to_domain_event(rows(settings)[-1])
    assert_names_the_row(detected.value, newest)
    # Another ring (same key id, another key; or another key id): configuration, not tampering.
    for wrong in (foreign_ring(1), foreign_ring(9)):
        other = reader(opened, settings, parse_ring(wrong))
        with pytest.raises(MapperDeserialisationError) as failed:
            other.mapper.to_domain_event(rows(settings)[0])
        assert not isinstance(failed.value, TamperingDetected), failed.value
        assert isinstance(failed.value.__cause__, CipherKeyError), failed.value

    for args in (["status", cards.a], ["history", cards.a], ["suspend", cards.b]):
        run = cli(settings, *args)
        error = assert_integrity_error(run, " ".join(args))
        assert "cipher.keys" not in json.dumps(error), error


# ----------------------------------------------------------------------------- the previous format


class UnboundKeyRingCipher(Cipher):
    """The key ring cipher as it was before issue 8 item 6 (kept here to write its format):
    ``MK`` + 4-byte key id + the library ``AESCipher``'s nonce|tag|ciphertext, no associated data."""

    def __init__(self, environment: Environment) -> None:
        keys = parse_ring(environment.get("CIPHER_KEY") or "")
        self._ciphers = {k.key_id: AESCipher(Environment(env={"CIPHER_KEY": k.secret})) for k in keys}
        self._current = keys[-1].key_id

    def encrypt(self, plaintext: bytes) -> bytes:
        return MAGIC + self._current.to_bytes(4, "big") + self._ciphers[self._current].encrypt(plaintext)

    def decrypt(self, ciphertext: bytes) -> bytes:
        raise NotImplementedError


def test_issue_8_item_6_unbound_payloads_of_the_previous_format_still_read_and_new_ones_are_bound(
    cards: Cards, opened: list[CardLifecycle]
) -> None:
    """issue 8 item 6, the upgrade path: a store whose events were all written by the previous
    format (``MK``, unbound) reads as before, event for event; what is written after is bound
    (``MB``); an ``MK`` payload with a flipped byte is tampering; an ``MK`` payload under a key
    id not in the ring stays a configuration problem."""
    settings = cards.settings
    ring = ring_of(settings)
    app = reader(opened, settings)
    before = rows(settings)
    decoded = [app.mapper.to_domain_event(n) for n in before]
    legacy: Mapper[UUID] = Mapper(
        app.mapper.transcoder,
        app.mapper.compressor,
        UnboundKeyRingCipher(Environment(env={"CIPHER_KEY": ",".join(k.text() for k in ring)})),
    )
    for n, event in zip(before, decoded, strict=True):
        old = legacy.to_stored_event(event)
        assert (old.originator_id, old.originator_version, old.topic) == (
            n.originator_id,
            n.originator_version,
            n.topic,
        )
        edit_row(settings, n.id, "state", old.state)
    old_rows = rows(settings)
    assert {n.state[:6] for n in old_rows} == {MAGIC + (1).to_bytes(4, "big")}

    app = reader(opened, settings)
    assert [vars(app.mapper.to_domain_event(n)) for n in old_rows] == [vars(e) for e in decoded]
    assert app.repository.get(cards.a_id).status == "suspended"
    assert app.repository.get(cards.b_id).status == "active"

    # The service opens the old store, and what it writes now is bound.
    service = open_write_side(settings)
    opened.append(service)
    service.clock = clock = Clock()
    Story(service, clock, application_id_=cards.a).run(m.LiftSuspension, "2021-03-01T10:00")
    new = rows(settings)[len(old_rows) :]
    assert new and all(n.state[:2] == BOUND_MAGIC for n in new), [n.topic for n in new]
    app = reader(opened, settings)  # a fresh application: the aggregate cache holds A as it was
    assert app.repository.get(cards.a_id).status == "active"
    assert cli(settings, "history", cards.a).returncode == 0

    # An old payload with a flipped byte: tampering, saying it predates the binding.
    target = row(old_rows, cards.b_id, APPLIED)
    flipped = bytearray(target.state)
    flipped[-1] ^= 0x01
    edit_row(settings, target.id, "state", bytes(flipped))
    with pytest.raises(TamperingDetected) as detected:
        app.mapper.to_domain_event(row(rows(settings), cards.b_id, APPLIED))
    assert_names_the_row(detected.value, target)
    assert "predates" in str(detected.value)
    # An old payload under a key id the ring does not have: configuration, not tampering.
    other_key = MAGIC + (9).to_bytes(4, "big") + target.state[6:]
    with pytest.raises(MapperDeserialisationError) as failed:
        app.mapper.to_domain_event(StoredEvent(cards.b_id, 1, APPLIED, other_key))
    assert not isinstance(failed.value, TamperingDetected)
    assert isinstance(failed.value.__cause__, CipherKeyError)
    assert "key 9" in str(failed.value.__cause__)


# ----------------------------------------------------------------------------- the format


def test_issue_8_item_6_the_associated_data_and_the_bound_format_are_as_documented(
    cards: Cards, opened: list[CardLifecycle]
) -> None:
    """issue 8 item 6: a stored payload is ``MB`` + key id + key check + nonce + ciphertext|tag,
    and opens with plain AES-GCM under the documented associated data (so another
    implementation, or a re-encryption tool, can read it)."""
    import base64
    import hashlib

    from Crypto.Cipher import AES

    settings = cards.settings
    key = base64.b64decode(ring_of(settings)[0].secret)
    app = reader(opened, settings)
    for n in rows(settings):
        aad = (
            b"mynacard/1\x00"
            + UUID(str(n.originator_id)).bytes
            + n.originator_version.to_bytes(8, "big")
            + n.topic.encode()
        )
        assert payload_aad(n.originator_id, n.originator_version, n.topic) == aad
        state = n.state
        assert state[:2] == BOUND_MAGIC and int.from_bytes(state[2:6], "big") == 1
        assert state[6:10] == hashlib.sha256(b"mynacard key check\x00" + key).digest()[:4]
        gcm = AES.new(key, AES.MODE_GCM, nonce=state[10:22])
        gcm.update(aad)
        plaintext = gcm.decrypt_and_verify(state[22:-16], state[-16:])
        assert app.mapper.compressor is not None
        assert app.mapper.transcoder.decode(app.mapper.compressor.decompress(plaintext))
    cipher = app.mapper.cipher
    assert isinstance(cipher, KeyRingCipher)
    # One payload, two encryptions: fresh nonces.
    one = cipher.encrypt(b"x", b"aad")
    assert one != cipher.encrypt(b"x", b"aad") and cipher.decrypt(one, b"aad") == b"x"
