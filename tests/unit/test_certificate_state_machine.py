"""A stateful property test of the REAL service (``CardLifecycle`` on the test storage: a temp
SQLite file, or a fresh PostgreSQL schema with ``MYNACARD_TEST_DATABASE_URL``; with a settable
clock that only moves forward) driving a holder's cards and their certificates
together: handover, suspension and lifting, card-information changes, moves, loss, return,
invalidation, lapses, certificate issue/renewal/revocation, smartphone certificates, face mode,
PIN attempts and new cards that supersede the old one. Refusals (``RuleViolation``,
``InputError``) are expected; what must hold whatever happens:

- a refused command wrote nothing (``max_notification_id`` unchanged);
- no certificate is valid (``is_valid`` at the current time) on a card that is not ``active``;
  on an active card that time has already ended (a lapse is due, not recorded yet) the
  service's ``certificate_validity`` says invalid (``is_valid`` is the certificate's own history);
- a card's SIG is never valid while the card's AUTH is not valid; two exceptions follow the
  spec: the AUTH's convenience-store delay (R43, e.g. issued on a Saturday: SIG usable Sunday,
  AUTH Tuesday 06:30) and an AUTH the holder had revoked on request (R42: only that
  certificate ends; R36 ignores a missing AUTH);
- no SIG is ever issued to someone under 15 on its issue date, to an adult ward, or onto a
  face-recognition card (R40, R58);
- every ``CertificateRevoked`` carries an RFC 5280 reason name and its code; holds carry
  certificateHold (6), releases removeFromCRL (8).

Plus, outside the machine: a save that fails half-way leaves neither the card nor any
certificate changed, and the next real attempt succeeds.
"""

from __future__ import annotations

import os
import re
from datetime import date, timedelta
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from commands import certificate_models as cm
from commands import models as m
from commands.application import CardLifecycle
from commands.errors import InputError
from lifecycle.calendar import age_on, jst_date, renewal_window_opens
from lifecycle.card import Card
from lifecycle.certificate import (
    Certificate,
    CertificateIssued,
    CertificatePutOnHold,
    CertificateReleased,
    CertificateRevoked,
)
from lifecycle.decisions import DEFAULT_POLICIES
from lifecycle.errors import RuleViolation
from lifecycle.holder import standing_of
from storage.memory import memory_env
from tests.helpers.support import KEY, Clock, application_id, at, certificates_of

RULE_ID = re.compile(r"^[RD]\d{2}$")
RFC5280 = {
    "unspecified": 0,
    "keyCompromise": 1,
    "cACompromise": 2,
    "affiliationChanged": 3,
    "superseded": 4,
    "cessationOfOperation": 5,
    "certificateHold": 6,
    "removeFromCRL": 8,
    "privilegeWithdrawn": 9,
    "aACompromise": 10,
}
MY_NUMBER = "123456789018"
PIN_FIELD = {"sig": "sig_pin", "auth": "auth_pin", "juki": "juki_pin", "card_details": "card_details_pin"}
PIN_VALUE = {"sig_pin": "AB12CD", "auth_pin": "1234", "juki_pin": "1234", "card_details_pin": "1234"}

# How far the clock moves before a command: mostly minutes or days, sometimes months or years.
ADVANCE = st.sampled_from(["minutes"] * 4 + ["days"] * 4 + ["months"] * 2 + ["years"]).flatmap(
    lambda scale: {
        "minutes": st.integers(1, 600).map(lambda n: timedelta(minutes=n)),
        "days": st.integers(1, 20).map(lambda n: timedelta(days=n, minutes=7)),
        "months": st.integers(20, 400).map(lambda n: timedelta(days=n, hours=1)),
        "years": st.integers(400, 2000).map(lambda n: timedelta(days=n, hours=2)),
    }[scale]
)
KINDS = st.sampled_from([["SIG"], ["AUTH"], ["SIG", "AUTH"]])
DEVICES = st.sampled_from(["phone-1", "phone-2", "phone-3"])


class CertificateMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock("2020-01-06T09:00")
        self.app = CardLifecycle(
            env=memory_env(),
            holder_key=KEY,
            clock=self.clock,
        )
        self.cards: list[str] = []
        """The holder's cards that were handed over, oldest first; commands go to the latest."""
        self.others: list[str] = []
        """Applications for a new card that were never handed over."""
        self.scanned = 0

    def teardown(self) -> None:
        self.app.close()

    # ------------------------------------------------------------------ plumbing

    @property
    def now(self) -> Any:
        return self.clock.now

    @property
    def today(self) -> date:
        return jst_date(self.clock.now)

    def position(self) -> int:
        return self.app.recorder.max_notification_id() or 0

    def advance(self, delta: timedelta) -> None:
        self.clock.set(self.clock.now + delta)

    def in_use(self) -> bool:
        """The latest card is active or suspended and time has not ended it yet."""
        card = self.card()[1]
        return card.status in {"active", "suspended"} and not card.due_lapses(self.today, DEFAULT_POLICIES)

    def card(self, which: int = 0) -> tuple[str, Card]:
        app_id = self.cards[max(0, len(self.cards) - 1 - which)]
        return app_id, self.app.get_card(app_id)

    def run(self, command: type[m.Command], card: str | None = None, **fields: Any) -> bool:
        fields.setdefault("actor", "clerk-sm")
        if card is not None:
            fields["card"] = card
        model = command.model_validate(fields)
        before = self.position()
        try:
            self.app.execute(model)
        except (RuleViolation, InputError) as refusal:
            assert self.position() == before, f"a refused {command.COMMAND} wrote events"
            rule = getattr(refusal, "rule", "input")
            if isinstance(refusal, RuleViolation):
                assert RULE_ID.match(refusal.rule), refusal.rule
            event(f"refused {command.COMMAND} ({rule})")
            return False
        event(f"done {command.COMMAND}")
        return True

    def pins_for(self, card: Card, kinds: list[str]) -> dict[str, Any]:
        """The certificate PINs ``kinds`` need, set by the legal representative for an under-15."""
        pins: dict[str, Any] = {PIN_FIELD[k.lower()]: PIN_VALUE[PIN_FIELD[k.lower()]] for k in kinds}
        if card.age_on(self.today) < 15:
            pins["pins_set_by"] = "legal_representative"
        return pins

    def live_sig(self) -> bool:
        cert_id = self.card()[1].certificates.get("SIG")
        cert = self.app.load_certificate(cert_id) if cert_id else None
        return cert is not None and cert.live

    def live_auth(self, card: Card) -> bool:
        cert_id = card.certificates.get("AUTH")
        cert = self.app.load_certificate(cert_id) if cert_id else None
        return cert is not None and cert.live

    def hand_over(self, app_id: str, **extra: Any) -> bool:
        """Hand the card over with the PINs its certificate plan needs (R34, R40, R54, R58)."""
        card = self.app.get_card(app_id)
        pins: dict[str, Any] = {}
        if not card.face_recognition_card:
            pins = {"juki_pin": "1234", "card_details_pin": "1234"}
            if card.wants_user_certificate:
                pins["auth_pin"] = "1234"
            if card.wants_signature_certificate and not card.adult_ward and card.age_on(self.today) >= 15:
                pins["sig_pin"] = "AB12CD"
            if card.age_on(self.today) < 15:
                pins["pins_set_by"] = "legal_representative"
        return self.run(
            m.HandOverCard,
            app_id,
            identity_documents=["driving_licence"],
            notification_card="collected" if card.kind == "new" else "not_applicable",
            **pins,
            **extra,
        )

    # ------------------------------------------------------------------ the holder's first card

    @initialize(
        age=st.sampled_from([12, 13, 14, 14, 16, 30, 45, 70]),
        age_days=st.integers(0, 364),
        kind=st.sampled_from(["plain"] * 7 + ["adult_ward", "face", "declined"]),
    )
    def first_card(self, age: int, age_days: int, kind: str) -> None:
        applied = self.today
        dob = date(applied.year - age, 1, 1) + timedelta(days=age_days)
        app_id = application_id()
        self.cards.append(app_id)
        fields: dict[str, Any] = {
            "application_id": app_id,
            "my_number": MY_NUMBER,
            "date_of_birth": dob.isoformat(),
            "photo_taken_on": applied.isoformat(),
            "adult_ward": kind == "adult_ward",
            "face_recognition_card": kind == "face",
            "wants_signature_certificate": kind not in {"face", "declined"},
            "wants_user_certificate": kind != "declined",
        }
        assert self.run(m.SubmitApplication, **fields)
        self.advance(timedelta(days=3))
        assert self.run(m.AcceptApplication, app_id)
        self.advance(timedelta(days=7))
        assert self.run(m.ProduceCard, app_id)
        self.advance(timedelta(days=14, hours=1))
        assert self.hand_over(app_id)

    # ------------------------------------------------------------------ card in use

    @precondition(lambda self: self.in_use())
    @rule(adv=ADVANCE, channel=st.sampled_from(["call_centre", "counter"]))
    def suspend(self, adv: timedelta, channel: str) -> None:
        self.advance(adv)
        self.run(m.SuspendCard, self.card()[0], channel=channel)

    @precondition(lambda self: self.card()[1].status == "suspended")
    @rule(adv=ADVANCE)
    def lift_suspension(self, adv: timedelta) -> None:
        self.advance(adv)
        self.run(m.LiftSuspension, self.card()[0])

    @precondition(lambda self: self.in_use())
    @rule(
        adv=ADVANCE,
        facts=st.lists(
            st.sampled_from(["address", "name", "sex", "former_surname", "date_of_birth"]),
            min_size=1,
            max_size=2,
            unique=True,
        ),
        dob_shift=st.integers(-400, 400),
    )
    def change_card_information(self, adv: timedelta, facts: list[str], dob_shift: int) -> None:
        self.advance(adv)
        app_id, card = self.card()
        extra: dict[str, Any] = {}
        if "date_of_birth" in facts:
            extra["new_date_of_birth"] = min(card.date_of_birth + timedelta(days=dob_shift), self.today)
        if "former_surname" in facts:
            extra["former_surname_action"] = "added"
        self.run(m.ChangeCardInformation, app_id, facts=facts, pin_confirmed=True, **extra)

    @precondition(lambda self: self.in_use())
    @rule(
        adv=ADVANCE,
        kind=st.sampled_from(["in_city", "between_cities", "between_cities", "abroad", "away"]),
        days=st.integers(0, 12),
        update=st.booleans(),
    )
    def move(self, adv: timedelta, kind: str, days: int, update: bool) -> None:
        """A move: within the city (address change), between cities (move-out, move-in a few
        days later, then usually the card update), abroad, or away with no move-in filed (the
        R28 lapse comes due later)."""
        self.advance(adv)
        app_id = self.card()[0]
        if kind == "in_city":
            self.run(m.ChangeCardInformation, app_id, facts=["address"], pin_confirmed=True)
            return
        planned = self.today + timedelta(days=days % 4)
        if not self.run(m.RecordMoveOut, app_id, planned_move_out_on=planned, overseas=kind == "abroad"):
            return
        if kind in {"abroad", "away"}:
            return
        self.advance(timedelta(days=days % 4 + days, hours=2))
        moved_in = min(self.today, planned + timedelta(days=days % 3))
        if self.run(m.FileMoveIn, app_id, planned_move_out_on=planned, moved_in_on=moved_in) and update:
            self.advance(timedelta(days=days, hours=1))
            self.run(m.ChangeCardInformation, app_id, facts=["address"], pin_confirmed=True)

    @precondition(lambda self: self.in_use())
    @rule(adv=ADVANCE, moved_in_back=st.integers(0, 20))
    def move_in(self, adv: timedelta, moved_in_back: int) -> None:
        self.advance(adv)
        app_id, card = self.card()
        planned = card.awaiting_move_in_since or (self.today - timedelta(days=moved_in_back + 1))
        moved_in = max(planned, self.today - timedelta(days=moved_in_back))
        self.run(m.FileMoveIn, app_id, planned_move_out_on=planned, moved_in_on=min(moved_in, self.today))

    @precondition(lambda self: self.in_use())
    @rule(
        adv=ADVANCE,
        which=st.sampled_from(["loss", "return", "death", "resident_code_changed"]),
    )
    def end_card(self, adv: timedelta, which: str) -> None:
        self.advance(adv)
        app_id = self.card()[0]
        if which == "loss":
            self.run(m.ReportLoss, app_id, lost_at_home=True)
        elif which == "return":
            self.run(m.ReturnCard, app_id, reason="voluntary")
        else:
            self.run(m.InvalidateCard, app_id, reason=which)

    @rule(
        which=st.integers(0, 3),
        command=st.sampled_from(["suspend", "lift", "issue", "revoke", "pin", "phone", "face"]),
    )
    def poke_any_card(self, which: int, command: str) -> None:
        """Any command on any of the holder's cards, ended ones included: most are refused, and
        a refusal must write nothing."""
        self.advance(timedelta(minutes=5))
        app_id = self.card(which)[0]
        if command == "suspend":
            self.run(m.SuspendCard, app_id)
        elif command == "lift":
            self.run(m.LiftSuspension, app_id)
        elif command == "issue":
            self.run(cm.IssueCertificates, app_id, kinds=["AUTH"], juki_pin_confirmed=True, auth_pin="1234")
        elif command == "revoke":
            self.run(cm.RevokeCertificate, app_id, kind="AUTH")
        elif command == "pin":
            self.run(cm.RecordPinAttempt, app_id, pin="auth", success=False)
        elif command == "phone":
            self.run(cm.IssueSmartphoneCertificates, app_id, device="phone-9", sig_pin_confirmed=True)
        else:
            self.run(cm.SetFaceRecognitionMode, app_id, enabled=True)

    @rule(adv=ADVANCE, which=st.integers(0, 2))
    def record_lapses(self, adv: timedelta, which: int) -> None:
        self.advance(adv)
        self.run(m.RecordLapses, self.card(which)[0])

    @precondition(lambda self: not self.in_use())
    @rule(renewal=st.booleans())
    def replace_a_card_that_ended(self, renewal: bool) -> None:
        """Focused: the holder applies for a new card soon after the last one ended."""
        self.new_card(timedelta(days=3), renewal)

    @rule(adv=ADVANCE, renewal=st.booleans())
    def new_card(self, adv: timedelta, renewal: bool) -> None:
        """A renewal or reissue of the latest card, handed over: the old card is superseded."""
        self.advance(adv)
        old_id, old = self.card()
        if old.due_lapses(self.today, DEFAULT_POLICIES):
            self.run(m.RecordLapses, old_id)  # what the refusal's hint asks for
            old = self.app.get_card(old_id)
        renewal = (
            renewal and old.expires_on is not None and self.today >= renewal_window_opens(old.expires_on)
        )
        app_id = application_id()
        fields: dict[str, Any] = {
            "application_id": app_id,
            "my_number": MY_NUMBER,
            "date_of_birth": old.date_of_birth.isoformat(),
            "photo_taken_on": self.today.isoformat(),
            "previous_card": old_id,
            "kind": "renewal" if renewal else "reissue",
            "adult_ward": old.adult_ward,
        }
        if not renewal:
            # R63: a reissue for loss only after the loss was reported (the card abolished).
            fields["reissue_reason"] = "loss" if old.status == "abolished" else "card_defect"
        if not self.run(m.SubmitApplication, **fields):
            return
        self.others.append(app_id)
        self.advance(timedelta(days=2))
        self.run(m.AcceptApplication, app_id)
        self.advance(timedelta(days=5))
        self.run(m.ProduceCard, app_id)
        self.advance(timedelta(days=7, hours=1))
        new = self.app.get_card(app_id)
        extra: dict[str, Any] = {"fee_paid_yen": new.outstanding_fee_yen}
        if new.kind == "reissue" and not new.application_fee_fault:
            extra["old_card_brought"] = True
        handed_over = self.hand_over(app_id, **extra)
        if not handed_over and self.app.get_card(old_id).due_lapses(self.today, DEFAULT_POLICIES):
            self.run(m.RecordLapses, old_id)  # time ended the old card meanwhile
            handed_over = self.hand_over(app_id, **extra)
        if handed_over:
            self.others.remove(app_id)
            self.cards.append(app_id)
            event("a new card was handed over")
        else:
            self.run(m.CancelApplication, app_id)

    @rule(adv=ADVANCE, with_previous=st.booleans())
    def apply_again(self, adv: timedelta, with_previous: bool) -> None:
        """Another application for the same person, whatever the state: R63 decides (refused
        while an application is in progress, or a ``new`` one while a card is in use)."""
        self.advance(adv)
        old_id, old = self.card()
        app_id = application_id()
        fields: dict[str, Any] = {
            "application_id": app_id,
            "my_number": MY_NUMBER,
            "date_of_birth": old.date_of_birth.isoformat(),
            "photo_taken_on": self.today.isoformat(),
            "adult_ward": old.adult_ward,
        }
        if with_previous:
            fields.update(kind="reissue", reissue_reason="damage", previous_card=old_id)
        if self.run(m.SubmitApplication, **fields):
            self.others.append(app_id)
            event("another application was accepted")

    @precondition(lambda self: bool(self.others))
    @rule(adv=ADVANCE)
    def cancel_pending(self, adv: timedelta) -> None:
        self.advance(adv)
        self.run(m.CancelApplication, self.others[-1])

    @invariant()
    def one_card_in_use_and_one_application_in_progress_per_person(self) -> None:
        """R62, R63: whatever happened, the person has at most one card in use and at most one
        application in progress (judged as the rules judge them, at the current time)."""
        ids = [self.app.get_card(a).id for a in [*self.cards, *self.others]]
        standing = standing_of(ids, self.app.load_card, self.now, DEFAULT_POLICIES)
        assert len(standing.in_use) <= 1, standing
        assert len(standing.in_progress) <= 1, standing

    # ------------------------------------------------------------------ certificates

    @precondition(lambda self: self.in_use())
    @rule(adv=ADVANCE, kinds=KINDS)
    def issue_certificates(self, adv: timedelta, kinds: list[str]) -> None:
        self.advance(adv)
        app_id, card = self.card()
        self.run(
            cm.IssueCertificates, app_id, kinds=kinds, juki_pin_confirmed=True, **self.pins_for(card, kinds)
        )

    @precondition(lambda self: self.in_use())
    @rule(adv=ADVANCE, kinds=KINDS)
    def renew_certificates(self, adv: timedelta, kinds: list[str]) -> None:
        self.advance(adv)
        self.run(cm.RenewCertificates, self.card()[0], kinds=kinds)

    @precondition(lambda self: self.in_use())
    @rule(kinds=KINDS, into_window=st.integers(0, 95), minute=st.integers(0, 24 * 60 - 1))
    def renew_inside_the_window(self, kinds: list[str], into_window: int, minute: int) -> None:
        """Jump to a day inside the renewal window of the card's AUTH (if still ahead) and renew
        (R38, R39, R46): the rarer renewal paths within a short run."""
        app_id, card = self.card()
        cert_id = card.certificates.get("AUTH")
        auth = self.app.load_certificate(cert_id) if cert_id else None
        if auth is None or auth.expires_on is None:
            return
        day = renewal_window_opens(auth.expires_on) + timedelta(days=into_window)
        target = at(day.isoformat()) + timedelta(minutes=minute)
        if target > self.now:
            self.clock.set(target)
        self.run(cm.RenewCertificates, app_id, kinds=kinds)

    @precondition(lambda self: self.in_use())
    @rule(adv=ADVANCE, kind=st.sampled_from(["SIG", "AUTH", "SP-SIG", "SP-AUTH"]))
    def revoke_certificate(self, adv: timedelta, kind: str) -> None:
        self.advance(adv)
        self.run(cm.RevokeCertificate, self.card()[0], kind=kind)

    @precondition(lambda self: self.in_use())
    @rule(adv=ADVANCE, device=DEVICES)
    def issue_smartphone(self, adv: timedelta, device: str) -> None:
        self.advance(adv)
        self.run(cm.IssueSmartphoneCertificates, self.card()[0], device=device, sig_pin_confirmed=True)

    @precondition(lambda self: self.in_use() and self.live_sig())
    @rule(device=DEVICES, hours=st.integers(0, 48))
    def issue_smartphone_with_a_live_sig(self, device: str, hours: int) -> None:
        """Focused: a phone for a holder whose card carries a live SIG (R45)."""
        self.advance(timedelta(hours=hours, minutes=1))
        if self.run(cm.IssueSmartphoneCertificates, self.card()[0], device=device, sig_pin_confirmed=True):
            event("smartphone certificates issued")

    @precondition(lambda self: self.in_use())
    @rule(adv=ADVANCE, what=st.sampled_from(["suspend", "lift", "renew"]))
    def smartphone(self, adv: timedelta, what: str) -> None:
        self.advance(adv)
        app_id = self.card()[0]
        if what == "suspend":
            self.run(cm.SuspendSmartphone, app_id)
        elif what == "lift":
            self.run(cm.LiftSmartphoneSuspension, app_id)
        else:
            self.run(cm.RenewSmartphoneCertificates, app_id, sig_pin_confirmed=True)

    @precondition(lambda self: self.in_use())
    @rule(adv=ADVANCE, enabled=st.booleans())
    def face_mode(self, adv: timedelta, enabled: bool) -> None:
        self.advance(adv)
        app_id, card = self.card()
        pins: dict[str, Any] = {}
        if not enabled:
            pins = {"juki_pin": "1234", "card_details_pin": "1234"}
            if self.live_auth(card):
                pins["auth_pin"] = "1234"
            if card.age_on(self.today) < 15:
                pins["pins_set_by"] = "legal_representative"
        self.run(cm.SetFaceRecognitionMode, app_id, enabled=enabled, **pins)

    @rule(
        adv=st.integers(0, 120).map(lambda n: timedelta(minutes=n)),
        pin=st.sampled_from(["sig", "auth", "juki", "card_details"]),
        success=st.booleans(),
    )
    def pin_attempt(self, adv: timedelta, pin: str, success: bool) -> None:
        self.advance(adv)
        self.run(cm.RecordPinAttempt, self.card()[0], pin=pin, success=success)

    @precondition(lambda self: self.in_use())
    @rule(adv=ADVANCE, pin=st.sampled_from(["sig", "auth"]), kiosk=st.booleans())
    def reset_pin(self, adv: timedelta, pin: str, kiosk: bool) -> None:
        self.advance(adv)
        new_pin = PIN_VALUE[PIN_FIELD[pin]]
        channel = {"channel": "kiosk", "other_certificate_pin_known": True} if kiosk else {}
        self.run(cm.ResetPin, self.card()[0], pin=pin, new_pin=new_pin, **channel)

    # ------------------------------------------------------------------ invariants

    def certificates(self) -> list[tuple[Card, list[Certificate]]]:
        out = []
        for app_id in self.cards + self.others:
            card = self.app.get_card(app_id)
            out.append((card, certificates_of(self.app, card)))
        return out

    @invariant()
    def no_valid_certificate_on_a_card_not_in_use(self) -> None:
        """Not active: no certificate valid. Active but time has ended it (a lapse is due, not
        recorded yet): the service's answer (``certificate_validity``, which reads the card)
        is invalid by the service's ``certificate_validity`` (own history plus the card)."""
        for card, certs in self.certificates():
            due = card.due_lapses(self.today, DEFAULT_POLICIES) if card.status == "active" else []
            if card.status != "active":
                valid = [(c.kind, c.serial) for c in certs if c.is_valid(self.now)]
                assert not valid, f"is_valid on a card {card.status} (due {due}): {valid}"
            if due:
                valid = [
                    (c.kind, c.serial)
                    for c in certs
                    if self.app.certificate_validity(c.serial, self.now).valid
                ]
                assert not valid, f"certificate_validity on a card {card.status} (due {due}): {valid}"

    @invariant()
    def sig_never_valid_while_the_cards_auth_is_not(self) -> None:
        for card, certs in self.certificates():
            by_id = {c.id: c for c in certs}
            sig = by_id.get(card.certificates.get("SIG"))  # type: ignore[arg-type]
            auth = by_id.get(card.certificates.get("AUTH"))  # type: ignore[arg-type]
            if sig is None or auth is None or not sig.is_valid(self.now):
                continue
            if auth.status == "revoked" and auth.revocation_reason == "request":
                continue  # R42: the holder gave up only the AUTH
            if (
                auth.expires_on is not None
                and sig.issue_date is not None
                and auth.expires_on < sig.issue_date
            ):
                continue  # R36: no AUTH in force at the SIG's issue, so the AUTH term is ignored
            validity = auth.validity(self.now)
            assert validity.valid or validity.rule == "R43", (
                f"SIG {sig.serial} valid while AUTH {auth.serial} is not: {validity}"
            )

    @invariant()
    def certificate_events_follow_the_rules(self) -> None:
        notifications = self.app.recorder.select_notifications(start=self.scanned + 1, limit=100_000)
        for notification in notifications:
            self.scanned = notification.id
            e = self.app.mapper.to_domain_event(notification)
            if isinstance(e, CertificateRevoked):
                assert e.reason_name in RFC5280, e.reason_name
                assert e.reason_code == RFC5280[e.reason_name], (e.reason_name, e.reason_code)
                assert RULE_ID.match(e.rule)
            elif isinstance(e, CertificatePutOnHold):
                assert e.reason_code == RFC5280["certificateHold"]
            elif isinstance(e, CertificateReleased):
                assert e.reason_code == RFC5280["removeFromCRL"]
            elif isinstance(e, CertificateIssued):
                card = self.app.load_card(e.card_id)
                assert card is not None
                assert e.expires_on > e.issue_date
                if e.kind == "SIG":
                    assert age_on(card.date_of_birth, e.issue_date) >= 15, (card.date_of_birth, e.issue_date)
                    assert not card.adult_ward
                    assert not card.face_recognition_card
                    event("a SIG was issued")

    @invariant()
    def certificates_belong_to_their_card(self) -> None:
        serials: set[str] = set()
        for card, certs in self.certificates():
            for cert in certs:
                assert cert.card_id == card.id
                assert cert.serial not in serials
                serials.add(cert.serial)


SETTINGS = {
    # In memory (the unit tier runs once): MYNACARD_STATE_MACHINE_EXAMPLES runs a deeper search
    # (e.g. 2000, before a release).
    "max_examples": int(os.environ.get("MYNACARD_STATE_MACHINE_EXAMPLES", "50")),
    "stateful_step_count": 25,
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much],
}
CertificateMachine.TestCase.settings = settings(**SETTINGS)
TestCertificateStateMachine = CertificateMachine.TestCase


# ----------------------------------------------------------------------------- one transaction
