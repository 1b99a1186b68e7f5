"""What every procedure of the card shares: the guards on its state (ended, lapsed, not yet in
use, suspended: ``lifecycle.card.rules.status``), the filer check, and triggering events
with the command's stamp.

The procedures are grouped by spec section into mixins of ``Procedures``; ``Card``
(``lifecycle.card.aggregate``) combines them with ``eventsourcing``'s ``Aggregate``, which
provides ``trigger_event``.

May import: the standard library, ``lifecycle`` leaf modules, and ``lifecycle.card`` (events,
rules, lapses, state, vocabulary); never the aggregate.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from lifecycle.card import events as ev
from lifecycle.card import lapses, rules
from lifecycle.card.state import CardState
from lifecycle.card.vocabulary import PRE_HANDOVER, Lapse
from lifecycle.fees import Fee
from lifecycle.filers import Filer, FilerRole, check_filer
from lifecycle.stamp import Stamp

ANYONE_WITH_PAPERS: tuple[FilerRole, ...] = ("holder", "legal_representative", "agent")
"""R12, R42, R51, R52: the holder, a legal representative (R18) or an agent with a 委任状."""


class Procedures(CardState):
    """The card's state, with the guards and helpers its procedures share."""

    if TYPE_CHECKING:

        def trigger_event(self, event_class: type[Any], **kwargs: Any) -> None:
            """Provided by ``eventsourcing.domain.Aggregate``."""

    def _trigger(self, event_class: type[ev.CardEvent], stamp: Stamp, **fields: Any) -> None:
        self.trigger_event(event_class, **stamp.event_fields(), **fields)

    def _refuse_if_ended(
        self, procedure: str, on: date | None = None, *, ignore: str = "", hand_in: bool = False
    ) -> None:
        """Refuse when the card has ended, or (given the effective date ``on``) when time has
        already ended it and nobody recorded the lapse yet: validity follows the stored dates."""
        rules.status.refuse_if_ended(self.ended, procedure, hand_in=hand_in)
        if on is not None and self.status not in PRE_HANDOVER:
            rules.status.refuse_if_lapsed(lapses.live_lapses(self, on), procedure, ignore=ignore)

    def _require_live(self, rule: str, procedure: str, on: date | None = None) -> None:
        self._refuse_if_ended(procedure, on)
        rules.status.require_handed_over(self.status, rule, procedure)

    def _require_active(self, rule: str, procedure: str, on: date | None = None) -> None:
        self._require_live(rule, procedure, on)
        rules.status.require_not_suspended(self.status, procedure)

    def _check_filer(
        self, filer: Filer, allowed: Sequence[FilerRole], rule: str, procedure: str, on: date
    ) -> None:
        check_filer(
            filer,
            allowed=allowed,
            rule=rule,
            procedure=procedure,
            holder_under_15=self.age_on(on) < 15,
            holder_adult_ward=self.adult_ward,
        )

    def _certificate_plan(self, on: date) -> tuple[list[str], dict[str, tuple[str, str]]]:
        return rules.certificates.certificate_plan(
            self.date_of_birth,
            on,
            wants_user_certificate=self.wants_user_certificate,
            wants_signature_certificate=self.wants_signature_certificate,
            adult_ward=self.adult_ward,
            face_recognition_card=self.face_recognition_card,
        )

    def _check_pins(
        self,
        kinds: Sequence[str],
        given: frozenset[str],
        set_by: str,
        on: date,
        *,
        with_card_pins: bool = True,
    ) -> None:
        rules.pins.check_pins_set(
            kinds,
            given,
            set_by,
            holder_age=self.age_on(on),
            face_recognition_card=self.face_recognition_card,
            with_card_pins=with_card_pins,
        )

    def _assess(self, fee: Fee, stage: str, stamp: Stamp) -> None:
        self._trigger(
            ev.FeeAssessed,
            stamp,
            amount_yen=fee.amount_yen,
            card_yen=fee.card_yen,
            certificate_yen=fee.certificate_yen,
            fault=fee.fault,
            reason=fee.reason,
            rule=fee.rule,
            stage=stage,
        )

    def _record(self, lapse: Lapse, stamp: Stamp) -> None:
        at = stamp.effective(lapse.effective_at)
        if lapse.kind == "not_collected":
            self._trigger(ev.ApplicationVoided, at, reason="not_collected", rule="R13")
            self._trigger(ev.CardDestroyed, at, reason="not_collected")
        elif lapse.kind == "expired":
            assert self.expires_on is not None
            basis = "stay" if self.expiry_capped_by_stay else "age"
            self._trigger(ev.Expired, at, expired_on=self.expires_on + timedelta(days=1), basis=basis)
        else:
            reason = lapses.INVALIDATION_REASON[lapse.kind]
            self._trigger(ev.Invalidated, at, reason=reason, rule=lapse.rule, new_holder_ref=None)
