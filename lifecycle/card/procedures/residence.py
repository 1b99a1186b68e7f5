"""The procedures of residence (spec §2.2–2.3): moving out and in (転出・転入), overseas
continued use (国外継続利用), and a foreign resident's period of stay (在留期間).

May import: the standard library, ``lifecycle`` leaf modules, and ``lifecycle.card`` (events,
rules, lapses, state, vocabulary, procedures.base); never the aggregate.
"""

from __future__ import annotations

from datetime import date

from lifecycle.calendar import last_day_within, validity_ends_at
from lifecycle.card import events as ev
from lifecycle.card import lapses, rules
from lifecycle.card.procedures.base import Procedures
from lifecycle.card.vocabulary import PRE_HANDOVER
from lifecycle.decisions import CARD_INFO_CHANGE_DAYS_AFTER_MOVE_IN
from lifecycle.filers import Filer
from lifecycle.stamp import Stamp
from lifecycle.validity import extended_stay_expiry, special_extension_expiry


class ResidenceProcedures(Procedures):
    """Procedures that follow the holder's residence."""

    def move_out(self, planned_move_out_on: date, overseas: bool, stamp: Stamp) -> None:
        """転出届. Before receipt the application is void (R11). Abroad, the card ends on the
        move-out date unless overseas continued use is registered by the day before (R27);
        moving again before the card update after a move-in ends it on the move-out date (R30).
        A move-out filed in advance takes effect on its date (recorded by the lapse then)."""
        self._refuse_if_ended("a move-out", stamp.on)
        if self.status in PRE_HANDOVER:
            self._trigger(ev.MovedOut, stamp, planned_move_out_on=planned_move_out_on, overseas=overseas)
            self._trigger(ev.ApplicationVoided, stamp, reason="moved_out", rule="R11")
            return
        rules.residence.check_move_out(self.awaiting_move_in_since, self.overseas_move_out_on)
        self._trigger(ev.MovedOut, stamp, planned_move_out_on=planned_move_out_on, overseas=overseas)
        for lapse in lapses.live_lapses(self, stamp.on):
            self._record(lapse, stamp)

    def file_move_in(self, planned_move_out_on: date, moved_in_on: date, stamp: Stamp) -> None:
        """転入届 (R28, R29): filed late, the card is invalid from the day after the deadline;
        in time, the card update is due within 90 days (R30). The 30 days run from the move-out
        recorded on the card, if any; a holder returning from abroad under overseas continued
        use has only the 14 days after moving in (R29: 国内、国外問わず)."""
        self._refuse_if_ended("a move-in", stamp.on, ignore="late_move_in")
        self._require_live("R28", "a move-in")
        filed_on = stamp.on
        rules.residence.check_move_in(planned_move_out_on, moved_in_on, filed_on, self.awaiting_move_in_since)
        last_day, rule = rules.residence.last_move_in_day(
            planned_move_out_on, moved_in_on, self.overseas_continued_use
        )
        in_time = filed_on <= last_day
        self._trigger(
            ev.MoveInFiled,
            stamp,
            planned_move_out_on=planned_move_out_on,
            moved_in_on=moved_in_on,
            filed_on=filed_on,
            last_day_to_file=last_day,
            info_change_due_by=last_day_within(filed_on, CARD_INFO_CHANGE_DAYS_AFTER_MOVE_IN),
            in_time=in_time,
        )
        if not in_time:
            self._trigger(
                ev.Invalidated,
                stamp.effective(validity_ends_at(last_day)),
                reason="late_move_in",
                rule=rule,
                new_holder_ref=None,
            )

    def register_overseas_continued_use(self, planned_move_out_on: date, stamp: Stamp) -> None:
        """国外継続利用 (R27): by the day before the planned move-out; Japanese nationals only."""
        self._require_live("R27", "overseas continued use", stamp.on)
        rules.residence.check_overseas_continued_use(
            self.residence_status, self.overseas_move_out_on, planned_move_out_on, stamp.on
        )
        self._trigger(ev.OverseasContinuedUseRegistered, stamp, planned_move_out_on=planned_move_out_on)

    def _stay_capped_expiry(self, rule: str) -> date:
        return rules.residence.require_stay_capped(
            rule, self.residence_status, self.stay_until, self.expires_on, self.age_based_expires_on
        )

    def extend_stay(self, new_stay_until: date, filer: Filer, stamp: Stamp, *, pin_confirmed: bool) -> None:
        """在留期間更新 (R23): the card runs to the new stay end, capped at the 10th (5th) birthday
        after the original issue date; only before expiry; holder or household member."""
        self._require_live("R23", "a validity change")
        rules.residence.check_not_expired_for_extension(self._stay_capped_expiry("R23"), stamp.on)
        self._refuse_if_ended("a validity change", stamp.on)
        self._check_filer(filer, ("holder", "household_member"), "R23", "a validity change", stamp.on)
        rules.residence.check_stay_extension(new_stay_until, self.stay_until, pin_confirmed)
        assert self.age_based_expires_on is not None
        expires_on = extended_stay_expiry(new_stay_until, self.age_based_expires_on)
        self._trigger(ev.StayExtended, stamp, new_stay_until=new_stay_until, expires_on=expires_on)

    def grant_special_extension(self, evidence: str, stamp: Stamp) -> None:
        """特例期間 (R24): +2 months while a stay renewal is pending, once only, before expiry.
        Never past the card's 10th (5th) birthday limit (R19), which no stay can extend."""
        self._require_live("R24", "a special extension")
        expires_on = self._stay_capped_expiry("R24")
        rules.residence.check_special_extension_allowed(self.special_extension_used, expires_on, stamp.on)
        self._refuse_if_ended("a special extension", stamp.on)
        rules.residence.check_special_extension_evidence(evidence)
        extended = min(special_extension_expiry(expires_on), self.age_based_expires_on or date.max)
        self._trigger(ev.SpecialExtensionGranted, stamp, evidence=evidence, expires_on=extended)
