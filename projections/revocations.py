"""The revocation list's numbering, as a pure function (no I/O): which rows a batch of list
changes writes and which list numbers they take (``revocation_rows``). The changes come from the
certificate events (``projections.views.revocation_changes``); the backends'
``RevocationView.commit`` only executes the rows, adding the list number it holds.

- Every change takes the next list number (monotonic, never reused).
- A change of a serial ends the entry the list holds for it (``removed_in``), whether it was
  listed before the batch or earlier in the batch; an ``add`` (a revocation or a hold) lists a
  new entry; a ``remove`` (a hold released: removeFromCRL) lists nothing.

May import: the standard library and ``storage.records``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from uuid import UUID

from storage.records import IssuedCertificate, RevocationEntry, RevocationRows


@dataclass(frozen=True, slots=True)
class RevocationChange:
    """A change to the list: an entry added, replaced (hold → revocation) or removed."""

    certificate_id: UUID
    serial: str
    kind: str
    expires_on: date | None
    change: str  # "add" | "remove"
    reason_name: str = ""
    reason_code: int = 0
    revoked_at: str = ""
    recorded_at: str = ""


def revocation_rows(
    issued: Sequence[IssuedCertificate], changes: Sequence[RevocationChange]
) -> RevocationRows:
    """The rows a batch writes, numbered by step: change ``i`` (from 1) takes list number
    ``base + i`` where ``base`` is the list number when the batch commits. The first change of a
    serial ends the entries listed for it before the batch (``closed``); a later one ends the
    entry an earlier change of the batch added (its ``removed_in``); an ``add`` lists a new entry."""
    closed: list[tuple[str, int]] = []
    added: list[RevocationEntry] = []
    listed: dict[str, int] = {}  # serial → index in ``added`` of its entry still on the list
    seen: set[str] = set()
    for step, change in enumerate(changes, start=1):
        if change.serial not in seen:
            seen.add(change.serial)
            closed.append((change.serial, step))
        elif change.serial in listed:
            index = listed.pop(change.serial)
            added[index] = replace(added[index], removed_in=step)
        if change.change == "add":
            listed[change.serial] = len(added)
            added.append(
                RevocationEntry(
                    serial=change.serial,
                    kind=change.kind,
                    reason_name=change.reason_name,
                    reason_code=change.reason_code,
                    revoked_at=change.revoked_at,
                    recorded_at=change.recorded_at,
                    expires_on=change.expires_on,
                    added_in=step,
                    removed_in=None,
                )
            )
    return RevocationRows(tuple(issued), tuple(closed), tuple(added), len(changes))
