"""The person's events. Each carries the command's stamp (effective time, actor, command id)
like a card's; none carries a My Number (only holder references, the keyed hashes, and card ids).

May import: ``eventsourcing.domain`` / ``eventsourcing.utils`` and the standard library.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.utils import register_topic


class HolderState:
    """What the person's events build: the holder reference, every card filed under it (in
    filing order), and the links of a My Number change (R65)."""

    def __init__(self) -> None:
        self.holder_ref = ""
        self.card_ids: list[UUID] = []
        self.successor_ref: str | None = None
        """R65: the reference of the person's new My Number, once it changed."""
        self.predecessor_refs: list[str] = []
        """R65: the references of the person's earlier My Numbers."""
        self.resident_record_change: str | None = None
        """The person-wide cause recorded last (R64): death, resident_record_deleted, …"""
        self.forgotten_refs: list[str] = []
        """Issue 13: the holder references whose data keys ``forget`` destroyed (empty: not forgotten)."""

    @property
    def forgotten(self) -> bool:
        """The person was forgotten (消去): their personal fields read as erased from now on."""
        return bool(self.forgotten_refs)

    def linked_refs(self) -> list[str]:
        """This reference and those a My Number change linked to it directly (R65)."""
        refs = [self.holder_ref, *self.predecessor_refs]
        if self.successor_ref is not None:
            refs.append(self.successor_ref)
        return refs


class HolderOpened(Aggregate.Created):
    """The person is known to the service: the first application under this holder reference,
    the new reference of a My Number change (R65), or the derivation of a store written before
    the person was modelled (``derived``)."""

    TOPIC = "mynacard.Holder.Opened"
    holder_ref: str
    effective_at: datetime
    actor: str
    command_id: UUID
    derived: bool

    def apply(self, aggregate: Any) -> None:
        holder: HolderState = aggregate
        holder.holder_ref = self.holder_ref


class HolderEvent(Aggregate.Event):
    """Base of every person event after the first."""

    TOPIC = "mynacard.Holder.Event"
    effective_at: datetime
    actor: str
    command_id: UUID

    def apply(self, aggregate: Any) -> None:
        self.apply_to(aggregate)

    def apply_to(self, holder: HolderState) -> None:
        """Mutate the person."""


class ApplicationFiled(HolderEvent):
    """An application for a card was filed for the person (R63 checked it: no other application
    in progress; no ``new`` card while one is in use)."""

    TOPIC = "mynacard.Holder.ApplicationFiled"
    card_id: UUID
    kind: str

    def apply_to(self, holder: HolderState) -> None:
        holder.card_ids.append(self.card_id)


class CardTakenIntoUse(HolderEvent):
    """A card was handed over to the person (R62): the cards in use before it, which ended in the
    same transaction (``replaced``), returned or handled as lost (``old_card_brought``)."""

    TOPIC = "mynacard.Holder.CardTakenIntoUse"
    card_id: UUID
    replaced: list[UUID]
    old_card_brought: bool | None

    def apply_to(self, holder: HolderState) -> None:
        if self.card_id not in holder.card_ids:
            holder.card_ids.append(self.card_id)


class ResidentRecordChanged(HolderEvent):
    """A person-wide cause (R64: death or other deletion of the resident record, a new resident
    code, a new My Number) ended every card in use (``ended``) and voided every application in
    progress (``voided``) of the person, all with this effective time, in one transaction."""

    TOPIC = "mynacard.Holder.ResidentRecordChanged"
    reason: str
    rule: str
    ended: list[UUID]
    voided: list[UUID]

    def apply_to(self, holder: HolderState) -> None:
        holder.resident_record_change = self.reason


class HolderLinked(HolderEvent):
    """R65: the person's My Number changed from the reference ``from_ref`` to ``to_ref``. Recorded
    on both references' aggregates: the person stays the same."""

    TOPIC = "mynacard.Holder.Linked"
    from_ref: str
    to_ref: str

    def apply_to(self, holder: HolderState) -> None:
        if holder.holder_ref == self.from_ref:
            holder.successor_ref = self.to_ref
        elif self.from_ref not in holder.predecessor_refs:
            holder.predecessor_refs.append(self.from_ref)


class EarlierCardsFiled(HolderEvent):
    """The cards of a store written before the person was modelled, filed under the person by
    ``mynacard migrate-holders`` (in the order they were applied for)."""

    TOPIC = "mynacard.Holder.EarlierCardsFiled"
    card_ids: list[UUID]

    def apply_to(self, holder: HolderState) -> None:
        holder.card_ids.extend(c for c in self.card_ids if c not in holder.card_ids)


class PersonForgotten(HolderEvent):
    """消去 (issue 13): the person's data keys were destroyed, so their personal fields (date of
    birth, masked My Number, identity documents, …) read as erased in every event and view from
    now on; lifecycle facts stay. Who (``actor``), when (the stamp) and why (``reason``); the
    references (``holder_refs``: every reference of the person, R65) and the cards
    (``card_ids``) it concerned, and when the last of them ended (``last_ended_at``). Recorded on
    every reference's aggregate; carries no personal data."""

    TOPIC = "mynacard.Holder.Forgotten"
    reason: str
    holder_refs: list[str]
    card_ids: list[UUID]
    last_ended_at: datetime

    def apply_to(self, holder: HolderState) -> None:
        holder.forgotten_refs = list(self.holder_refs)


ALL_HOLDER_EVENTS: tuple[type[Any], ...] = (
    HolderOpened,
    ApplicationFiled,
    CardTakenIntoUse,
    ResidentRecordChanged,
    HolderLinked,
    EarlierCardsFiled,
    PersonForgotten,
)
"""Every person event class, in the order docs/events.md lists them."""

for _cls in ALL_HOLDER_EVENTS:
    register_topic(_cls.TOPIC, _cls)
