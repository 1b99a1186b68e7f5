"""The procedures that end a card (spec §2.3, §2.6): a loss report (紛失・廃止届), a return
(返納), invalidation (失効), supersession by a new card, the plastic card handed in after the
end; and recording what time has made due (lapses, R13–R30; expiry notices, R44).

May import: the standard library, ``lifecycle`` leaf modules, and ``lifecycle.card`` (events,
rules, lapses, state, vocabulary, procedures.base); never the aggregate.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

from lifecycle.card import events as ev
from lifecycle.card import lapses, rules
from lifecycle.card.procedures.base import ANYONE_WITH_PAPERS, Procedures
from lifecycle.card.vocabulary import PRE_HANDOVER, Lapse
from lifecycle.decisions import Policies
from lifecycle.filers import Filer
from lifecycle.stamp import Stamp


class EndProcedures(Procedures):
    """Procedures that end a card, or record that time has ended it."""

    def report_loss(self, lost_at_home: bool, police_report: bool, filer: Filer, stamp: Stamp) -> None:
        """紛失・廃止届 (R51): needs the police 遺失届 receipt unless lost at home; by the holder,
        a legal representative (R18) or an agent with a 委任状. ``stamp.effective_at`` is when
        the card was lost."""
        self._require_live("R51", "a loss report", stamp.on)
        rules.ends.check_loss_report(lost_at_home, police_report)
        self._check_filer(filer, ANYONE_WITH_PAPERS, "R51", "a loss report", stamp.on)
        self._trigger(
            ev.Lost, stamp, lost_at_home=lost_at_home, police_report=police_report, filed_by=filer.role
        )

    def return_card(self, reason: str, filer: Filer, stamp: Stamp) -> None:
        """返納 (R52): voluntary at any time; a card returned for moving abroad is handed back
        marked as a record."""
        self._refuse_if_ended("a return", stamp.on, hand_in=True)
        rules.ends.check_return(self.status, reason)
        self._check_filer(filer, ANYONE_WITH_PAPERS, "R52", "a return", stamp.on)
        self._trigger(
            ev.Returned,
            stamp,
            reason=reason,
            filed_by=filer.role,
            handed_back_as_record=reason == "moving_abroad",
        )

    def invalidate(self, reason: str, stamp: Stamp, new_holder_ref: str | None = None) -> None:
        """失効 for the causes of R31/R32: death or deletion of the resident record, a new resident
        code, a new My Number, the end of the stay. Before receipt, the application is void."""
        self._refuse_if_ended("an invalidation", stamp.on)
        rule = rules.ends.invalidation_rule(
            reason, new_holder_ref, residence_status=self.residence_status, stay_until=self.stay_until
        )
        if self.status in PRE_HANDOVER:
            self._trigger(
                ev.ApplicationVoided, stamp, reason=reason, rule=rule, new_holder_ref=new_holder_ref
            )
            return
        self._trigger(ev.Invalidated, stamp, reason=reason, rule=rule, new_holder_ref=new_holder_ref)

    def end_as_replaced(self, by_card_id: UUID, brought: bool, stamp: Stamp) -> None:
        """R62: a new card of the same person was handed over; this one, still in use, ends at that
        handover: returned (reason ``replaced``) when brought, handled as lost when not."""
        self._require_live("R62", "ending a card replaced at a handover", stamp.on)
        if brought:
            self._trigger(
                ev.Returned,
                stamp,
                reason="replaced",
                filed_by="holder",
                handed_back_as_record=False,
                replaced_by=by_card_id,
            )
        else:
            self._trigger(
                ev.Lost,
                stamp,
                lost_at_home=False,
                police_report=False,
                filed_by="holder",
                replaced_by=by_card_id,
            )

    def collect_physical_card(self, reason: str, stamp: Stamp) -> None:
        """The plastic card of a card that has already ended is handed in (R32, R51)."""
        rules.ends.check_physical_collection(self.ended, self.physically_collected)
        self._trigger(ev.PhysicalCardCollected, stamp, reason=reason)

    # ------------------------------------------------------------------ what time made due

    def record_lapses(self, stamp: Stamp, policies: Policies, until: date | None = None) -> list[Lapse]:
        """Record the time-driven consequence due by ``until`` (default: the recorded date), if
        any. Idempotent: a card that has ended has nothing more due."""
        due = lapses.due_lapses(self, until or stamp.today, policies)
        for lapse in due:
            self._record(lapse, stamp)
        return due

    def record_expiry_notices(self, stamp: Stamp, until: date, certificate_expiries: dict[str, date]) -> None:
        """R44: record the expiry notices due by ``until`` (none on a card that has ended)."""
        for subject, expires_on in lapses.due_expiry_notices(self, until, certificate_expiries):
            self._trigger(ev.ExpiryNoticeDue, stamp, subject=subject, expires_on=expires_on)

    def record_expiry_notice_sent(self, subject: str, expires_on: date, stamp: Stamp) -> None:
        """R44: J-LIS mailed the expiry notice of ``subject`` (card, SIG or AUTH) expiring on
        ``expires_on``: from a month before the renewal window opens, once per expiry."""
        self._require_live("R44", "an expiry notice", stamp.on)
        key = f"{subject}:{expires_on.isoformat()}"
        rules.ends.check_expiry_notice_sent(stamp.on, expires_on, key in self.expiry_notices_sent)
        self._trigger(ev.ExpiryNoticeSent, stamp, subject=subject, expires_on=expires_on)

    def record_expiry_notice_undelivered(self, subject: str, expires_on: date, stamp: Stamp) -> None:
        """R44: the notice of ``subject`` came back undelivered."""
        self._refuse_if_ended("an undelivered expiry notice")
        key = f"{subject}:{expires_on.isoformat()}"
        rules.ends.check_expiry_notice_undelivered(
            key in self.expiry_notices_sent, key in self.expiry_notices_undelivered
        )
        self._trigger(ev.ExpiryNoticeUndelivered, stamp, subject=subject, expires_on=expires_on)

    def record_expiry_notice_due(self, stamp: Stamp) -> None:
        """R44: the card's 有効期限通知書 is due about three months before expiry."""
        self._require_live("R44", "an expiry notice")
        assert self.expires_on is not None
        self._trigger(ev.ExpiryNoticeDue, stamp, subject="card", expires_on=self.expires_on)
