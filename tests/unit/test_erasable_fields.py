"""Issue 13 (erasure that keeps the proof): the envelope of a personal field, pure — an in-memory
person-key table, the real key ring cipher and transcoder, no database.

A personal field is sealed under its person's data key, bound to its event, version and field;
once the key is destroyed it reads as ``ERASED`` (never an error), the other fields unchanged; a
field stored plainly before issue 13 stays readable. The rules of ``forget`` (every card ended,
no live certificate, the retention period over, once only) are checked on the person."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import Snapshot
from eventsourcing.utils import Environment

from lifecycle.card import Card
from lifecycle.card import events as ev
from lifecycle.erasure import ERASED, Erased, personal_fields, shown
from lifecycle.errors import RuleViolation
from lifecycle.holder.rules import ERASURE_RULE, ErasureCard, check_forget, check_not_forgotten
from projections.event_json import event_to_dict, jsonable
from storage.bound_mapper import BoundMapper
from storage.crypto import KeyRingCipher, new_key
from storage.erasable import ENVELOPE, PersonalFieldCipher, PersonForgottenError, is_envelope
from storage.integrity import StoreIntegrityError, TamperingDetected
from storage.person_keys import PersonKeyRow, PersonKeys
from storage.serialization import log_transcoder
from tests.helpers.support import at

REF = "a" * 64
OTHER = "b" * 64


class MemoryPersonKeys(PersonKeys):
    """The person-key table in a dict, with the SQL's insert-or-ignore semantics."""

    def __init__(self) -> None:
        self.table: dict[str, PersonKeyRow] = {}
        self.cards: dict[UUID, str] = {}
        self.lock = threading.Lock()
        self.scrubs = 0

    def scrub(self) -> bool:
        self.scrubs += 1
        return True

    def row(self, holder_ref: str) -> PersonKeyRow | None:
        return self.table.get(holder_ref)

    def rows(self) -> list[PersonKeyRow]:
        return sorted(self.table.values(), key=lambda r: r.holder_ref)

    def insert_key(self, holder_ref: str, wrapped: bytes, ring_key_id: int, at: str) -> PersonKeyRow:
        with self.lock:
            self.table.setdefault(holder_ref, PersonKeyRow(holder_ref, wrapped, ring_key_id, at))
        return self.table[holder_ref]

    def file_cards(self, cards: Mapping[UUID, str]) -> None:
        for card_id, ref in cards.items():
            self.cards.setdefault(card_id, ref)

    def person_of_card(self, card_id: UUID) -> str | None:
        return self.cards.get(card_id)

    def destroy(self, holder_refs: Any, at: str, by: str, reason: str) -> list[str]:
        destroyed = []
        for ref in holder_refs:
            row = self.table.get(ref)
            if row is None or row.wrapped_key is not None:
                if row is not None:
                    destroyed.append(ref)
                self.table[ref] = PersonKeyRow(ref, None, None, at, at, by, reason)
        return destroyed


def ring() -> KeyRingCipher:
    return KeyRingCipher(Environment(env={"CIPHER_KEY": new_key([]).text()}))


def cipher(
    keys: MemoryPersonKeys | None = None, key_ring: KeyRingCipher | None = None
) -> PersonalFieldCipher:
    return PersonalFieldCipher(keys or MemoryPersonKeys(), key_ring or ring(), log_transcoder())


def mapper(personal: PersonalFieldCipher) -> BoundMapper:
    bound = BoundMapper(log_transcoder(), None, personal._ring)  # the same ring
    bound.attach_personal(personal)
    return bound


