"""The read side (issue: projections and read models): every read model equals the fold of the
log, whatever commands ran; a batch is one transaction (rows + tracking position), so a crash
mid-batch loses nothing and repeats nothing; a rebuild from position 0 gives the same rows and
the same CRL; lag is reported; the revocation list, the person index, the expiring list (R44)
and the counts answer what the aggregates say. Plus a CLI smoke test of the read commands.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from commands import certificate_models as cm
from commands import models as m
from commands.application import CardLifecycle
from commands.errors import InputError
from lifecycle.calendar import jst_date, renewal_window_opens
from lifecycle.certificate import (
    Certificate,
    CertificateIssued,
    CertificatePutOnHold,
    CertificateReleased,
    CertificateRevoked,
)
from lifecycle.errors import RuleViolation
from lifecycle.identifiers import holder_reference
from mynacard.bootstrap import open_read_side, open_write_side, upstream_of
from projections import runner
from projections.certificates import certificate_status
from projections.event_json import jsonable
from projections.read_side import ReadSide
from projections.status import card_status
from projections.verify import verify
from storage.records import CardRow, CertificateRow, RevocationEntry
from tests.helpers import backend
from tests.helpers.backend import event_store_env
from tests.helpers.backend import settings as settings_for
from tests.helpers.support import (
    KEY,
    PIN_VALUES,
    Clock,
    Story,
    all_to_active,
    application_id,
    at,
    certificates_of,
    d,
    my_number,
)

# ----------------------------------------------------------------------------- helpers


def open_world(directory: Path, clock: Clock) -> tuple[CardLifecycle, ReadSide]:
    """The write side on its own store and the read side's views beside it."""
    app = CardLifecycle(env=event_store_env(directory), holder_key=KEY, clock=clock)
    return app, open_read_side(settings_for(directory), upstream_of(app))


@pytest.fixture
def read(app: CardLifecycle, tmp_path: Path) -> ReadSide:
    return open_read_side(settings_for(tmp_path), upstream_of(app))


def head(app: CardLifecycle) -> int:
    return app.recorder.max_notification_id() or 0


def card_rows(read: ReadSide) -> dict[UUID, CardRow]:
    view = read.lifecycle.view
    return view.card_rows(view.all_card_ids())


def certificate_rows(read: ReadSide) -> dict[UUID, CertificateRow]:
    view = read.lifecycle.view
    return view.certificate_rows(view.all_certificate_ids())


