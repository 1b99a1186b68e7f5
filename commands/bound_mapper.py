"""The mapper of the event store (placeholder: replaced by the AAD-binding mapper, issue 8 item 6)."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.persistence import Mapper


class BoundMapper(Mapper[UUID]):
    """The library's mapper (compress, then encrypt with the key ring)."""
