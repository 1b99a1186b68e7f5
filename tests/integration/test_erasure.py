"""Issue 13, erasure that keeps the proof (crypto-shredding), through the real wiring on the
run's backend (SQLite files, or a PostgreSQL schema with ``MYNACARD_TEST_DATABASE_URL``).

A person's personal fields (date of birth, masked My Number, identity documents, a corrected date
of birth) are kept under a data key of their own. ``forget`` is refused while a card is in use
or the retention period runs, and writes nothing then; once allowed it destroys the key: status,
validity and history still answer with the personal fields erased, the log's stored bytes are
unchanged, and neither a scan of the raw storage nor the store's own key ring (every event
payload and view snapshot decrypted with it) finds any personal field of that person. Another
person is untouched. R65: a person whose My Number changed is forgotten under both numbers."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import Environment

from commands import models as m
from commands.application import CardLifecycle
from commands.config import Settings
from commands.errors import NotFound
from lifecycle.decisions import Policies
from lifecycle.erasure import ERASED
from lifecycle.errors import RuleViolation
from lifecycle.holder.rules import ERASURE_RULE
from lifecycle.identifiers import card_id_for, holder_reference
from mynacard.bootstrap import open_read_side, open_write_side
from mynacard.service.identity import Role
from projections.audit import card_history, valid_at
from projections.event_json import event_to_dict
from projections.read_side import ReadSide
from projections.verify import verify
from storage.bound_mapper import payload_aad
from storage.crypto import KeyRingCipher
from storage.erasable import PersonalFieldCipher
from storage.keys import cipher_env, key_ring
from storage.person_keys import PersonKeys
from tests.helpers.backend import raw_storage_bytes
from tests.helpers.backend import settings as settings_for
from tests.helpers.service import Api, in_process, make_token, new_my_number, service_settings
from tests.helpers.support import Clock, Story, at, my_number

DOB, NEW_DOB, OTHER_DOB = "1977-03-14", "1977-03-16", "1969-11-02"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_for(tmp_path)


@pytest.fixture
def app(settings: Settings) -> Iterator[CardLifecycle]:
    lifecycle = open_write_side(settings)
    lifecycle.clock = Clock()
    lifecycle.clock_tolerance = None  # two persons' stories each set the clock (R66 off)
    yield lifecycle
    lifecycle.close()


@pytest.fixture
def read(settings: Settings, app: CardLifecycle) -> Iterator[ReadSide]:
    side = open_read_side(settings)
    yield side
    side.close()


def personal(app: CardLifecycle) -> PersonalFieldCipher:
    assert app.personal is not None, "the real wiring keeps personal fields erasable"
    return app.personal


def keys(app: CardLifecycle) -> PersonKeys:
    return personal(app).keys


def ring_of(settings: Settings) -> KeyRingCipher:
    found = key_ring(settings)
    assert found is not None
    return KeyRingCipher(Environment(env=cipher_env(found)))


def person(app: CardLifecycle, seed: int, dob: str, document: str) -> Story:
    """A person whose card is in use (applied for at the counter showing ``document``), with
    certificates, whose date of birth was corrected once (an event without ``holder_ref``)."""
    story = Story(app, app.clock, my_number_=my_number(seed))  # type: ignore[arg-type]
    story.to_active(
        date_of_birth=dob, channel="counter", applicant_present=True, identity_documents=[document]
    )
    story.run(
        m.ChangeCardInformation,
        "2020-07-01T10:00",
        facts=["date_of_birth"],
        new_date_of_birth=NEW_DOB if dob == DOB else OTHER_DOB,
        pin_confirmed=True,
    )
    return story


def stored_payloads(app: CardLifecycle) -> list[tuple[int, bytes]]:
    return [(n.id, n.state) for n in app.recorder.select_notifications(start=1, limit=100_000)]


def plaintexts(settings: Settings, app: CardLifecycle, read: ReadSide) -> list[bytes]:
    """Every event payload and every view snapshot of the store, decrypted with the store's own key
    ring: what the holder of the store key can read."""
    ring = ring_of(settings)
    out = []
    for n in app.recorder.select_notifications(start=1, limit=100_000):
        out.append(
            zlib.decompress(
                ring.decrypt(n.state, payload_aad(n.originator_id, n.originator_version, n.topic))
            )
        )
    view = read.lifecycle.view
    rows: list[Any] = [*view.card_rows(view.all_card_ids()).values()]
    rows += [*view.certificate_rows(view.all_certificate_ids()).values()]
    for row in rows:
        row_id = getattr(row, "card_id", None) if hasattr(row, "application_id") else row.certificate_id
        stored = StoredEvent(row_id, row.version, row.topic, row.state)
        aad = payload_aad(stored.originator_id, stored.originator_version, stored.topic)
        out.append(zlib.decompress(ring.decrypt(stored.state, aad)))
    assert len(out) > 20, "the scan would prove nothing"
    return out


def test_issue13_forget_is_refused_while_a_card_is_in_use_and_writes_nothing(
    app: CardLifecycle, read: ReadSide
) -> None:
    story = person(app, 70_101, DOB, "passport")
    head = app.recorder.max_notification_id()
    ref = holder_reference(story.my_number, app.holder_key)
    with pytest.raises(RuleViolation) as refused:
        story.run(m.ForgetPerson, "2021-01-01T10:00", my_number=story.my_number, reason="request")
    assert refused.value.rule == ERASURE_RULE and "active" in refused.value.message
    assert app.recorder.max_notification_id() == head
    row = keys(app).row(ref)
    assert row is not None and row.wrapped_key is not None
    with pytest.raises(NotFound):
        story.run(m.ForgetPerson, "2021-01-01T10:00", holder_ref="f" * 64, reason="request")


def test_issue13_forget_waits_for_the_retention_period_after_the_last_end(app: CardLifecycle) -> None:
    story = person(app, 70_102, DOB, "passport")
    story.run(m.ReturnCard, "2021-02-10T10:00", reason="voluntary")
    head = app.recorder.max_notification_id()
    with pytest.raises(RuleViolation, match="retention period of 90 days") as refused:
        story.run(m.ForgetPerson, "2021-05-10T10:00", my_number=story.my_number, reason="request")
    assert refused.value.rule == ERASURE_RULE
    assert app.recorder.max_notification_id() == head


def test_issue13_after_forget_every_read_answers_with_personal_fields_erased_and_nothing_is_left(
    settings: Settings, app: CardLifecycle, read: ReadSide
) -> None:
    story = person(app, 70_103, DOB, "passport")
    other = person(app, 80_104, OTHER_DOB, "driving_licence")
    story.run(m.ReturnCard, "2021-02-10T10:00", reason="voluntary")
    read.catch_up()
    ref = holder_reference(story.my_number, app.holder_key)
    row = keys(app).row(ref)
    assert row is not None and row.wrapped_key is not None
    wrapped, data_key = row.wrapped_key, personal(app).key_for_reading(ref)
    assert data_key is not None
    serial = story.card.certificates and next(
        c.serial for c in (app.load_certificate(i) for i in story.card.certificates.values()) if c is not None
    )
    before = stored_payloads(app)
    masked = story.card.my_number_masked
    assert wrapped in raw_storage_bytes(settings), "the raw scan sees the key table"
    assert story.card.date_of_birth == date.fromisoformat(NEW_DOB)

    result = story.run(m.ForgetPerson, "2021-06-01T10:00", my_number=story.my_number, reason="deceased")
    assert [e.type for e in result.events] == ["PersonForgotten"]
    assert result.erasure is not None
    assert result.erasure.holder_refs == [ref] and result.erasure.keys_destroyed == 1
    assert result.erasure.scrubbed and result.erasure.plain_events == 0
    # Idempotent by command id: the same command again answers the first result, destroys nothing.
    again = app.execute(
        m.ForgetPerson.model_validate(
            {
                "command_id": result.command_id,
                "actor": story.actor,
                "my_number": story.my_number,
                "reason": "deceased",
            }
        )
    )
    assert again.duplicate and again.erasure is not None and again.erasure.keys_destroyed == 0
    # The log's stored bytes are unchanged (the hash chain is over them).
    assert stored_payloads(app)[: len(before)] == before
    forgotten = keys(app).row(ref)
    assert forgotten is not None and forgotten.wrapped_key is None and forgotten.forgotten_by == story.actor

    # Every read still answers; the personal fields read as erased.
    card = story.card
    assert card.status == "returned" and card.date_of_birth is ERASED and card.my_number_masked is ERASED
    history = [event_to_dict(e) for e in card_history(app.events, card)]
    applied = next(h for h in history if h["type"] == "Applied")
    assert applied["data"]["date_of_birth"] == {"erased": True}
    assert applied["data"]["identity_documents"] == {"erased": True}
    assert applied["data"]["applied_on"] == "2020-05-01"
    changed = next(h for h in history if h["type"] == "DateOfBirthChanged")
    assert changed["data"]["new_date_of_birth"] == {"erased": True}
    assert valid_at(app.events, serial, at("2020-12-01T00:00"), None).valid
    assert not valid_at(app.events, serial, at("2021-03-01T00:00"), None).valid
    read.catch_up()
    report = read.card_report(card.id, date(2021, 6, 1), at("2021-06-01T10:00"))
    assert report is not None and report.as_dict()["holder"] == {"erased": True}
    assert report.as_dict()["status"] == "returned"
    assert read.certificate(serial, at("2020-12-01T00:00")) is not None
    assert [c.status for c in read.cards_of_holder(ref, date(2021, 6, 1))] == ["returned"]
    # A command on the ended card is refused by its rule, not by a crash.
    with pytest.raises(RuleViolation):
        story.run(m.SuspendCard, "2021-06-02T10:00", channel="counter")
    # Nothing personal is recorded for the person again.
    with pytest.raises(RuleViolation, match="forgotten"):
        story.apply("2021-06-03T10:00", application_id="9" * 23, photo_taken_on="2021-05-01")
    # The other person is untouched.
    assert other.card.date_of_birth == date.fromisoformat(OTHER_DOB)

    # Rebuilt views and verify agree with the log (erased fields compare as erased).
    read.rebuild()
    assert verify(read).ok

    # No readable personal field of the person is left: raw storage, and the store key's view.
    raw = raw_storage_bytes(settings)
    for needle in (wrapped, data_key, DOB.encode(), NEW_DOB.encode(), masked.encode()):
        assert needle not in raw, needle[:12]
    texts = plaintexts(settings, app, read)
    for needle in (DOB, NEW_DOB, masked, "passport", "driving_licence", OTHER_DOB):
        assert all(needle.encode() not in t for t in texts), needle
    assert any(ref.encode() in t for t in texts), "the scan reads the decrypted payloads"


def test_issue13_a_person_whose_my_number_changed_is_forgotten_under_both_numbers_R65(
    app: CardLifecycle,
) -> None:
    story = person(app, 70_105, DOB, "passport")
    new_number = my_number(70_106)
    story.run(m.InvalidateCard, "2021-02-10T10:00", reason="my_number_changed", new_my_number=new_number)
    old_ref, new_ref = (holder_reference(n, app.holder_key) for n in (story.my_number, new_number))
    result = story.run(m.ForgetPerson, "2021-06-01T10:00", my_number=new_number, reason="request")
    assert result.erasure is not None and sorted(result.erasure.holder_refs) == sorted([old_ref, new_ref])
    for ref in (old_ref, new_ref):
        row = keys(app).row(ref)
        assert row is not None and row.wrapped_key is None and row.forgotten_at is not None
    assert app.load_card(card_id_for(story.application_id)).date_of_birth is ERASED  # type: ignore[union-attr]
    with pytest.raises(RuleViolation, match="forgotten"):
        Story(app, app.clock, my_number_=new_number).apply(  # type: ignore[arg-type]
            "2021-06-03T10:00", application_id="8" * 23, photo_taken_on="2021-05-01"
        )


def test_issue13_two_processes_making_one_persons_key_at_once_converge_on_one(
    settings: Settings, app: CardLifecycle
) -> None:
    others = [open_write_side(settings) for _ in range(2)]
    try:
        found = {personal(a).key_for_writing("c" * 64) for a in (app, *others)}
        assert len(found) == 1 and None not in found
        assert [r.holder_ref for r in keys(app).rows()].count("c" * 64) == 1
    finally:
        for other in others:
            other.close()


def test_issue13_forget_over_http_refuses_with_422_then_erases_for_an_admin(tmp_path: Path) -> None:
    settings = service_settings(tmp_path, policies=Policies(forget_after_days=0))
    number = new_my_number()
    supervisor_token, admin_token = (make_token(settings, role) for role in (Role.SUPERVISOR, Role.ADMIN))
    with in_process(settings) as client:
        supervisor, admin = Api(client, supervisor_token), Api(client, admin_token)
        card = supervisor.issue_card(my_number=number)
        body = {"my_number": number, "reason": "deceased"}
        refused = supervisor.post("/persons/forget", body, key=str(uuid4()))
        assert refused.status_code == 422 and refused.json()["rule"] == ERASURE_RULE, refused.text
        assert supervisor.command("return", card, reason="death").status_code == 201
        done = admin.post("/persons/forget", body, key=str(uuid4()))
        assert done.status_code == 201, done.text
        assert done.json()["erasure"]["keys_destroyed"] == 1
        shown = supervisor.get(f"/cards/{card}")
        assert shown.status_code == 200 and shown.json()["holder"] == {"erased": True}, shown.text


def test_issue13_a_backdated_end_does_not_shorten_the_retention_period(app: CardLifecycle) -> None:
    """The period runs from when the end was known: a return recorded today, effective months
    ago, leaves the full period from today (review finding)."""
    story = person(app, 70_107, DOB, "passport")
    story.run(m.ReturnCard, "2021-06-01T10:00", reason="voluntary", effective_at="2021-01-15T10:00")
    with pytest.raises(RuleViolation, match="retention period") as refused:
        story.run(m.ForgetPerson, "2021-06-01T10:05", my_number=story.my_number, reason="request")
    assert refused.value.rule == ERASURE_RULE
    story.run(m.ForgetPerson, "2021-08-31T10:00", my_number=story.my_number, reason="request")


def test_issue13_a_forget_interrupted_before_its_keys_were_destroyed_is_completed_by_another(
    app: CardLifecycle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash between saving ``PersonForgotten`` and destroying the keys: forget run again, with
    a new command id, records nothing new and destroys the keys instead of refusing (review
    finding); readers that hear the event treat the person as erased from then on."""
    story = person(app, 70_108, DOB, "passport")
    story.run(m.ReturnCard, "2021-02-10T10:00", reason="voluntary")
    ref = holder_reference(story.my_number, app.holder_key)

    def crash(*_: object, **__: object) -> None:
        raise KeyboardInterrupt("killed between the save and the destruction")

    with monkeypatch.context() as patched:
        patched.setattr(type(personal(app)), "forget", crash)
        with pytest.raises(KeyboardInterrupt):
            story.run(m.ForgetPerson, "2021-06-01T10:00", my_number=story.my_number, reason="request")
    row = keys(app).row(ref)
    assert row is not None and row.wrapped_key is not None, "the crash left the key"
    done = story.run(m.ForgetPerson, "2021-06-01T10:01", my_number=story.my_number, reason="request")
    assert not done.duplicate and not done.events, "nothing new is recorded: the erasure was"
    assert done.erasure is not None and done.erasure.keys_destroyed == 1
    row = keys(app).row(ref)
    assert row is not None and row.wrapped_key is None
    assert story.card.date_of_birth is ERASED