def applied(ref: str = REF, **overrides: Any) -> ev.Applied:
    fields: dict[str, Any] = {
        "originator_id": uuid4(),
        "originator_version": 1,
        "timestamp": at("2025-04-01T09:00"),
        "originator_topic": "mynacard.Card",
        "effective_at": at("2025-04-01T09:00"),
        "actor": "clerk-1",
        "command_id": uuid4(),
        "application_id": "1" * 23,
        "kind": "new",
        "channel": "counter",
        "applied_on": date(2025, 4, 1),
        "holder_ref": ref,
        "my_number_masked": "XXXX XXXX 9018",
        "date_of_birth": date(1984, 7, 23),
        "adult_ward": False,
        "residence_status": None,
        "stay_until": None,
        "wants_signature_certificate": True,
        "wants_user_certificate": True,
        "face_recognition_card": False,
        "previous_card_id": None,
        "renews_card_expiring_on": None,
        "reissue_reason": None,
        "photo_taken_on": date(2025, 3, 1),
        "identity_documents": ["physical_disability_handbook"],
    }
    fields.update(overrides)
    event = object.__new__(ev.Applied)
    object.__setattr__(event, "__dict__", fields)
    return event


def sealed_json(bound: BoundMapper, event: Any) -> dict[str, Any]:
    """The payload as the store's key holder reads it: decrypted with the ring, decompressed."""
    stored = bound.to_stored_event(event)
    sealed = bound.to_sealed_event(stored)
    return {k: v for k, v in vars(sealed).items() if k in personal_fields(type(event))}


# ------------------------------------------------------------------ the envelope


def test_issue13_personal_fields_are_sealed_under_the_persons_key_and_read_back() -> None:
    personal = cipher()
    bound = mapper(personal)
    event = applied()
    stored = bound.to_stored_event(event)
    inside = sealed_json(bound, event)
    assert set(inside) == {"my_number_masked", "date_of_birth", "identity_documents"}
    assert all(is_envelope(v) and v[ENVELOPE]["person"] == REF for v in inside.values())
    plain = json.dumps(inside)
    assert "1984-07-23" not in plain and "9018" not in plain and "disability" not in plain
    read = bound.to_domain_event(stored)
    assert read.date_of_birth == date(1984, 7, 23)  # type: ignore[attr-defined]
    assert read.my_number_masked == "XXXX XXXX 9018"  # type: ignore[attr-defined]
    assert read.identity_documents == ["physical_disability_handbook"]  # type: ignore[attr-defined]
    assert read.applied_on == date(2025, 4, 1)  # type: ignore[attr-defined]  # a lifecycle fact: as it was


def test_issue13_an_envelope_moved_to_another_event_version_or_field_is_tampering() -> None:
    personal = cipher()
    bound = mapper(personal)
    event = applied()
    sealed = bound.to_sealed_event(bound.to_stored_event(event))
    dob = vars(sealed)["date_of_birth"]
    # Another field of the same event.
    moved = dict(vars(sealed), my_number_masked=dob)
    with pytest.raises(TamperingDetected, match="my_number_masked"):
        personal.open(_event_with(moved))
    # The same field of another version of the card.
    with pytest.raises(TamperingDetected):
        personal.open(_event_with(dict(vars(sealed), originator_version=2)))
    # A flipped byte of the ciphertext.
    ct = bytearray(base64.b64decode(dob[ENVELOPE]["ct"]))
    ct[-1] ^= 1
    altered = {ENVELOPE: {**dob[ENVELOPE], "ct": base64.b64encode(bytes(ct)).decode()}}
    with pytest.raises(TamperingDetected):
        personal.open(_event_with(dict(vars(sealed), date_of_birth=altered)))


def _event_with(fields: dict[str, Any]) -> ev.Applied:
    event = object.__new__(ev.Applied)
    object.__setattr__(event, "__dict__", dict(fields))
    return event


