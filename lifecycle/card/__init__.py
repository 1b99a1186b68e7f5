"""The card (マイナンバーカード / 個人番号カード): one package, laid out like the spec.

- ``vocabulary``: statuses, the choices a clerk picks from, value objects (an application, a
  handover, a lapse, an ending);
- ``state``: the card's state, which its events write;
- ``events``: the events (topics ``mynacard.Card.<Name>``, never changed: stored events are
  read by topic);
- ``rules``: pure check functions by spec section, raising ``RuleViolation`` with the rule id;
- ``lapses``: what time has made due (shared by the guards, the sweep and the read side);
- ``procedures``: the commands, one mixin per spec section: check via the rules, then trigger;
- ``aggregate``: ``Card``, the state and its procedures on ``eventsourcing``'s ``Aggregate``.

Imports run one way: vocabulary ← rules ← state ← events, lapses ← procedures ← aggregate;
nothing in the package imports the aggregate but this module.

May import: ``eventsourcing.domain`` / ``eventsourcing.utils``, the standard library and
other ``lifecycle`` modules; no other project package.
"""

from lifecycle.card.aggregate import Card
from lifecycle.card.vocabulary import (
    APPLICATION_CHANNELS,
    APPLICATION_KINDS,
    CARD_FACTS,
    FORMER_SURNAME_ACTIONS,
    HANDOVER_METHODS,
    INVALIDATION_REASONS,
    JUKI_CARD_OUTCOMES,
    LIVE,
    NOTIFICATION_CARD_OUTCOMES,
    OFFICE_NOT_RECORDED,
    PHOTO_MAX_AGE_MONTHS,
    PRE_HANDOVER,
    PROXY_REASONS,
    RETURN_REASONS,
    SPECIAL_EXTENSION_EVIDENCE,
    SUSPENSION_CHANNELS,
    TERMINAL,
    Application,
    CardStatus,
    Ending,
    Handover,
    Lapse,
    PendingInquiry,
    PreviousCard,
)
from lifecycle.filers import HOLDER
from lifecycle.stamp import Stamp

__all__ = [
    "APPLICATION_CHANNELS",
    "APPLICATION_KINDS",
    "CARD_FACTS",
    "FORMER_SURNAME_ACTIONS",
    "HANDOVER_METHODS",
    "HOLDER",
    "INVALIDATION_REASONS",
    "JUKI_CARD_OUTCOMES",
    "LIVE",
    "NOTIFICATION_CARD_OUTCOMES",
    "OFFICE_NOT_RECORDED",
    "PHOTO_MAX_AGE_MONTHS",
    "PRE_HANDOVER",
    "PROXY_REASONS",
    "RETURN_REASONS",
    "SPECIAL_EXTENSION_EVIDENCE",
    "SUSPENSION_CHANNELS",
    "TERMINAL",
    "Application",
    "Card",
    "CardStatus",
    "Ending",
    "Handover",
    "Lapse",
    "PendingInquiry",
    "PreviousCard",
    "Stamp",
]
