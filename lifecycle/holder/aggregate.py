"""The person's aggregate: ``Holder`` (本人), keyed by its holder reference (the id is derived from
it, so two clerks opening one person at once collide and one of them is judged again).

Every method checks, then triggers; the cards it names are changed by the caller in the same
save (the command handler), so the person and the cards are never out of step.

May import: ``eventsourcing.domain``, the standard library, ``lifecycle`` leaf modules and the
other modules of ``lifecycle.holder``.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from lifecycle.holder import events as ev
from lifecycle.holder import rules
from lifecycle.holder.events import HolderState
from lifecycle.holder.standing import Standing
from lifecycle.identifiers import holder_id_for
from lifecycle.stamp import Stamp


class Holder(HolderState, Aggregate):
    """本人: the person behind one holder reference."""

    TOPIC = "mynacard.Holder"
    class_version = 2
    """2 (issue 13): ``forgotten_refs``, the references ``mynacard forget`` erased."""

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """Version 1 → 2: a person's state stored before erasure existed has forgotten nothing."""
        state.setdefault("forgotten_refs", [])

    class Created(Aggregate.Created):
        TOPIC = "mynacard.Holder.Created"

    class Event(Aggregate.Event):
        TOPIC = "mynacard.Holder.BaseEvent"

    @classmethod
    def open(cls, holder_ref: str, stamp: Stamp, *, derived: bool = False) -> Holder:
        holder: Holder = cls._create(
            ev.HolderOpened,
            id=holder_id_for(holder_ref),
            **stamp.event_fields(),
            holder_ref=holder_ref,
            derived=derived,
        )
        return holder

    def _trigger(self, event_class: type[ev.HolderEvent], stamp: Stamp, **fields: Any) -> None:
        self.trigger_event(event_class, **stamp.event_fields(), **fields)

    # ------------------------------------------------------------------ procedures

    def file_application(self, card_id: UUID, kind: str, standing: Standing, stamp: Stamp) -> None:
        """R63 (and R65): the person may file this application now (and was not forgotten, issue 13)."""
        rules.check_not_forgotten(self.forgotten)
        rules.check_application(standing, kind, number_replaced=self.successor_ref is not None)
        self._trigger(ev.ApplicationFiled, stamp, card_id=card_id, kind=kind)

    def take_into_use(
        self, card_id: UUID, replaced: list[UUID], old_card_brought: bool | None, stamp: Stamp
    ) -> None:
        """R62: the card was handed over; ``replaced`` ended in the same save."""
        self._trigger(
            ev.CardTakenIntoUse, stamp, card_id=card_id, replaced=replaced, old_card_brought=old_card_brought
        )

    def record_resident_record_change(
        self, reason: str, rule: str, ended: list[UUID], voided: list[UUID], stamp: Stamp
    ) -> None:
        """R64: a person-wide cause ended ``ended`` and voided ``voided`` in the same save."""
        self._trigger(ev.ResidentRecordChanged, stamp, reason=reason, rule=rule, ended=ended, voided=voided)

    def link(self, from_ref: str, to_ref: str, stamp: Stamp) -> None:
        """R65: the person's My Number changed; both references name this person."""
        self._trigger(ev.HolderLinked, stamp, from_ref=from_ref, to_ref=to_ref)

    def forget(
        self,
        cards: list[rules.ErasureCard],
        card_ids: list[UUID],
        holder_refs: list[str],
        reason: str,
        forget_after_days: int,
        stamp: Stamp,
    ) -> None:
        """消去 (issue 13): the person's personal data is erased (the store destroys the data keys
        of ``holder_refs`` once this is saved), if every card ended long enough ago."""
        last = rules.check_forget(
            cards, stamp.effective_at, forget_after_days, already_forgotten=self.forgotten
        )
        self._trigger(
            ev.PersonForgotten,
            stamp,
            reason=reason,
            holder_refs=holder_refs,
            card_ids=card_ids,
            last_ended_at=last,
        )

    def record_forgotten(self, of: ev.PersonForgotten, stamp: Stamp) -> None:
        """The same erasure, on another reference of the person (R65), checked on the first."""
        self._trigger(
            ev.PersonForgotten,
            stamp,
            reason=of.reason,
            holder_refs=of.holder_refs,
            card_ids=of.card_ids,
            last_ended_at=of.last_ended_at,
        )

    def derive(self, card_ids: list[UUID], stamp: Stamp) -> None:
        """File the cards of a store written before the person was modelled."""
        new = [c for c in card_ids if c not in self.card_ids]
        if new:
            self._trigger(ev.EarlierCardsFiled, stamp, card_ids=new)
