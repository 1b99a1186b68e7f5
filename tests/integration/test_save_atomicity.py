"""One command, one transaction, on every backend: a save that fails after its rows were written
(before commit) leaves the card and its certificates exactly as they were, and a failed save that
is retried applies each certificate consequence once (R25–R27 consequences of a suspension)."""

from __future__ import annotations

from typing import Any

import pytest
from eventsourcing.persistence import OperationalError
from psycopg.sql import SQL, Identifier

from commands import certificate_models as cm
from commands import models as m
from commands.application import CardLifecycle
from lifecycle.certificate import (
    CertificatePutOnHold,
    CertificateRevoked,
)
from tests.helpers.backend import POSTGRES
from tests.helpers.support import Clock, Story, at, certificates_of


def state_of(aggregate: Any) -> dict[str, Any]:
    return {k: v for k, v in aggregate.__dict__.items() if k != "_pending_events"}


AFTER_ROWS_WRITTEN = "_insert_stored_events" if POSTGRES else "_insert_events"
"""The recorder's step after which a save's event rows are written in its still open transaction:
on SQLite ``_insert_events`` (the events, then the command log row); on PostgreSQL
``_insert_stored_events`` (the library calls ``_insert_events``, which writes the command log row,
before the events)."""


def newest_row_in_transaction(app: CardLifecycle, cursor: Any, ids: Any) -> int:
    """The highest notification id the save's own (uncommitted) transaction sees."""
    if not POSTGRES:
        assert ids
        return int(min(ids))
    recorder: Any = app.recorder
    table = SQL("{0}.{1}").format(
        Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name)
    )
    cursor.execute(SQL("SELECT max(notification_id) AS top FROM {0}").format(table))
    return int(cursor.fetchone()["top"])


def snapshot(app: CardLifecycle, story: Story) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    card = story.card
    return state_of(card), {c.serial: state_of(c) for c in certificates_of(app, card)}


@pytest.mark.parametrize("failure", [RuntimeError, OSError])
def test_a_save_failing_after_the_rows_were_written_leaves_card_and_certificates_unchanged(
    app: CardLifecycle, story: Story, clock: Clock, monkeypatch: pytest.MonkeyPatch, failure: type[Exception]
) -> None:
    """Suspension = card event + SIG revoked + AUTH on hold (+ the command's idempotency entry)
    in ONE save: the recorder writes the rows, then fails before commit; nothing may remain."""
    story.to_active()
    story.run(cm.RenewCertificates, "2024-11-01T10:00", kinds=["SIG", "AUTH"])
    before = snapshot(app, story)
    position = app.recorder.max_notification_id()
    real_insert = getattr(app.recorder, AFTER_ROWS_WRITTEN)
    calls: list[list[Any]] = []

    def insert_then_fail(cursor: Any, stored_events: Any, **kwargs: Any) -> Any:
        ids = real_insert(cursor, stored_events, **kwargs)
        calls.append(list(stored_events))
        # The rows are in the (open) transaction.
        assert newest_row_in_transaction(app, cursor, ids) > (position or 0)
        if any(".Certificate." in s.topic for s in stored_events):
            raise failure("disk went away after the rows were written")
        return ids

    monkeypatch.setattr(app.recorder, AFTER_ROWS_WRITTEN, insert_then_fail)
    clock.set("2025-01-05T03:15")
    command = m.SuspendCard(card=story.application_id, actor="clerk-1")
    with pytest.raises(failure):
        app.execute(command)
    monkeypatch.undo()

    # One insert carried the card's event and both certificates' (one transaction).
    assert len(calls) == 1
    topics = sorted(s.topic.rsplit(".", 1)[-1] for s in calls[0])
    assert {"Suspended", "Revoked", "PutOnHold"} <= set(topics), topics
    assert len({s.originator_id for s in calls[0]}) >= 3  # the card, its SIG and its AUTH
    assert app.recorder.max_notification_id() == position
    assert snapshot(app, story) == before
    sig, auth = (app.load_certificate(story.card.certificates[k]) for k in ("SIG", "AUTH"))
    assert sig is not None and auth is not None
    assert (sig.status, auth.status, story.card.status) == ("active", "active", "active")
    assert sig.is_valid(at("2025-01-05T04:00")) and auth.is_valid(at("2025-01-05T04:00"))

    # The same command again is not a duplicate of anything: the failed attempt left no trace.
    clock.set("2025-01-05T03:20")
    result = app.execute(command)

    assert result.duplicate is False
    assert sorted(e.type for e in result.events) == [
        "CertificatePutOnHold",
        "CertificateRevoked",
        "Suspended",
    ]
    assert story.card.status == "suspended"
    sig, auth = (app.load_certificate(story.card.certificates[k]) for k in ("SIG", "AUTH"))
    assert sig is not None and auth is not None
    assert (sig.status, auth.status) == ("revoked", "on_hold")
    assert sig.revoked_at == at("2025-01-05T03:20")


def test_a_failed_save_that_is_retried_applies_the_certificate_consequences_once(
    app: CardLifecycle, story: Story, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An OperationalError after the rows were written is retried (CardLifecycle.execute): the
    retry starts again from the stored card and certificates, so each consequence is saved once."""
    story.to_active()
    story.run(cm.RenewCertificates, "2024-11-01T10:00", kinds=["SIG", "AUTH"])
    story.run(cm.IssueSmartphoneCertificates, "2025-01-05T10:00", device="phone-A", sig_pin_confirmed=True)
    position = app.recorder.max_notification_id() or 0
    real_insert = getattr(app.recorder, AFTER_ROWS_WRITTEN)
    calls: list[int] = []

    def fail_once(cursor: Any, stored_events: Any, **kwargs: Any) -> Any:
        ids = real_insert(cursor, stored_events, **kwargs)
        calls.append(len(stored_events))
        if len(calls) == 1:
            assert newest_row_in_transaction(app, cursor, ids) > position  # written, not committed
            raise OperationalError("database is locked")
        return ids

    monkeypatch.setattr(app.recorder, AFTER_ROWS_WRITTEN, fail_once)
    result = story.run(m.SuspendCard, "2025-02-01T03:15")
    monkeypatch.undo()

    assert len(calls) == 2 and calls[0] == calls[1]
    # The first attempt failed and wrote nothing: the command was executed once, by the retry, and
    # is not answered as a duplicate of itself.
    assert result.duplicate is False
    # Suspended, SIG + SP-SIG + SP-AUTH revoked, AUTH on hold: stored once, by the retry.
    # Counted, not subtracted: PostgreSQL does not give back the ids the failed attempt drew.
    stored = app.recorder.select_notifications(start=position + 1, limit=1000)
    assert len(stored) == calls[1]
    types = sorted(e.type for e in result.events)
    assert types == ["CertificatePutOnHold", *["CertificateRevoked"] * 3, "Suspended"]
    for cert in certificates_of(app, story.card):
        events = list(app.events.get(cert.id))
        assert sum(isinstance(e, (CertificateRevoked, CertificatePutOnHold)) for e in events) <= 1
