"""The procedures about what the card carries (spec §2.4–2.7): its certificates (電子証明書,
R34, R40–R42), the smartphone certificates (R45–R48), its PINs (暗証番号, R54–R57) and the
face-recognition mode (R58). The certificates themselves are ``lifecycle.certificate``.

May import: the standard library, ``lifecycle`` leaf modules, and ``lifecycle.card`` (events,
rules, lapses, state, vocabulary, procedures.base); never the aggregate.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from uuid import UUID

from lifecycle.card import events as ev
from lifecycle.card import rules
from lifecycle.card.procedures.base import ANYONE_WITH_PAPERS, Procedures
from lifecycle.certificate_rules import SIG_MIN_AGE
from lifecycle.errors import RuleViolation
from lifecycle.filers import Filer
from lifecycle.pins import LOCKOUT_AFTER
from lifecycle.stamp import Stamp


class CertificateAndPinProcedures(Procedures):
    """Procedures about the card's certificates and PINs."""

    def add_certificate(self, kind: str, serial: str, certificate_id: UUID, stamp: Stamp) -> None:
        """Keep track of a certificate issued onto this card (R34)."""
        self._require_live("R34", "issuing a certificate")
        self._trigger(ev.CertificateAdded, stamp, kind=kind, serial=serial, certificate_id=certificate_id)

    def check_certificate_request(
        self,
        kinds: Sequence[str],
        filer: Filer,
        juki_pin_confirmed: bool,
        stamp: Stamp,
        *,
        renewal: bool = False,
        inquiry_answered: bool = False,
    ) -> None:
        """R34: certificates go onto a valid card whose face details are up to date, with the
        住基 PIN; an agent's request goes through an inquiry letter (not the same day); a SIG is
        applied for by the holder himself (R41), an under-15's AUTH by the legal representative."""
        self._require_active("R34", "issuing certificates", stamp.on)
        rules.certificates.check_certificate_request(
            kinds,
            filer,
            juki_pin_confirmed,
            renewal=renewal,
            face_details_outdated=self.awaiting_move_in_since is not None
            or self.info_change_due_by is not None
            or self.pending_inquiry is not None,
            holder_under_15=self.age_on(stamp.on) < SIG_MIN_AGE,
            holder_adult_ward=self.adult_ward,
            face_recognition_card=self.face_recognition_card,
            inquiry_answered=inquiry_answered
            and self._inquiry_answered("certificates", ",".join(sorted(kinds)), "R34", stamp.on),
        )

    def send_agent_inquiry(self, procedure: str, subject: str, filer: Filer, stamp: Stamp) -> None:
        """照会書 (R34, R56; 001/002): an agent or a household member asks for AUTH (a SIG only the
        holder applies for, R41) or a PIN reset; the inquiry letter goes to the holder and the agent
        comes back with the answer on a later day."""
        rule = "R34" if procedure == "certificates" else "R56"
        self._require_live(rule, "an inquiry letter", stamp.on)
        rules.certificates.check_agent_inquiry(procedure, subject, filer)
        if procedure == "certificates":
            self._require_active(rule, "an inquiry letter for certificates", stamp.on)
        self._check_filer(filer, ("agent", "household_member"), rule, "an inquiry letter", stamp.on)
        self._trigger(
            ev.AgentInquiryLetterSent, stamp, procedure=procedure, subject=subject, filed_by=filer.role
        )

    def close_agent_inquiry(self, procedure: str, subject: str, stamp: Stamp) -> None:
        """The request an inquiry letter was sent for was carried out with the holder's answer."""
        self._trigger(ev.AgentInquiryAnswered, stamp, procedure=procedure, subject=subject)

    def _inquiry_answered(self, procedure: str, subject: str, rule: str, on: date) -> bool:
        """The agent brings the answer to an inquiry letter sent for this request on an earlier day."""
        key = f"{procedure}:{subject}@"
        sent = [e for e in self.agent_inquiries if e.startswith(key)]
        if not sent:
            raise RuleViolation(
                rule,
                f"no inquiry letter was sent for this request ({procedure} {subject})",
                hint="send it first: mynacard send-inquiry CARD --procedure … --subject …",
            )
        if date.fromisoformat(sent[-1].split("@", 1)[1]) >= on:
            raise RuleViolation(
                rule, "the answer to an inquiry letter is brought on a later day, not the same day"
            )
        return True

    def check_revocation_request(self, filer: Filer, stamp: Stamp) -> None:
        """R42: 失効申請 by the holder, a legal representative (R18) or an agent with a 委任状."""
        self._require_live("R42", "a revocation request", stamp.on)
        self._check_filer(filer, ANYONE_WITH_PAPERS, "R42", "a revocation request", stamp.on)

    def check_smartphone_registration(
        self, device: str, device_has_live_certificates: bool, stamp: Stamp
    ) -> None:
        """R45: smartphone certificates go onto one phone of a holder whose card is in use."""
        self._require_active("R45", "smartphone certificates", stamp.on)
        rules.certificates.check_smartphone_registration(
            device,
            device_has_live_certificates,
            registered_device=self.smartphone_device,
            face_recognition_card=self.face_recognition_card,
        )

    def register_smartphone(self, device: str, stamp: Stamp) -> None:
        """R45: the phone now carries this card's smartphone certificates."""
        self._require_active("R45", "registering a phone", stamp.on)
        self._trigger(ev.SmartphoneRegistered, stamp, device=device)

    def suspend_smartphone(self, has_live_certificates: bool, stamp: Stamp) -> None:
        """R48: a lost phone's certificates are suspended (一時利用停止), any time."""
        self._require_live("R48", "suspending smartphone certificates", stamp.on)
        rules.certificates.check_smartphone_suspension(
            has_live_certificates, self.smartphone_device, self.smartphone_suspended
        )
        self._trigger(ev.SmartphoneSuspended, stamp)

    def lift_smartphone_suspension(self, stamp: Stamp) -> None:
        """R48: the phone was found: SP-AUTH restored, SP-SIG reissued."""
        self._require_active("R48", "lifting a smartphone suspension", stamp.on)
        rules.certificates.check_smartphone_suspension_lifted(self.smartphone_suspended)
        self._trigger(ev.SmartphoneSuspensionLifted, stamp)

    def require_smartphone_renewal(self, stamp: Stamp) -> None:
        """R46: renewing the card certificates does not renew the smartphone ones."""
        self._require_live("R46", "a smartphone renewal notice", stamp.on)
        self._trigger(ev.SmartphoneRenewalRequired, stamp)

    # ------------------------------------------------------------------ PINs (§2.7)

    def set_certificate_pins(
        self, kinds: Sequence[str], pins: frozenset[str], set_by: str, stamp: Stamp, *, required: bool = True
    ) -> None:
        """R54: new certificates come with their PINs (never stored)."""
        self._require_live("R54", "setting PINs", stamp.on)
        if required or pins:
            self._check_pins(kinds, pins, set_by, stamp.on, with_card_pins=False)
        if pins:
            self._trigger(ev.PinsSet, stamp, pins=sorted(pins), set_by=set_by)

    def set_face_recognition(
        self, enabled: bool, pins: frozenset[str], set_by: str, auth_live: bool, stamp: Stamp
    ) -> None:
        """R58: to a face-recognition card (no PINs, no SIG: the policy revokes it), or back to a
        PIN card, which needs its PINs set again (R54)."""
        self._require_active("R58", "switching the face-recognition mode", stamp.on)
        rules.pins.check_face_recognition_switch(enabled, self.face_recognition_card, pins)
        if enabled:
            self._trigger(ev.FaceRecognitionModeSet, stamp, enabled=True)
            return
        rules.pins.check_pins_set(
            ["AUTH"] if auth_live else [],
            pins,
            set_by,
            holder_age=self.age_on(stamp.on),
            face_recognition_card=False,
        )
        self._trigger(ev.FaceRecognitionModeSet, stamp, enabled=False)
        self._trigger(ev.PinsSet, stamp, pins=sorted(pins), set_by=set_by)

    def _pin_failures(self, pin: str, rule: str) -> int:
        return rules.pins.pin_failures(self.pins, pin, rule, self.face_recognition_card)

    def record_pin_attempt(self, pin: str, success: bool, stamp: Stamp) -> None:
        """R55: consecutive wrong entries lock the PIN (5 for SIG, 3 for the others); a correct
        entry resets the count; no reset by date or time."""
        self._require_live("R55", "a PIN entry", stamp.on)
        failures = self._pin_failures(pin, "R55")
        rules.pins.check_not_locked(pin, failures)
        if success:
            if failures:
                self._trigger(ev.PinCounterReset, stamp, pin=pin)
            return
        self._trigger(ev.PinFailed, stamp, pin=pin, failures=failures + 1)
        if failures + 1 >= LOCKOUT_AFTER[pin]:
            self._trigger(ev.PinLocked, stamp, pin=pin)

    def reset_pin(
        self,
        pin: str,
        channel: str,
        stamp: Stamp,
        *,
        filer: Filer,
        forgotten: bool,
        additional_id: bool,
        other_certificate_pin_known: bool,
        inquiry_answered: bool = False,
    ) -> None:
        """R56: at the counter with ID (one more for a forgotten PIN), or at a kiosk for a SIG or
        AUTH PIN when the other one is known and not locked; never by phone; an agent goes
        through an inquiry letter."""
        self._require_live("R56", "a PIN reset", stamp.on)
        self._pin_failures(pin, "R56")
        answered = inquiry_answered and self._inquiry_answered("pin_reset", pin, "R56", stamp.on)
        rules.pins.check_pin_reset(
            pin,
            channel,
            filer,
            self.pins,
            forgotten=forgotten,
            additional_id=additional_id,
            other_certificate_pin_known=other_certificate_pin_known,
            holder_under_15=self.age_on(stamp.on) < SIG_MIN_AGE,
            holder_adult_ward=self.adult_ward,
            inquiry_answered=answered,
        )
        self._trigger(ev.PinReset, stamp, pin=pin, channel=channel)
        if answered:
            self._trigger(ev.AgentInquiryAnswered, stamp, procedure="pin_reset", subject=pin)

    def change_pin(self, pin: str, channel: str, stamp: Stamp) -> None:
        """R57: at the counter every PIN; at home all but the 住基 PIN; a locked PIN is reset."""
        self._require_live("R57", "a PIN change", stamp.on)
        rules.pins.check_pin_change(pin, channel, self._pin_failures(pin, "R57"))
        self._trigger(ev.PinChanged, stamp, pin=pin, channel=channel)