def test_issue13_after_the_key_is_destroyed_personal_fields_read_erased_and_the_rest_stays() -> None:
    keys = MemoryPersonKeys()
    personal = cipher(keys)
    bound = mapper(personal)
    mine, theirs = applied(), applied(OTHER)
    stored_mine, stored_theirs = bound.to_stored_event(mine), bound.to_stored_event(theirs)
    destroyed, scrubbed = personal.forget([REF], "2026-01-01T00:00:00+00:00", "supervisor-1", "deceased")
    assert destroyed == [REF] and scrubbed and keys.scrubs == 1
    assert keys.table[REF].wrapped_key is None and keys.table[REF].forgotten_by == "supervisor-1"
    read = bound.to_domain_event(stored_mine)
    assert read.date_of_birth is ERASED  # type: ignore[attr-defined]
    assert read.my_number_masked is ERASED  # type: ignore[attr-defined]
    assert read.identity_documents is ERASED  # type: ignore[attr-defined]
    assert read.applied_on == date(2025, 4, 1)  # type: ignore[attr-defined]
    assert read.holder_ref == REF  # type: ignore[attr-defined]
    # Another person is untouched.
    assert bound.to_domain_event(stored_theirs).date_of_birth == date(1984, 7, 23)  # type: ignore[attr-defined]
    # The JSON shape says so, for every reader.
    data = event_to_dict(read)["data"]
    assert data["date_of_birth"] == {"erased": True} and data["applied_on"] == "2025-04-01"
    # Nothing personal is written for the person again.
    with pytest.raises(PersonForgottenError):
        bound.to_stored_event(applied())


def test_issue13_a_field_stored_plainly_before_erasure_existed_stays_readable() -> None:
    plain_mapper = BoundMapper(log_transcoder(), None, ring())
    stored = plain_mapper.to_stored_event(applied())  # no person keys: stored as before issue 13
    personal = cipher(key_ring=plain_mapper.ring)
    bound = mapper(personal)
    assert bound.to_domain_event(stored).date_of_birth == date(1984, 7, 23)  # type: ignore[attr-defined]
    personal.forget([REF], "2026-01-01T00:00:00+00:00", "admin-1", "request")
    # Not erasable: honest about it, never garbage.
    assert bound.to_domain_event(stored).date_of_birth == date(1984, 7, 23)  # type: ignore[attr-defined]


def test_issue13_a_card_event_without_holder_ref_finds_its_person_through_the_card() -> None:
    keys = MemoryPersonKeys()
    personal = cipher(keys)
    bound = mapper(personal)
    card_id = uuid4()
    change = object.__new__(ev.DateOfBirthChanged)
    object.__setattr__(
        change,
        "__dict__",
        {
            "originator_id": card_id,
            "originator_version": 5,
            "timestamp": at("2025-05-01T09:00"),
            "effective_at": at("2025-05-01T09:00"),
            "actor": "clerk-1",
            "command_id": uuid4(),
            "fact": "date_of_birth",
            "filed_by": "holder",
            "new_date_of_birth": date(1984, 7, 24),
        },
    )
    with pytest.raises(StoreIntegrityError, match="filed under no person"):
        bound.to_stored_event(change)
    personal.file_cards({card_id: REF})
    stored = bound.to_stored_event(change)
    assert vars(bound.to_sealed_event(stored))["new_date_of_birth"][ENVELOPE]["person"] == REF
    personal.forget([REF], "2026-01-01T00:00:00+00:00", "admin-1", "request")
    assert bound.to_domain_event(stored).new_date_of_birth is ERASED  # type: ignore[attr-defined]


def test_issue13_a_view_snapshot_keeps_personal_fields_erasable_and_erased_ones_erased() -> None:
    personal = cipher()
    bound = mapper(personal)
    card = applied().mutate(None)
    assert isinstance(card, Card)
    snapshot = Snapshot.take(card)
    stored = bound.to_stored_event(snapshot)
    state = vars(bound.to_sealed_event(stored))["state"]
    assert all(is_envelope(state[name]) for name in ("date_of_birth", "my_number_masked"))
    assert state["pending_inquiry"] is None  # nothing to seal
    assert bound.to_domain_event(stored).state["date_of_birth"] == date(1984, 7, 23)  # type: ignore[attr-defined]
    personal.forget([REF], "2026-01-01T00:00:00+00:00", "admin-1", "request")
    erased = bound.to_domain_event(stored).mutate(None)  # type: ignore[attr-defined]
    assert erased.date_of_birth is ERASED and erased.status == "applied"
    # A view written again after the erasure (a rebuild) keeps the marker, not a value.
    again = bound.to_stored_event(Snapshot.take(erased))
    assert bound.to_domain_event(again).state["my_number_masked"] is ERASED  # type: ignore[attr-defined]