def state(aggregate: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def rows_of(read: ReadSide) -> dict[UUID, tuple[Any, dict[str, Any]]]:
    """Every row of the lifecycle view: its columns, and its snapshot decoded (the stored bytes
    carry the snapshot's own wall-clock timestamp, and a cipher's nonce, so they differ from one
    projection run to the next while the state they hold must not)."""
    out: dict[UUID, tuple[Any, dict[str, Any]]] = {}
    for card_id, row in card_rows(read).items():
        out[card_id] = (replace(row, state=b""), state(read.lifecycle.card(row)))
    for cert_id, cert_row in certificate_rows(read).items():
        out[cert_id] = (replace(cert_row, state=b""), state(read.lifecycle.certificate(cert_row)))
    return out


def crl(read: ReadSide) -> tuple[int, list[RevocationEntry]]:
    return read.revocation_list(include_removed=True)


def assert_crl_numbering(read: ReadSide) -> None:
    """List numbers: every change took the next number, none skipped, none reused; an entry is
    removed only after it was added; entries are listed in the order they were added."""
    number, entries = crl(read)
    added = [e.added_in for e in entries]
    assert added == sorted(added)
    assert len(set(added)) == len(added), f"a list number was used twice: {added}"
    used = set(added) | {e.removed_in for e in entries if e.removed_in is not None}
    assert used == set(range(1, number + 1)), f"list numbers skipped: {sorted(used)} of 1..{number}"
    for e in entries:
        assert e.removed_in is None or e.removed_in >= e.added_in


def expected_crl(app: CardLifecycle) -> tuple[int, list[tuple[Any, ...]]]:
    """The revocation list as the log says it should be, computed independently of the
    projection: each hold or revocation takes the next list number and replaces the
    certificate's open entry; each release takes the next number and closes it; nothing is
    removed at expiry. (serial, reason name, code, effective time, added in, removed in)."""
    number = 0
    entries: list[list[Any]] = []
    serials: dict[UUID, str] = {}
    for n in app.recorder.select_notifications(1, 1_000_000):
        e = app.mapper.to_domain_event(n)
        if isinstance(e, CertificateIssued):
            serials[e.originator_id] = e.serial
        elif isinstance(e, CertificatePutOnHold | CertificateRevoked | CertificateReleased):
            number += 1
            serial = serials[e.originator_id]
            for entry in entries:
                if entry[0] == serial and entry[5] is None:
                    entry[5] = number
            if not isinstance(e, CertificateReleased):
                entries.append([serial, e.reason_name, e.reason_code, jsonable(e.effective_at), number, None])
    return number, [tuple(x) for x in entries]


def listed_crl(read: ReadSide) -> tuple[int, list[tuple[Any, ...]]]:
    number, entries = crl(read)
    return number, [
        (e.serial, e.reason_name, e.reason_code, e.revoked_at, e.added_in, e.removed_in) for e in entries
    ]


def assert_read_side_equals_aggregates(
    app: CardLifecycle, read: ReadSide, card_refs: list[str], now: datetime
) -> None:
    today = jst_date(now)
    for ref in card_refs:
        card = app.get_card(ref)
        report = read.card_report(card.id, today, now)
        assert report is not None, ref
        assert report.card == card_status(card, today, app.policies)
        expected = {c.serial: certificate_status(c, now, card) for c in certificates_of(app, card)}
        assert {c.serial: c for c in report.certificates} == expected
        for serial, status in expected.items():
            assert read.certificate(serial, now) == status


# ----------------------------------------------------------------------------- the property


HOLDERS = [my_number(7_100_000 + i) for i in range(3)]
NEW_NUMBERS = [my_number(7_200_000 + i) for i in range(40)]
# Everyday commands are more likely than the ones that end a card.
ACTIONS = (
    *("suspend", "suspend_lift", "lift", "address", "move_out", "move_in") * 2,
    *("revoke_sig", "revoke_auth", "issue", "renew", "phone", "phone_suspend", "phone_lift") * 2,
    *("lapse", "hand_over", "catch_up") * 2,
    "abroad",
    "loss",
    "return",
    "death",
    "new_number",
    "reissue",
    "reissue",
)
ADVANCE = st.sampled_from(["minutes"] * 3 + ["days"] * 4 + ["months"] * 2 + ["years"]).flatmap(
    lambda scale: {
        "minutes": st.integers(1, 600).map(lambda n: timedelta(minutes=n)),
        "days": st.integers(1, 40).map(lambda n: timedelta(days=n, minutes=7)),
        "months": st.integers(40, 400).map(lambda n: timedelta(days=n, hours=1)),
        "years": st.integers(400, 1500).map(lambda n: timedelta(days=n, hours=2)),
    }[scale]
)
STEPS = st.lists(
    st.tuples(st.integers(0, 4), st.sampled_from(ACTIONS), ADVANCE, st.integers(1, 6)),
    min_size=12,
    max_size=40,
)


@dataclass
class Driver:
    app: CardLifecycle
    clock: Clock
    cards: list[str]
    numbers: dict[str, str]
    fresh_numbers: Iterator[str]
    used_numbers: list[str] = field(default_factory=list)

    @property
    def today(self) -> date:
        return jst_date(self.clock.now)

    def run(self, command: type[m.Command], **fields: Any) -> bool:
        fields.setdefault("actor", "clerk-prop")
        before = head(self.app)
        try:
            self.app.execute(command.model_validate(fields))
        except (RuleViolation, InputError):
            assert head(self.app) == before, f"a refused {command.COMMAND} wrote events"
            event(f"refused {command.COMMAND}")
            return False
        event(f"done {command.COMMAND}")
        return True

    def step(self, which: int, action: str) -> None:
        ref = self.cards[which % len(self.cards)]
        card = self.app.get_card(ref)
        pins = {k: v for k, v in PIN_VALUES.items() if k in {"sig_pin", "auth_pin"}}
        if action == "suspend":
            self.run(m.SuspendCard, card=ref)
        elif action == "lift":
            self.run(m.LiftSuspension, card=ref)
        elif action == "address":
            self.run(m.ChangeCardInformation, card=ref, facts=["address"], pin_confirmed=True)
        elif action == "move_out":
            self.run(m.RecordMoveOut, card=ref, planned_move_out_on=self.today + timedelta(days=2))
        elif action == "move_in":
            planned = card.awaiting_move_in_since or self.today
            self.run(m.FileMoveIn, card=ref, planned_move_out_on=planned, moved_in_on=self.today)
        elif action == "abroad":
            self.run(m.RecordMoveOut, card=ref, planned_move_out_on=self.today, overseas=True)
        elif action in {"revoke_sig", "revoke_auth"}:
            self.run(cm.RevokeCertificate, card=ref, kind=action.split("_")[1].upper())
        elif action == "suspend_lift":
            if self.run(m.SuspendCard, card=ref):
                self.clock.set(self.clock.now + timedelta(hours=20))
                self.run(m.LiftSuspension, card=ref)
        elif action == "issue":
            live = {c.kind for c in certificates_of(self.app, card) if c.live}
            kinds = [k for k in ("SIG", "AUTH") if k not in live] or ["AUTH"]
            self.run(cm.IssueCertificates, card=ref, kinds=kinds, juki_pin_confirmed=True, **pins)
        elif action == "renew":
            # Into the renewal window of the card's AUTH, if it is still ahead (R38).
            auth = next((c for c in certificates_of(self.app, card) if c.kind == "AUTH" and c.live), None)
            if auth is not None and auth.expires_on is not None:
                window = at(renewal_window_opens(auth.expires_on).isoformat()) + timedelta(hours=10)
                self.clock.set(max(self.clock.now, window))
            self.run(cm.RenewCertificates, card=ref, kinds=["SIG", "AUTH"])
        elif action == "phone":
            self.run(cm.IssueSmartphoneCertificates, card=ref, device="phone-1", sig_pin_confirmed=True)
        elif action == "phone_suspend":
            if card.smartphone_device is None:
                self.run(cm.IssueSmartphoneCertificates, card=ref, device="phone-2", sig_pin_confirmed=True)
            self.run(cm.SuspendSmartphone, card=ref)
        elif action == "phone_lift":
            self.run(cm.LiftSmartphoneSuspension, card=ref)
        elif action == "loss":
            # Reported now, happened a few hours ago: a back-dated effective time.
            lost_at = self.clock.now - timedelta(hours=5)
            self.run(m.ReportLoss, card=ref, lost_at_home=True, effective_at=lost_at.isoformat())
        elif action == "return":
            self.run(m.ReturnCard, card=ref, reason="voluntary")
        elif action == "death":
            self.run(m.InvalidateCard, card=ref, reason="death")
        elif action == "new_number":
            new = next(self.fresh_numbers)
            self.used_numbers.append(new)
            if self.run(m.InvalidateCard, card=ref, reason="my_number_changed", new_my_number=new):
                self.numbers[ref] = new
        elif action == "lapse":
            self.run(m.RecordLapses, card=ref)
        elif action == "hand_over":
            self.hand_over(ref)
        elif action == "reissue":
            self.reissue(ref)

    def hand_over(self, ref: str, **extra: Any) -> bool:
        card = self.app.get_card(ref)
        return self.run(
            m.HandOverCard,
            card=ref,
            identity_documents=["driving_licence"],
            notification_card="collected" if card.kind == "new" else "not_applicable",
            **PIN_VALUES,
            **extra,
        )

    def reissue(self, old_ref: str) -> None:
        """A new card for the holder of ``old_ref``: the old one is superseded at handover."""
        old = self.app.get_card(old_ref)
        if old.due_lapses(self.today, self.app.policies):
            self.run(m.RecordLapses, card=old_ref)
            old = self.app.get_card(old_ref)
        new_ref = application_id()
        live = old.status in {"active", "suspended"}
        if not self.run(
            m.SubmitApplication,
            application_id=new_ref,
            my_number=self.numbers[old_ref],
            date_of_birth=old.date_of_birth.isoformat(),
            photo_taken_on=self.today.isoformat(),
            previous_card=old_ref,
            kind="reissue",
            reissue_reason="card_defect" if live else "loss",
        ):
            return
        self.numbers[new_ref] = self.numbers[old_ref]
        self.cards.append(new_ref)
        self.clock.set(self.clock.now + timedelta(days=2))
        self.run(m.AcceptApplication, card=new_ref)
        self.clock.set(self.clock.now + timedelta(days=5))
        self.run(m.ProduceCard, card=new_ref)
        self.clock.set(self.clock.now + timedelta(days=7, hours=1))
        new = self.app.get_card(new_ref)
        extra: dict[str, Any] = {"fee_paid_yen": new.outstanding_fee_yen}
        if not new.application_fee_fault:
            extra["old_card_brought"] = True
        self.hand_over(new_ref, **extra)


def start_cards(app: CardLifecycle, clock: Clock) -> Driver:
    """Three holders: a Japanese adult (active), a foreign student whose stay caps the card
    (R22), and a card produced but not collected yet (R13)."""
    refs: list[str] = []
    numbers: dict[str, str] = {}
    plain = Story(app, clock, my_number_=HOLDERS[0])
    plain.to_active(
        "2020-01-06T09:00", "2020-01-10", "2020-01-15", "2020-02-20T10:00", photo_taken_on="2020-01-01"
    )
    foreign = Story(app, clock, my_number_=HOLDERS[1])
    foreign.to_active(
        "2020-02-21T09:00",
        "2020-02-25",
        "2020-03-02",
        "2020-03-10T10:00",
        photo_taken_on="2020-02-01",
        residence_status="student",
        stay_until="2022-03-31",
    )
    pending = Story(app, clock, my_number_=HOLDERS[2])
    pending.apply("2020-03-11T09:00", photo_taken_on="2020-03-01")
    pending.run(m.AcceptApplication, "2020-03-12T09:00")
    pending.run(m.ProduceCard, "2020-03-13T09:00")
    pending.run(m.SendPickupNotice, "2020-03-14T09:00")
    for s in (plain, foreign, pending):
        refs.append(s.application_id)
        numbers[s.application_id] = s.my_number
    return Driver(app, clock, refs, numbers, iter(NEW_NUMBERS))


@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(steps=STEPS)
def test_read_side_is_the_fold_of_any_command_sequence(steps: list[tuple[int, str, timedelta, int]]) -> None:
    with tempfile.TemporaryDirectory(prefix="proj-prop-") as tmp:
        clock = Clock("2020-01-06T09:00")
        app, read = open_world(Path(tmp), clock)
        try:
            driver = start_cards(app, clock)
            for which, action, advance, batch in steps:
                clock.set(clock.now + advance)
                if action == "catch_up":
                    # Projections advance in batches of any size, interleaved with writes.
                    for projection in read.projections:
                        runner.catch_up(read.upstream, projection, batch_size=batch, stop_after=3 * batch)
                else:
                    driver.step(which, action)
            read.catch_up()
            assert {p["lag"] for p in read.positions().values()} == {0}

            report = verify(read, app.events)
            assert report.differences == []
            assert report.cards == len(driver.cards)
            assert_read_side_equals_aggregates(app, read, driver.cards, clock.now)
            assert_crl_numbering(read)
            assert listed_crl(read) == expected_crl(app)

            # The person index: a card under the number it was applied with, and, once its
            # holder got a new My Number (R31), under the new one too (``Card.belongs_to``).
            cards = [app.get_card(ref) for ref in driver.cards]
            for number in {*HOLDERS, *driver.numbers.values(), *driver.used_numbers}:
                holder = holder_reference(number, KEY)
                found = read.cards_of_holder(holder, jst_date(clock.now))
                assert sorted(c.card_id for c in found) == sorted(
                    str(c.id) for c in cards if c.belongs_to(holder)
                )
                for status in found:
                    assert number not in json.dumps(status.as_dict())
            statuses = Counter(app.get_card(ref).status for ref in driver.cards)
            assert read.counts().cards_by_status == dict(statuses)
        finally:
            app.close()


# ----------------------------------------------------------------------------- exactly once


def three_cards(app: CardLifecycle, clock: Clock) -> list[Story]:
    """Three active cards; the second suspended then lifted (a hold and its release on the CRL),
    the third lost (revocations)."""
    stories = [Story(app, clock, my_number_=my_number(8_300_000 + i)) for i in range(3)]
    for s in stories:
        s.to_active()
    stories[1].run(m.SuspendCard, "2021-01-01T10:00")
    stories[1].run(m.LiftSuspension, "2021-01-02T10:00")
    stories[2].run(m.ReportLoss, "2021-02-02T10:00", lost_at_home=True, effective_at="2021-02-01T22:00")
    return stories


def fold_upto(app: CardLifecycle, position: int) -> dict[UUID, int]:
    """Card and certificate id → number of its events at positions 1..position (the person's
    events, R62–R65, have no rows in the lifecycle view)."""
    versions: Counter[UUID] = Counter()
    for n in app.recorder.select_notifications(start=1, limit=position):
        if n.topic.startswith(("mynacard.Card.", "mynacard.Certificate.")):
            versions[UUID(str(n.originator_id))] += 1
    return dict(versions)


class Crash(Exception):
    pass


def test_a_crash_mid_batch_keeps_the_previous_batch_and_loses_nothing(
    app: CardLifecycle, clock: Clock, read: ReadSide, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    three_cards(app, clock)
    total = head(app)
    batch = 7
    assert total > 3 * batch

    # (1) The view's commit fails on the second batch.
    view = read.lifecycle.view
    real_commit = view.commit
    calls = []

    def failing_commit(*args: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise Crash("power cut")
        real_commit(*args, **kwargs)

    monkeypatch.setattr(view, "commit", failing_commit)
    with pytest.raises(Crash):
        runner.catch_up(read.upstream, read.lifecycle, batch_size=batch)
    assert runner.position(read.upstream, read.lifecycle) == batch
    assert runner.lag(read.upstream, read.lifecycle) == total - batch
    expected = fold_upto(app, batch)
    rows = {
        **{k: v.version for k, v in card_rows(read).items()},
        **{k: v.version for k, v in certificate_rows(read).items()},
    }
    assert rows == expected, "the view holds exactly the first batch"

    # (2) A failure INSIDE the transaction, after the rows were written, before the tracking
    # row: the rows must be rolled back with it.
    monkeypatch.setattr(view, "commit", real_commit)
    real_insert = view._insert_tracking  # type: ignore[attr-defined]
    monkeypatch.setattr(view, "_insert_tracking", lambda *a, **k: (_ for _ in ()).throw(Crash("disk full")))
    with pytest.raises(Crash):
        runner.catch_up(read.upstream, read.lifecycle, batch_size=batch)
    assert runner.position(read.upstream, read.lifecycle) == batch
    rows = {
        **{k: v.version for k, v in card_rows(read).items()},
        **{k: v.version for k, v in certificate_rows(read).items()},
    }
    assert rows == expected, "no partial rows of the failed batch"
    monkeypatch.setattr(view, "_insert_tracking", real_insert)

    # (3) The revocation list crashes on its second batch too.
    crl_view = read.revocations.view
    real_crl_commit = crl_view.commit
    crl_calls = []

    def failing_crl_commit(*args: Any, **kwargs: Any) -> None:
        crl_calls.append(1)
        if len(crl_calls) == 2:
            raise Crash("power cut")
        real_crl_commit(*args, **kwargs)

    monkeypatch.setattr(crl_view, "commit", failing_crl_commit)
    with pytest.raises(Crash):
        runner.catch_up(read.upstream, read.revocations, batch_size=batch)
    assert runner.position(read.upstream, read.revocations) == batch
    monkeypatch.setattr(crl_view, "commit", real_crl_commit)

    # Restart: the rest is applied once, in order.
    applied = read.catch_up()
    assert applied == {"lifecycle_view": total - batch, "revocation_list": total - batch}
    assert {p["position"] for p in read.positions().values()} == {total}
    assert verify(read, app.events).differences == []
    assert_crl_numbering(read)
    rows_after = {k: (v.version, v.position) for k, v in card_rows(read).items()}
    versions = fold_upto(app, total)
    assert {k: v[0] for k, v in rows_after.items()} == {k: versions[k] for k in rows_after}

    # The same log projected in one go, uninterrupted, gives the same rows and the same CRL.
    reference = open_read_side(settings_for(tmp_path / "reference"), upstream_of(app))
    reference.catch_up()
    assert rows_of(read) == rows_of(reference)
    assert crl(read) == crl(reference)
    # Nothing more to do, nothing repeated.
    assert read.catch_up() == {"lifecycle_view": 0, "revocation_list": 0}
    assert crl(read) == crl(reference)


def test_rebuild_from_zero_gives_the_same_rows_and_crl_and_lag_is_reported(
    app: CardLifecycle, clock: Clock, read: ReadSide
) -> None:
    stories = three_cards(app, clock)
    total = head(app)
    assert read.positions() == {
        "lifecycle_view": {"position": 0, "log": total, "lag": total, "state": "ok"},
        "revocation_list": {"position": 0, "log": total, "lag": total, "state": "ok"},
    }
    runner.catch_up(read.upstream, read.lifecycle, batch_size=4, stop_after=10)
    assert read.positions()["lifecycle_view"] == {
        "position": 10,
        "log": total,
        "lag": total - 10,
        "state": "ok",
    }
    assert read.positions()["revocation_list"]["lag"] == total
    read.catch_up()
    assert {p["lag"] for p in read.positions().values()} == {0}

    rows, revocations = rows_of(read), crl(read)
    assert len(rows) == 9  # three cards, six certificates
    assert revocations[0] > 0 and revocations[1]
    assert read.rebuild() == {"lifecycle_view": total, "revocation_list": total}
    assert rows_of(read) == rows
    assert crl(read) == revocations
    # One projection alone, in small batches: the same again.
    read.revocations.view.clear(read.upstream.name)
    assert read.positions()["revocation_list"]["lag"] == total
    runner.rebuild(read.upstream, read.revocations, batch_size=3)
    assert crl(read) == revocations

    # A new command: the lag is exactly its events until caught up.
    result = stories[0].run(m.SuspendCard, "2022-01-01T10:00")
    assert {p["lag"] for p in read.positions().values()} == {len(result.events)}
    assert head(app) == total + len(result.events)
    read.catch_up()
    assert {p["lag"] for p in read.positions().values()} == {0}
    assert verify(read, app.events).ok


@pytest.mark.parametrize(
    ("name", "moment"),
    [
        ("lifecycle_view", "before_fold"),
        ("lifecycle_view", "before_commit"),
        ("revocation_list", "before_fold"),
        ("revocation_list", "before_commit"),
    ],
)
def test_two_runners_on_one_view_never_apply_an_event_twice(
    app: CardLifecycle, clock: Clock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, moment: str
) -> None:
    """Two processes follow the same view (``mynacard follow`` and a question that catches up
    first). One selects a batch; meanwhile (before it reads its rows, or before it commits) the
    other commits all of it but the last event; then the first goes on. Whatever the loser does
    (fail, or skip), every event has exactly one effect."""
    stories = three_cards(app, clock)
    first, second = (open_read_side(settings_for(tmp_path), upstream_of(app)) for _ in range(2))
    first.catch_up()
    stories[0].run(m.SuspendCard, "2022-01-01T10:00")
    stories[0].run(m.LiftSuspension, "2022-01-02T10:00")
    stories[1].run(m.ReportLoss, "2022-01-03T10:00", lost_at_home=True)
    loser, winner = second.projection(name), first.projection(name)
    behind = runner.lag(second.upstream, loser)
    assert behind > 3

    def the_other_runner_gets_there_first(real: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            runner.catch_up(first.upstream, winner, stop_after=behind - 1)
            return real(*args, **kwargs)

        return wrapper

    if moment == "before_fold":
        monkeypatch.setattr(loser, "process", the_other_runner_gets_there_first(loser.process))
    else:
        monkeypatch.setattr(loser.view, "commit", the_other_runner_gets_there_first(loser.view.commit))
    # The loser carries on from where the other runner got to: no error, nothing twice.
    runner.catch_up(second.upstream, loser)
    monkeypatch.undo()
    assert runner.lag(second.upstream, loser) == 0
    second.catch_up()
    reference = open_read_side(settings_for(tmp_path / "reference"), upstream_of(app))
    reference.catch_up()
    assert rows_of(second) == rows_of(reference)
    assert crl(second) == crl(reference)
    assert listed_crl(second) == expected_crl(app)
    assert verify(second, app.events).differences == []


def test_verify_notices_a_corrupted_revocation_list_history(
    app: CardLifecycle, clock: Clock, read: ReadSide, tmp_path: Path
) -> None:
    three_cards(app, clock)
    read.catch_up()
    assert verify(read, app.events).ok
    number, entries = crl(read)
    never_held = next(
        r.serial for r in certificate_rows(read).values() if r.serial not in {e.serial for e in entries}
    )

    # A phantom hold-and-release of a certificate that was never held (a relying party reading
    # the list's history would see it), written into the view's tables behind its back.
    def edit(table: str, statement: str, params: tuple[object, ...]) -> None:
        name = f"revocation_list_{table}" if backend.POSTGRES else f"crl_{table}"
        changed = backend.tamper(
            settings_for(tmp_path), "mynacard-revocation_list.sqlite", name, statement, params
        )
        assert changed == 1

    phantom = (never_held, "AUTH", "certificateHold", 6, "2021-01-01T10:00:00+09:00")
    edit(
        "entries",
        "INSERT INTO {table} VALUES (?,?,?,?,?,?,?,?,?)",
        (*phantom, phantom[-1], None, number + 1, number + 2),
    )
    edit("number", "UPDATE {table} SET list_number=?", (number + 2,))
    assert listed_crl(read) != expected_crl(app)
    report = verify(read, app.events)
    assert {(d.projection, d.subject) for d in report.differences} == {
        ("revocation_list", "list number row 1"),
        ("revocation_list", f"revocation entry {never_held} {number + 1}"),
    }


def test_a_view_made_before_log_heads_records_one_on_its_next_catch_up(
    app: CardLifecycle, clock: Clock, read: ReadSide, tmp_path: Path
) -> None:
    """issue 8 item 4: a view made before views kept their log head (no ``log_head`` table)
    keeps working: it is opened, shown as ``ok``, and its next catch-up records the head of the
    event at its position (until then ``verify`` says that none is recorded). Without a head, a
    view ahead of the log is refused all the same."""
    three_cards(app, clock)
    read.catch_up()
    settings = settings_for(tmp_path)

    def make_old(moved: int = 0) -> ReadSide:
        for view in ("lifecycle_view", "revocation_list"):
            sqlite_file = f"mynacard-{view}.sqlite"
            head_table = f"{view}_head" if backend.POSTGRES else "log_head"
            backend.tamper(settings, sqlite_file, head_table, "DROP TABLE {table}", ())
            if moved:
                tracking = f"{view}_tracking" if backend.POSTGRES else "tracking"
                statement = (
                    "UPDATE {table} SET notification_id = notification_id + ? WHERE application_name = ?"
                )
                assert backend.tamper(settings, sqlite_file, tracking, statement, (moved, app.name)) == 1
        return open_read_side(settings, upstream_of(app))

    old = make_old()
    assert {p["state"] for p in old.positions().values()} == {"ok"}
    unrecorded = verify(old).differences
    assert {(d.projection, d.field) for d in unrecorded} >= {
        ("lifecycle_view", "log head"),
        ("revocation_list", "log head"),
    }
    assert old.catch_up() == {"lifecycle_view": 0, "revocation_list": 0}
    assert verify(old).ok, "the next catch-up recorded the log head"
    stories = [Story(app, clock, my_number_=my_number(8_300_100))]
    stories[0].apply("2022-01-01T09:00", photo_taken_on="2021-12-01")
    # Applied, FeeAssessed, and the person's HolderOpened and ApplicationFiled (R63).
    assert old.catch_up() == {"lifecycle_view": 4, "revocation_list": 4}
    assert verify(old).ok

    ahead = make_old(moved=5)
    assert {p["state"] for p in ahead.positions().values()} == {"ahead of the log — rebuild"}
    with pytest.raises(runner.ViewAheadOfLog):
        ahead.catch_up()
    assert ahead.rebuild() == {"lifecycle_view": head(app), "revocation_list": head(app)}
    assert verify(ahead).ok


# ----------------------------------------------------------------------------- revocation list


def certificates_by_kind(app: CardLifecycle, story: Story) -> dict[str, Certificate]:
    return {c.kind: c for c in certificates_of(app, story.card)}


def test_revocation_list_holds_releases_revocations_and_expiry(
    app: CardLifecycle, clock: Clock, read: ReadSide
) -> None:
    story = Story(app, clock, my_number_=my_number(8_400_001))
    story.to_active()
    certs = certificates_by_kind(app, story)
    auth, sig = certs["AUTH"].serial, certs["SIG"].serial
    read.catch_up()
    numbers = [read.revocations.view.list_number()]
    assert numbers == [0]

    # Suspension: AUTH on hold (certificateHold, 6), SIG revoked (R49, D05).
    story.run(m.SuspendCard, "2021-01-01T10:00")
    read.catch_up()
    listed = {e.serial: e for e in read.revocation_list()[1]}
    assert (listed[auth].reason_name, listed[auth].reason_code) == ("certificateHold", 6)
    assert listed[auth].revoked_at == "2021-01-01T10:00:00+09:00"
    assert listed[auth].expires_on == certs["AUTH"].expires_on
    assert listed[sig].reason_code == 1  # keyCompromise
    numbers.append(read.revocations.view.list_number())

    # Release: AUTH leaves the list (removeFromCRL), but stays in its history.
    story.run(m.LiftSuspension, "2021-01-02T10:00")
    read.catch_up()
    number, current = read.revocation_list()
    assert [e.serial for e in current] == [sig]
    numbers.append(number)
    held = [e for e in read.revocation_list(include_removed=True)[1] if e.serial == auth]
    assert len(held) == 1
    assert held[0].removed_in == number

    # Held again, then the card is lost while held: the hold is replaced by a revocation.
    story.run(m.SuspendCard, "2021-03-01T10:00")
    read.catch_up()
    numbers.append(read.revocations.view.list_number())
    story.run(m.ReportLoss, "2021-03-03T10:00", lost_at_home=True, effective_at="2021-03-02T23:00")
    read.catch_up()
    numbers.append(read.revocations.view.list_number())
    final = {e.serial: e for e in read.revocation_list()[1]}
    assert set(final) == {auth, sig}
    assert (final[auth].reason_name, final[auth].reason_code) == ("keyCompromise", 1)
    assert final[auth].revoked_at == "2021-03-02T23:00:00+09:00"
    assert final[auth].recorded_at == "2021-03-03T10:00:00+09:00"
    assert len([e for e in read.revocation_list(include_removed=True)[1] if e.serial == auth]) == 3

    # Long after both certificates expired (2024-10-10), their entries stay on the list.
    story.run(m.RecordLapses, "2030-01-01T10:00")
    read.catch_up()
    assert {e.serial for e in read.revocation_list()[1]} == {auth, sig}
    assert all(e.expires_on is not None and e.expires_on < d("2030-01-01") for e in final.values())
    assert numbers == sorted(set(numbers)), f"list numbers not strictly increasing: {numbers}"
    assert_crl_numbering(read)
    assert verify(read, app.events).ok


def test_a_revocation_after_the_certificate_expired_is_not_listed(
    app: CardLifecycle, clock: Clock, read: ReadSide
) -> None:
    """Certificates issued 2016-06-20 expired after 2020-10-10 (nobody recorded it). The card
    is lost in 2021: the certificates' expiry is recorded instead of a revocation, and the CRL
    does not grow."""
    story = Story(app, clock, my_number_=my_number(8_400_002))
    story.to_active(
        "2016-05-01T09:00", "2016-05-10", "2016-05-15", "2016-06-20T10:00", photo_taken_on="2016-04-01"
    )
    read.catch_up()
    before = crl(read)
    result = story.run(m.ReportLoss, "2021-03-03T10:00", lost_at_home=True)
    assert "CertificateRevoked" not in {e.type for e in result.events}
    read.catch_up()
    assert crl(read) == before == (0, [])
    statuses = {r.kind: r.status for r in certificate_rows(read).values()}
    assert statuses == {"SIG": "expired", "AUTH": "expired"}
    assert verify(read, app.events).ok


def test_verify_accepts_a_hold_that_expired_on_the_crl(
    app: CardLifecycle, clock: Clock, read: ReadSide
) -> None:
    """A certificate on hold whose expiry passes keeps its certificateHold entry (nothing is
    removed at expiry): the projection and the checker must agree on it."""
    story = Story(app, clock, my_number_=my_number(8_400_003))
    story.to_active()
    auth = certificates_by_kind(app, story)["AUTH"]
    story.run(m.SuspendCard, "2021-01-01T10:00")
    story.run(m.RecordLapses, "2024-10-12T10:00")  # AUTH expired after 2024-10-10, while held
    assert app.get_certificate(auth.serial).status == "expired"
    read.catch_up()
    listed = {e.serial: e for e in read.revocation_list()[1]}
    assert listed[auth.serial].reason_name == "certificateHold"
    report = verify(read, app.events)
    assert report.differences == [], report.as_dict()


# ----------------------------------------------------------------------------- status read models


def test_card_and_certificate_status_from_the_view(app: CardLifecycle, clock: Clock, read: ReadSide) -> None:
    number = my_number(8_450_001)
    story = Story(app, clock, my_number_=number)
    story.to_active(
        "2024-05-01T09:00", "2024-05-10", "2024-05-15", "2024-06-20T10:00", photo_taken_on="2024-04-01"
    )
    certs = certificates_by_kind(app, story)
    # Moved within Japan: the move-in revokes the SIG (R41) and starts the 90-day card update (R30).
    story.run(m.RecordMoveOut, "2025-03-20T10:00", planned_move_out_on="2025-03-31")
    story.run(m.FileMoveIn, "2025-04-10T10:00", planned_move_out_on="2025-03-31", moved_in_on="2025-04-05")
    read.catch_up()
    report = read.card_report(story.card.id, d("2025-05-01"), at("2025-05-01T09:00"))
    assert report is not None
    card = report.as_dict()
    assert (card["status"], card["status_today"], card["usable_today"]) == ("active", "active", True)
    assert card["holder"] == f"XXXX XXXX {number[-4:]}"
    assert number not in json.dumps(card)
    assert (card["issue_date"], card["expires_on"]) == ("2024-05-15", "2033-10-10")  # R19
    assert card["renewal_window_opens"] == "2033-07-11"
    assert {
        "what": "card update after move-in (券面記載事項変更)",
        "rule": "R30",
        "last_day": "2025-07-09",
    } in card["deadlines"]
    summary = {c["kind"]: c for c in card["certificates"]}
    assert (summary["SIG"]["status"], summary["SIG"]["valid_at"]) == ("revoked", False)
    assert (summary["AUTH"]["status"], summary["AUTH"]["valid_at"]) == ("active", True)

    sig = read.certificate(certs["SIG"].serial, at("2025-05-01T09:00"))
    assert sig is not None
    assert (sig.status, sig.reason_name, sig.reason_code) == ("revoked", "affiliationChanged", 3)
    assert sig.revoked_at == at("2025-04-10T10:00")
    assert sig.expires_on == certs["SIG"].expires_on
    assert sig.usable_from == certs["SIG"].usable_from
    # Valid before the revocation, not at it.
    assert read.certificate(certs["SIG"].serial, at("2025-04-10T09:59")).valid_at  # type: ignore[union-attr]
    assert read.certificate("F" * 20, at("2025-05-01T09:00")) is None
    # After the 90 days, before anything is recorded: what holds today says so.
    late = read.card_report(story.card.id, d("2025-07-10"), at("2025-07-10T09:00"))
    assert late is not None
    assert (late.card.status, late.card.status_today, late.card.usable_today) == (
        "active",
        "invalidated",
        False,
    )
    assert [c.valid_at for c in late.certificates if c.kind == "AUTH"] == [False]


# ----------------------------------------------------------------------------- person, expiring, counts


def test_R65_cards_of_a_person_incl_after_a_my_number_change(
    app: CardLifecycle, clock: Clock, read: ReadSide
) -> None:
    number, new_number, other = my_number(8_500_001), my_number(8_500_002), my_number(8_500_003)
    first = Story(app, clock, my_number_=number)
    first.to_active()
    Story(app, clock, my_number_=other).to_active()
    first.run(m.InvalidateCard, "2023-01-10T10:00", reason="my_number_changed", new_my_number=new_number)
    # The holder's next card, under the new number.
    second = Story(app, clock, my_number_=new_number)
    second.to_active(
        "2023-02-01T09:00", "2023-02-05", "2023-02-10", "2023-03-01T10:00", photo_taken_on="2023-01-15"
    )
    read.catch_up()
    today = d("2023-06-01")

    by_old = read.cards_of_holder(holder_reference(number, KEY), today)
    by_new = read.cards_of_holder(holder_reference(new_number, KEY), today)
    # R65 (was: the old number found only the old card): both numbers find both cards.
    assert [c.card_id for c in by_old] == [str(first.card.id), str(second.card.id)]
    assert [c.card_id for c in by_new] == [str(first.card.id), str(second.card.id)]
    assert [c.status for c in by_new] == ["invalidated", "active"]
    assert read.cards_of_holder(holder_reference(my_number(8_500_004), KEY), today) == []
    shown = json.dumps([c.as_dict() for c in by_old + by_new])
    for n in (number, new_number, other):
        assert n not in shown
    assert {c.holder for c in by_new} == {f"XXXX XXXX {new_number[-4:]}", f"XXXX XXXX {number[-4:]}"}
    # Rows never carry the number either.
    rows = card_rows(read).values()
    assert all(
        n not in repr(r.holder_ref) + (r.successor_holder_ref or "")
        for r in rows
        for n in (number, new_number)
    )


def test_R65_an_application_voided_by_a_my_number_change_is_found_by_both_numbers(
    app: CardLifecycle, clock: Clock, read: ReadSide
) -> None:
    """Formerly a known limitation: a change before the handover voided the application without
    the new number's reference, so ``person NEW`` did not list it."""
    number, new_number = my_number(8_500_011), my_number(8_500_012)
    pending = Story(app, clock, my_number_=number)
    pending.apply("2023-01-05T09:00", photo_taken_on="2023-01-01")
    pending.run(m.InvalidateCard, "2023-01-10T10:00", reason="my_number_changed", new_my_number=new_number)
    later = Story(app, clock, my_number_=new_number)
    later.apply("2023-01-11T09:00", photo_taken_on="2023-01-01")
    read.catch_up()
    today = d("2023-02-01")
    for asked in (number, new_number):
        found = read.cards_of_holder(holder_reference(asked, KEY), today)
        assert [(c.card_id, c.status) for c in found] == [
            (str(pending.card.id), "voided"),
            (str(later.card.id), "applied"),
        ]


def test_expiring_lists_cards_and_certificates_in_a_range(
    app: CardLifecycle, clock: Clock, read: ReadSide
) -> None:
    # Expires 2029-10-10 by age (R19): notice (R44).
    aged = Story(app, clock, my_number_=my_number(8_600_001))
    aged.to_active()
    # A foreign student's card capped by the stay, 2029-10-05 (R22): no notice.
    stay = Story(app, clock, my_number_=my_number(8_600_002))
    stay.to_active(photo_taken_on="2020-04-01", residence_status="student", stay_until="2029-10-05")
    # The same birthday, but the card was returned: ended cards are not listed.
    ended = Story(app, clock, my_number_=my_number(8_600_003))
    ended.to_active()
    ended.run(m.ReturnCard, "2021-01-01T10:00", reason="voluntary")
    read.catch_up()
    assert aged.card.expires_on == d("2029-10-10")
    assert (stay.card.expires_on, stay.card.expiry_capped_by_stay) == (d("2029-10-05"), True)

    listing = read.expiring(d("2029-10-01"), d("2029-10-31"))
    assert [(c["card_id"], c["expires_on"], c["notice"]) for c in listing["cards"]] == [
        (str(stay.card.id), "2029-10-05", False),
        (str(aged.card.id), "2029-10-10", True),
    ]
    assert listing["certificates"] == []
    assert [c["card_id"] for c in read.expiring(d("2029-10-06"), d("2029-10-09"))["cards"]] == []
    assert [c["card_id"] for c in read.expiring(d("2029-10-10"), d("2029-10-10"))["cards"]] == [
        str(aged.card.id)
    ]
    # The certificates: all four of the two cards in use expire on the 5th birthday after
    # issue, 2024-10-10 (R35); the returned card's were revoked and are not listed.
    listed = read.expiring(d("2024-10-01"), d("2024-10-31"))["certificates"]
    expected = sorted(
        (c.serial, c.kind, "2024-10-10") for s in (aged, stay) for c in certificates_of(app, s.card)
    )
    assert sorted((c["serial"], c["kind"], c["expires_on"]) for c in listed) == expected
    assert len(expected) == 4
    assert read.expiring(d("2024-10-11"), d("2029-12-31"))["certificates"] == []
    assert read.expiring(d("2024-10-01"), d("2024-10-09"))["certificates"] == []


def test_counts_by_status_kind_and_month(app: CardLifecycle, clock: Clock, read: ReadSide) -> None:
    stories = three_cards(app, clock)
    pending = Story(app, clock, my_number_=my_number(8_700_001))
    pending.apply("2024-05-01T09:00", photo_taken_on="2024-04-01")
    read.catch_up()
    counts = read.counts()
    assert counts.cards_by_status == {"active": 2, "abolished": 1, "applied": 1}
    assert counts.cards_by_kind == {"new": 4}
    assert counts.cards_issued_by_month == {"2020-05": 3}
    assert counts.cards_expiring_by_month == {"2029-10": 2}  # in use only
    assert counts.certificates_by_kind_and_status == {
        "AUTH": {"active": 2, "revoked": 1},
        "SIG": {"active": 1, "revoked": 2},
    }
    assert stories[1].card.status == "active"


# ----------------------------------------------------------------------------- CLI smoke


def clean_env(data_dir: Path) -> dict[str, str]:
    return backend.cli_env(data_dir, MYNACARD_ACTOR="clerk-cli")


def cli(data_dir: Path, *args: str, now: str = "2025-01-01T09:00") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mynacard", *args, "--json", "--now", now],
        check=False,
        env=clean_env(data_dir),
        capture_output=True,
        text=True,
        timeout=120,
    )


def ok(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_cli_read_commands_and_verify_after_corruption(tmp_path: Path) -> None:
    settings = backend.settings(tmp_path)
    app = open_write_side(settings)
    clock = Clock("2020-05-01T09:00")
    app.clock = clock
    number = my_number(8_800_001)
    try:
        stories = [Story(app, clock, my_number_=number), Story(app, clock, my_number_=my_number(8_800_002))]
        all_to_active(stories)
        stories[1].run(m.SuspendCard, "2021-01-01T10:00")
        stories[1].run(m.LiftSuspension, "2021-01-02T10:00")
        card_id = str(stories[0].card.id)
        sig = next(c.serial for c in certificates_of(app, stories[1].card) if c.kind == "SIG")
        total = head(app)
    finally:
        app.close()

    assert ok(cli(tmp_path, "projections")) == {
        "lifecycle_view": {"position": 0, "log": total, "lag": total, "state": "ok"},
        "revocation_list": {"position": 0, "log": total, "lag": total, "state": "ok"},
    }
    person = cli(tmp_path, "person", number)
    assert number not in person.stdout + person.stderr
    shown = ok(person)
    assert [c["card_id"] for c in shown["cards"]] == [card_id]
    assert shown["holder_ref"] == holder_reference(
        number, bytes.fromhex((tmp_path / "holder.key").read_text())
    )

    expiring = ok(cli(tmp_path, "expiring", "--from", "2029-10-01", "--to", "2029-10-31"))
    assert sorted(c["application_id"] for c in expiring["cards"]) == sorted(s.application_id for s in stories)
    assert all(c["notice"] for c in expiring["cards"])
    revocations = ok(cli(tmp_path, "revocations"))
    assert revocations["list_number"] == 3  # hold, SIG revoked, release
    assert [
        (e["serial"], e["reason_name"], e["reason_code"], e["revoked_at"]) for e in revocations["entries"]
    ] == [(sig, "keyCompromise", 1, "2021-01-01T10:00:00+09:00")]
    counts = ok(cli(tmp_path, "counts"))
    assert counts["cards_by_status"] == {"active": 2}
    assert counts["cards_issued_by_month"] == {"2020-05": 2}
    assert counts["certificates_by_kind_and_status"] == {
        "AUTH": {"active": 2},
        "SIG": {"active": 1, "revoked": 1},
    }
    rebuilt = ok(cli(tmp_path, "rebuild"))
    assert rebuilt["rebuilt"] == {"lifecycle_view": total, "revocation_list": total}
    assert {p["lag"] for p in rebuilt["positions"].values()} == {0}
    verified = ok(cli(tmp_path, "verify"))
    assert verified["ok"] is True
    assert (verified["cards"], verified["certificates"], verified["revocation_entries"]) == (2, 4, 1)

    # Someone edits the view behind the projection's back.
    sqlite_table, pg_table = "cards", "lifecycle_view_cards"
    changed = backend.tamper(
        settings,
        "mynacard-lifecycle_view.sqlite",
        pg_table if backend.POSTGRES else sqlite_table,
        "UPDATE {table} SET status='bogus' WHERE card_id=?",
        (card_id if backend.POSTGRES else str(card_id),),
    )
    assert changed == 1
    broken = cli(tmp_path, "verify")
    assert broken.returncode == 7, broken.stderr
    report = json.loads(broken.stdout)
    assert report["ok"] is False
    assert {
        "projection": "lifecycle_view",
        "subject": f"card {card_id}",
        "field": "status",
        "expected": "active",
        "actual": "bogus",
    } in report["differences"]
    assert ok(cli(tmp_path, "rebuild", "--projection", "lifecycle_view"))["rebuilt"] == {
        "lifecycle_view": total
    }
    repaired = ok(cli(tmp_path, "verify"))
    assert (repaired["ok"], repaired["differences"]) == (True, [])
