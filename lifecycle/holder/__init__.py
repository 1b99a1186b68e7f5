"""The person (本人): one ``Holder`` aggregate per holder reference (the keyed hash of a My
Number), holding which cards and applications were filed under that person and the links after
a My Number change. It makes the rules across one person (spec §2.9, R62–R65) checkable in one
transaction with the card: every command that opens a card (an application) or takes one into
use (a handover), every person-wide end (R64) and every link (R65) changes the person's
aggregate, so optimistic concurrency on it serialises two clerks acting for one person.

- ``events``: the person's events (fixed topics ``mynacard.Holder.<Name>``);
- ``standing``: the person's cards in use and applications in progress at a moment, judged from
  the cards themselves (their recorded status and what time has made due);
- ``rules``: the pure checks of R63 and R65 on a standing;
- ``aggregate``: ``Holder``, its state and one short method per procedure (check, then trigger).

May import: ``eventsourcing.domain``, the standard library, ``lifecycle`` leaf modules and
``lifecycle.card`` (its statuses and questions); nothing outside ``lifecycle``.
"""

from lifecycle.holder import events
from lifecycle.holder.aggregate import Holder
from lifecycle.holder.standing import CardStanding, Standing, standing_of

__all__ = ["CardStanding", "Holder", "Standing", "events", "standing_of"]
