"""The stamp of a command: who, when, and which command. Passed into every aggregate command so
the domain never reads a clock."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from uuid import UUID

from lifecycle.calendar import jst_date


@dataclass(frozen=True, slots=True)
class Stamp:
    """``recorded_at`` is the service's now (the event timestamp); ``effective_at`` is when the
    fact happened in the world (JST, D13)."""

    command_id: UUID
    actor: str
    recorded_at: datetime
    effective_at: datetime

    @property
    def on(self) -> date:
        """The JST calendar date of the effective time."""
        return jst_date(self.effective_at)

    @property
    def today(self) -> date:
        """The JST calendar date of the recorded time."""
        return jst_date(self.recorded_at)

    def effective(self, effective_at: datetime) -> Stamp:
        return replace(self, effective_at=effective_at)

    def event_fields(self) -> dict[str, object]:
        """The fields every event takes from its stamp."""
        return {
            "timestamp": self.recorded_at,
            "effective_at": self.effective_at,
            "actor": self.actor,
            "command_id": self.command_id,
        }
