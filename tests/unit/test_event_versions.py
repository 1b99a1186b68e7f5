"""Issue 13 (upcasting): every class whose state is stored has an explicit, checked version.

``lifecycle/event_versions.json`` locks each event topic and each aggregate (its read models'
snapshots) with its ``class_version`` and the fields of every version
(``projections.event_versions``). A change of fields without a bump and an upcaster for every
step, a bump not written into the lock, or a topic that disappears fails here, saying what to do.
The worked example: ``Issued`` (交付, R14–R17) version 2 always records the office (R59,
municipal); a version-1 state reads as ``(not recorded)``.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime
from typing import Any
from uuid import uuid4

from eventsourcing.persistence import Mapper, StoredEvent

from lifecycle.calendar import JST
from lifecycle.card import OFFICE_NOT_RECORDED
from lifecycle.card.events import CardEvent, Issued
from projections.event_versions import UPDATE, Problem, Shape, current_shapes, problems, read_lock, updated
from storage.serialization import log_transcoder


class ExampleBumped(CardEvent):
    """A test event at version 3 with an upcaster for 1→2 only."""

    TOPIC = "test.ExampleBumped"
    class_version = 3
    note: str

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["note"] = ""


class ExampleInherited(ExampleBumped):
    """Inherits version 3 without saying so."""

    TOPIC = "test.ExampleInherited"


def shape_of(topic: str) -> Shape:
    return next(s for s in current_shapes() if s.topic == topic)


def messages(found: list[Problem]) -> str:
    return "\n".join(p.message for p in found)


def test_every_stored_class_matches_its_locked_version_and_has_its_upcasters() -> None:
    """Issue 13: the classes of ``lifecycle`` and the committed lock agree (the message of a
    failure says exactly what to do; ``python -m projections.event_versions`` prints the same)."""
    found = problems(read_lock(), current_shapes())
    assert not found, "\n\n" + "\n\n".join(p.message for p in found)


def test_the_lock_lists_every_card_certificate_and_person_event_and_the_three_aggregates() -> None:
    """Issue 13: explicit versions for every recorded topic, and the aggregates whose snapshots
    the read models store (the library upcasts those by the aggregate's ``class_version``)."""
    lock = read_lock()
    from lifecycle.card.events import ALL_CARD_EVENTS
    from lifecycle.holder.events import ALL_HOLDER_EVENTS

    assert {c.TOPIC for c in (*ALL_CARD_EVENTS, *ALL_HOLDER_EVENTS)} <= set(lock["events"])
    assert "mynacard.Certificate.Revoked" in lock["events"]
    assert {"mynacard.Card", "mynacard.Certificate", "mynacard.Holder"} <= set(lock["aggregates"])
    issued = lock["events"]["mynacard.Card.Issued"]["versions"]
    assert (issued["1"]["fields"]["office"], issued["2"]["fields"]["office"]) == ("str | None = None", "str")


def test_a_field_change_without_a_bump_fails_and_says_to_bump_write_the_upcaster_and_update() -> None:
    """Issue 13: a field added to ``Issued`` (version 2) without a bump names the change, the
    next version, the upcaster to write and the command that updates the lock."""
    issued = shape_of("mynacard.Card.Issued")
    changed = dataclasses.replace(issued, fields={**issued.fields, "counter_number": "int"})
    found = problems(read_lock(), [changed])
    message = messages([p for p in found if p.topic == "mynacard.Card.Issued"])
    assert "added counter_number: int" in message
    assert "class_version = 3" in message and "upcast_v2_v3" in message and UPDATE in message
    assert all(p.kind == "fix" for p in found if p.topic == "mynacard.Card.Issued")


def test_a_bump_needs_an_upcaster_for_every_step_a_declared_version_and_the_lock_updated() -> None:
    """Issue 13: version 3 without ``upcast_v2_v3`` is refused; a subclass inheriting a version
    must declare it; a new or bumped class not in the lock asks for ``--update``."""
    bumped = Shape("events", ExampleBumped.TOPIC, ExampleBumped, 3, {"note": "str"})
    inherited = Shape("events", ExampleInherited.TOPIC, ExampleInherited, 3, {"note": "str"})
    lock: dict[str, Any] = {
        "events": {ExampleBumped.TOPIC: {"versions": {"1": {"fields": {}}, "2": {"fields": {"note": "str"}}}}}
    }
    found = problems(lock, [bumped, inherited])
    text = messages(found)
    assert "has no `upcast_v2_v3`" in text
    assert "has no `upcast_v1_v2`" not in text  # ExampleBumped has that step
    assert "declare `class_version = 3` on ExampleInherited itself" in text
    assert f"ends at 2: run `{UPDATE}`" in text
    assert f"{ExampleInherited.TOPIC} (" in text and "is not in the lock" in text


def test_update_adds_new_versions_and_topics_and_never_rewrites_a_locked_version() -> None:
    """Issue 13: ``--update`` appends; the fields of version 1 of a bumped class stay as locked."""
    lock = {"events": {ExampleBumped.TOPIC: {"class": "x", "versions": {"1": {"fields": {"old": "int"}}}}}}
    bumped = Shape("events", ExampleBumped.TOPIC, ExampleBumped, 3, {"note": "str"})
    new = updated(lock, [bumped])
    assert new["events"][ExampleBumped.TOPIC]["versions"] == {
        "1": {"fields": {"old": "int"}},
        "3": {"fields": {"note": "str"}},
    }
    assert lock["events"][ExampleBumped.TOPIC]["versions"] == {"1": {"fields": {"old": "int"}}}
    assert "not 1…3" in messages(problems(new, [bumped]))


def test_a_locked_topic_without_a_class_or_a_lowered_version_is_refused() -> None:
    """Issue 13: a stored topic never goes away, and a version never goes down."""
    issued = shape_of("mynacard.Card.Issued")
    text = messages(problems(read_lock(), [dataclasses.replace(issued, version=1)]))
    assert "went down from 2 (locked) to 1" in text
    assert "mynacard.Card.Lost is locked but no class of lifecycle has it" in text


def version_1_payload(office: Any) -> bytes:
    """The stored JSON of a version-1 ``Issued`` (no ``class_version``; ``office`` absent when
    ``office`` is ``...``), as the code before issue 13 wrote it."""
    state: dict[str, Any] = {
        "timestamp": {"_type_": "datetime_iso", "_data_": "2024-05-20T01:00:00+00:00"},
        "effective_at": {"_type_": "datetime_iso", "_data_": "2024-05-20T10:00:00+09:00"},
        "actor": "fixture",
        "command_id": {"_type_": "uuid_hex", "_data_": uuid4().hex},
        "handed_over_on": {"_type_": "date_iso", "_data_": "2024-05-20"},
        "method": "counter",
        "recipient": "holder",
        "proxy_reason": None,
        "proxy_role": None,
        "identity_documents": ["driving_licence"],
        "proxy_identity_documents": [],
        "notification_card": "collected",
        "juki_card": "not_held",
        "old_card_brought": None,
        "certificates": ["AUTH", "SIG"],
    }
    if office is not ...:
        state["office"] = office
    return json.dumps(state).encode()


def test_upcast_v1_v2_gives_a_raw_version_1_handover_state_the_default_office() -> None:
    """Issue 13, R14/R59: ``Issued.upcast_v1_v2`` on raw dicts: absent or null → ``(not recorded)``;
    an office given since 2026-12-01 is kept."""
    for before, after in ((None, OFFICE_NOT_RECORDED), ("kita-ward", "kita-ward")):
        state: dict[str, Any] = {"method": "counter", "office": before}
        Issued.upcast_v1_v2(state)
        assert state == {"method": "counter", "office": after}
    absent: dict[str, Any] = {"method": "counter"}
    Issued.upcast_v1_v2(absent)
    assert absent["office"] == OFFICE_NOT_RECORDED


def test_a_stored_version_1_handover_reads_back_as_version_2_through_the_mapper() -> None:
    """Issue 13, R14/R59: the library's mapper (which the store's bound mapper ends in) upcasts a
    version-1 payload by ``class_version``; what it writes now says ``class_version: 2``."""
    mapper: Mapper[Any] = Mapper(log_transcoder())
    card_id = uuid4()
    for office, expected in ((..., OFFICE_NOT_RECORDED), (None, OFFICE_NOT_RECORDED), ("chuo", "chuo")):
        stored = StoredEvent(card_id, 5, Issued.TOPIC, version_1_payload(office))
        event = mapper.to_domain_event(stored)
        assert isinstance(event, Issued)
        assert (event.office, event.handed_over_on, event.method) == (expected, date(2024, 5, 20), "counter")
        assert event.effective_at == datetime(2024, 5, 20, 10, tzinfo=JST)
        assert set(vars(event)) == {f.name for f in dataclasses.fields(Issued)}
        rewritten = json.loads(mapper.to_stored_event(event).state)
        assert (rewritten["class_version"], rewritten["office"]) == (2, expected)
        assert mapper.to_domain_event(mapper.to_stored_event(event)) == event