def test_issue13_processes_creating_one_persons_key_at_once_use_one_key() -> None:
    keys = MemoryPersonKeys()
    key_ring = ring()
    found: list[bytes | None] = []
    racers = [cipher(keys, key_ring) for _ in range(8)]
    threads = [threading.Thread(target=lambda c=c: found.append(c.key_for_writing(REF))) for c in racers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(found) == 8 and len(set(found)) == 1 and found[0] is not None
    assert len(keys.table) == 1


def test_issue13_erased_is_one_value_shown_as_erased() -> None:
    assert Erased() is ERASED and str(ERASED) == "(erased)" and shown(ERASED) == "(erased)"
    assert jsonable([ERASED, date(2025, 1, 1)]) == [{"erased": True}, "2025-01-01"]
    assert log_transcoder().decode(log_transcoder().encode({"v": ERASED}))["v"] is ERASED


# ------------------------------------------------------------------ the rules of forget


ENDED = at("2025-01-10T09:00")


def card(status: str = "returned", ended_at: datetime | None = ENDED, live: int = 0) -> ErasureCard:
    return ErasureCard("1" * 23, status, ended_at, live)


def test_issue13_forget_is_refused_while_a_card_is_in_use_or_before_handover() -> None:
    for status in ("active", "suspended", "applied", "produced"):
        with pytest.raises(RuleViolation) as refused:
            check_forget([card(), card(status, None)], at("2026-01-01T09:00"), 90, already_forgotten=False)
        assert refused.value.rule == ERASURE_RULE and status in refused.value.message


def test_issue13_forget_is_refused_while_a_certificate_is_live() -> None:
    with pytest.raises(RuleViolation, match="live certificate"):
        check_forget([card(live=1)], at("2026-01-01T09:00"), 90, already_forgotten=False)


def test_issue13_forget_waits_for_the_retention_period_after_the_last_end() -> None:
    later = card(ended_at=ENDED + timedelta(days=30))
    with pytest.raises(RuleViolation, match="retention period of 90 days"):
        check_forget([card(), later], ENDED + timedelta(days=119), 90, already_forgotten=False)
    assert (
        check_forget([card(), later], ENDED + timedelta(days=120), 90, already_forgotten=False)
        == later.ended_at
    )
    assert check_forget([card()], ENDED, 0, already_forgotten=False) == ENDED


def test_issue13_a_person_is_forgotten_once_and_then_takes_no_new_application() -> None:
    with pytest.raises(RuleViolation, match="already forgotten"):
        check_forget([card()], at("2026-01-01T09:00"), 0, already_forgotten=True)
    with pytest.raises(RuleViolation, match="no card"):
        check_forget([], at("2026-01-01T09:00"), 0, already_forgotten=False)
    with pytest.raises(RuleViolation, match="forgotten"):
        check_not_forgotten(True)
    check_not_forgotten(False)


def test_issue13_the_declared_personal_fields_are_fields_of_their_classes() -> None:
    declared = {cls: personal_fields(cls) for cls in (*ev.ALL_CARD_EVENTS, Card)}
    assert declared[ev.Applied] == ("my_number_masked", "date_of_birth", "identity_documents")
    assert set(declared[ev.Issued]) == {"identity_documents", "proxy_identity_documents", "proxy_reason"}
    card_state = vars(applied().mutate(None))
    for cls, names in declared.items():
        fields = card_state if cls is Card else set(getattr(cls, "__dataclass_fields__", {}))
        assert all(name in fields for name in names), (cls, names)
