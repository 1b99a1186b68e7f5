"""Events of the card (マイナンバーカード) aggregate.

Past tense, one fact per event, explicit stable topics (``mynacard.Card.<Name>``) so modules can
move without orphaning stored events: stored events are read by topic, so a topic never
changes. Every event carries:

- ``effective_at``: when it happened in the world (JST, D13), set by the command;
- ``timestamp``: when the service recorded it (the library's recorded time);
- ``actor``: who recorded it; ``command_id``: the command that caused it.

An event only mutates the card's state (``lifecycle.card.state.CardState``); every rule is
checked before it is triggered (``lifecycle.card.rules``, called by the procedures), so
replaying old events never depends on today's rules. The modules follow the spec's sections, like the rules.

May import: ``eventsourcing.domain`` / ``eventsourcing.utils``, the standard library and
``lifecycle.card.vocabulary`` and ``lifecycle.card.state``; never the aggregate.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.utils import register_topic

from lifecycle.card.events.application import (
    Accepted,
    ApplicationCancelled,
    ApplicationVoided,
    Applied,
    ArrivalNoticeLeft,
    CardDestroyed,
    CardMailed,
    FeeAssessed,
    FeePaid,
    Issued,
    JukiCardCollected,
    MailReturned,
    PickupNoticeResent,
    PickupNoticeSent,
    PickupReminderSent,
    PickupReserved,
    Produced,
    ProxyHandoverNotified,
)
from lifecycle.card.events.base import CardEvent
from lifecycle.card.events.certificates_and_pins import (
    AgentInquiryAnswered,
    AgentInquiryLetterSent,
    CertificateAdded,
    CertificateWithheld,
    FaceRecognitionModeSet,
    PinChanged,
    PinCounterReset,
    PinFailed,
    PinLocked,
    PinReset,
    PinsSet,
    SmartphoneRegistered,
    SmartphoneRenewalRequired,
    SmartphoneSuspended,
    SmartphoneSuspensionLifted,
)
from lifecycle.card.events.ends import (
    Expired,
    ExpiryNoticeDue,
    ExpiryNoticeSent,
    ExpiryNoticeUndelivered,
    Invalidated,
    Lost,
    PhysicalCardCollected,
    Returned,
    Superseded,
)
from lifecycle.card.events.in_use import (
    CARD_INFORMATION_EVENTS,
    AdditionalNotesFieldFull,
    AddressChanged,
    CardInformationChanged,
    DateOfBirthChanged,
    FormerSurnameChanged,
    InquiryAnswered,
    InquiryLetterSent,
    NameChanged,
    SexChanged,
    Suspended,
    SuspensionLifted,
)
from lifecycle.card.events.residence import (
    MovedOut,
    MoveInFiled,
    OverseasContinuedUseRegistered,
    SpecialExtensionGranted,
    StayExtended,
)
from lifecycle.card.vocabulary import PendingInquiry

ALL_CARD_EVENTS: tuple[type[Any], ...] = (
    CardEvent,
    Applied,
    JukiCardCollected,
    FeeAssessed,
    FeePaid,
    Accepted,
    Produced,
    PickupNoticeSent,
    PickupReserved,
    CardMailed,
    ArrivalNoticeLeft,
    MailReturned,
    PickupNoticeResent,
    PickupReminderSent,
    Issued,
    ProxyHandoverNotified,
    ApplicationCancelled,
    ApplicationVoided,
    CardDestroyed,
    Suspended,
    SuspensionLifted,
    CardInformationChanged,
    AddressChanged,
    NameChanged,
    DateOfBirthChanged,
    SexChanged,
    FormerSurnameChanged,
    InquiryLetterSent,
    InquiryAnswered,
    MovedOut,
    MoveInFiled,
    OverseasContinuedUseRegistered,
    StayExtended,
    SpecialExtensionGranted,
    Lost,
    Returned,
    Invalidated,
    AdditionalNotesFieldFull,
    Expired,
    Superseded,
    PhysicalCardCollected,
    ExpiryNoticeDue,
    ExpiryNoticeSent,
    ExpiryNoticeUndelivered,
    CertificateAdded,
    CertificateWithheld,
    PinsSet,
    PinFailed,
    PinLocked,
    PinCounterReset,
    AgentInquiryLetterSent,
    AgentInquiryAnswered,
    PinReset,
    PinChanged,
    FaceRecognitionModeSet,
    SmartphoneRegistered,
    SmartphoneSuspended,
    SmartphoneSuspensionLifted,
    SmartphoneRenewalRequired,
)
"""Every card event class, in the order docs/events.md lists them."""

ENDING_EVENTS: tuple[type[CardEvent], ...] = (
    ApplicationCancelled,
    ApplicationVoided,
    Lost,
    Returned,
    Invalidated,
    Expired,
    Superseded,
)
"""The events that end a card (each calls ``base.end``): a command whose events include one of
these ended the card (its result says so: ``commands.results``)."""

for _cls in ALL_CARD_EVENTS:
    register_topic(_cls.TOPIC, _cls)

__all__ = [
    "ALL_CARD_EVENTS",
    "CARD_INFORMATION_EVENTS",
    "ENDING_EVENTS",
    "Accepted",
    "AdditionalNotesFieldFull",
    "AddressChanged",
    "AgentInquiryAnswered",
    "AgentInquiryLetterSent",
    "ApplicationCancelled",
    "ApplicationVoided",
    "Applied",
    "ArrivalNoticeLeft",
    "CardDestroyed",
    "CardEvent",
    "CardInformationChanged",
    "CardMailed",
    "CertificateAdded",
    "CertificateWithheld",
    "DateOfBirthChanged",
    "Expired",
    "ExpiryNoticeDue",
    "ExpiryNoticeSent",
    "ExpiryNoticeUndelivered",
    "FaceRecognitionModeSet",
    "FeeAssessed",
    "FeePaid",
    "FormerSurnameChanged",
    "InquiryAnswered",
    "InquiryLetterSent",
    "Invalidated",
    "Issued",
    "JukiCardCollected",
    "Lost",
    "MailReturned",
    "MoveInFiled",
    "MovedOut",
    "NameChanged",
    "OverseasContinuedUseRegistered",
    "PendingInquiry",
    "PhysicalCardCollected",
    "PickupNoticeResent",
    "PickupNoticeSent",
    "PickupReminderSent",
    "PickupReserved",
    "PinChanged",
    "PinCounterReset",
    "PinFailed",
    "PinLocked",
    "PinReset",
    "PinsSet",
    "Produced",
    "ProxyHandoverNotified",
    "Returned",
    "SexChanged",
    "SmartphoneRegistered",
    "SmartphoneRenewalRequired",
    "SmartphoneSuspended",
    "SmartphoneSuspensionLifted",
    "SpecialExtensionGranted",
    "StayExtended",
    "Superseded",
    "Suspended",
    "SuspensionLifted",
]
