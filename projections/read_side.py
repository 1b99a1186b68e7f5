"""The read side's questions, answered from the views (never by replaying the log):

- card status, with pending deadlines and its certificates;
- certificate status and validity at a moment;
- all cards of a person (by the keyed hash of the My Number);
- cards and certificates expiring in a date range (the renewal-notice list, R44);
- the revocation list; counts by status, kind and month; lag.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from dateutil.relativedelta import relativedelta
from eventsourcing.persistence import ApplicationRecorder, Mapper

from lifecycle.decisions import Policies
from projections.certificates import CertificateStatus, certificate_status
from projections.runner import Progress, catch_up, check_head, rebuild
from projections.status import CardStatus, card_status
from projections.views import LifecycleProjection, RevocationProjection, ViewProjection
from storage.interface import LifecycleView, RevocationView
from storage.records import Counts, RevocationEntry


@dataclass(frozen=True, slots=True)
class CardReport:
    """A card's status and its certificates' status at a moment."""

    card: CardStatus
    certificates: list[CertificateStatus]

    def as_dict(self) -> dict[str, Any]:
        return {**self.card.as_dict(), "certificates": [c.as_dict() for c in self.certificates]}


def notice_may_not_arrive(moved_in_on: date | None, expires_on: date | None) -> bool:
    """003 Q10: a holder who moved in about 4–5 months before the expiry (or later) may get no
    expiry notice: J-LIS mails it, not forwarded, to the address it had then."""
    if moved_in_on is None or expires_on is None:
        return False
    return moved_in_on >= expires_on - relativedelta(months=5)


@dataclass(frozen=True, slots=True)
class SweepScan:
    """What the read side looked at for a sweep: ``checked`` cards (every card not ended) and,
    among them, the ``candidates`` on which time may have made something due."""

    checked: int
    candidates: list[UUID]


class UpstreamApp:
    """The log the read side follows: its name, its recorder and a mapper that reads it.
    ``close`` releases the recorder's connections when the read side opened them itself
    (``mynacard.bootstrap.open_log``); a log borrowed from a running application has none."""

    def __init__(
        self,
        name: str,
        recorder: ApplicationRecorder,
        mapper: Mapper[UUID],
        close: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.recorder = recorder
        self.mapper = mapper
        self._close = close

    def close(self) -> None:
        if self._close is not None:
            self._close()


class ReadSide:
    def __init__(
        self,
        upstream: UpstreamApp,
        policies: Policies,
        lifecycle_view: LifecycleView,
        revocation_view: RevocationView,
    ) -> None:
        self.upstream = upstream
        self.policies = policies
        self.lifecycle = LifecycleProjection(lifecycle_view, upstream.mapper)
        self.revocations = RevocationProjection(revocation_view, upstream.mapper)
        self.projections: tuple[ViewProjection, ...] = (self.lifecycle, self.revocations)

    def close(self) -> None:
        """Release the views' connections and the log's, if the read side opened it."""
        for p in self.projections:
            p.view.close()
        self.upstream.close()

    def projection(self, name: str) -> ViewProjection:
        for p in self.projections:
            if p.name == name:
                return p
        raise KeyError(name)

    # ------------------------------------------------------------------ following the log

    def catch_up(self, progress: Progress | None = None) -> dict[str, int]:
        return {p.name: catch_up(self.upstream, p, progress=progress) for p in self.projections}

    def rebuild(self, names: Sequence[str] | None = None, progress: Progress | None = None) -> dict[str, int]:
        chosen = [p for p in self.projections if names is None or p.name in names]
        return {p.name: rebuild(self.upstream, p, progress=progress) for p in chosen}

    def positions(self) -> dict[str, dict[str, Any]]:
        """Each view's position, the log's, the lag, and its ``state``: ``ok``, or what is wrong
        and to rebuild (e.g. ``ahead of the log — rebuild`` after an older event store was
        restored), with the ``problem`` told in full. Reads only: shows, never raises."""
        out: dict[str, dict[str, Any]] = {}
        for p in self.projections:
            check = check_head(self.upstream, p)
            out[p.name] = {
                "position": check.position,
                "log": check.log,
                "lag": max(0, check.log - check.position),
                "state": check.state,
            }
            if check.problem is not None:
                out[p.name]["problem"] = check.problem
        return out

    # ------------------------------------------------------------------ questions

    def card_report(self, card_id: UUID, today: date, at: datetime) -> CardReport | None:
        rows = self.lifecycle.view.card_rows([card_id])
        if card_id not in rows:
            return None
        card = self.lifecycle.card(rows[card_id])
        certs = sorted(
            (self.lifecycle.certificate(r) for r in self.lifecycle.view.certificates_of_card(card_id)),
            key=lambda c: (c.issued_at is None, c.issued_at, c.serial),
        )
        return CardReport(
            card_status(card, today, self.policies), [certificate_status(c, at, card) for c in certs]
        )

    def certificate(self, serial: str, at: datetime) -> CertificateStatus | None:
        row = self.lifecycle.view.certificate_by_serial(serial)
        if row is None:
            return None
        cert = self.lifecycle.certificate(row)
        cards = self.lifecycle.view.card_rows([row.card_id])
        card = self.lifecycle.card(cards[row.card_id]) if row.card_id in cards else None
        return certificate_status(cert, at, card)

    def cards_of_holder(self, holder_ref: str, today: date) -> list[CardStatus]:
        """Every card of the person, old and new, whichever of their My Numbers is asked (R65): the
        references linked by a My Number change (a card's ``successor_holder_ref``) are followed
        both ways until no new one turns up."""
        seen, frontier, rows = {holder_ref}, [holder_ref], {}
        while frontier:
            for row in self.lifecycle.view.cards_of_holder(frontier.pop()):
                rows[row.card_id] = row
                for ref in (row.holder_ref, row.successor_holder_ref):
                    if ref and ref not in seen:
                        seen.add(ref)
                        frontier.append(ref)
        ordered = sorted(rows.values(), key=lambda r: r.position)
        return [card_status(self.lifecycle.card(r), today, self.policies) for r in ordered]

    def expiring(self, first: date, last: date) -> dict[str, list[dict[str, Any]]]:
        """The renewal-notice list (R44): live cards and certificates whose expiry falls in
        [first, last]; ``notice`` is false where no notice is sent (a stay-based expiry)."""
        cards = []
        for r in self.lifecycle.view.cards_expiring(first, last):
            card = self.lifecycle.card(r)
            key = f"card:{r.expires_on.isoformat()}" if r.expires_on else ""
            cards.append(
                {
                    "card_id": str(r.card_id),
                    "application_id": r.application_id,
                    "holder_ref": r.holder_ref,
                    "status": r.status,
                    "expires_on": r.expires_on.isoformat() if r.expires_on else None,
                    "notice": r.notice_expires_on is not None,
                    "notice_sent": key in card.expiry_notices_sent,
                    "notice_undelivered": key in card.expiry_notices_undelivered,
                    "notice_may_not_arrive": notice_may_not_arrive(card.moved_in_on, r.expires_on),
                }
            )
        certificates = [
            {
                "serial": r.serial,
                "kind": r.kind,
                "card_id": str(r.card_id),
                "holder_ref": r.holder_ref,
                "status": r.status,
                "expires_on": r.expires_on.isoformat() if r.expires_on else None,
            }
            for r in self.lifecycle.view.certificates_expiring(first, last)
        ]
        return {"cards": cards, "certificates": certificates}

    def revocation_list(self, *, include_removed: bool = False) -> tuple[int, list[RevocationEntry]]:
        return self.revocations.view.list_number(), self.revocations.view.entries(
            include_removed=include_removed
        )

    def counts(self) -> Counts:
        return self.lifecycle.view.counts()

    def sweep_candidates(self, until: date) -> list[UUID]:
        """Cards on which time may have made something due by ``until``: a lapse (R13, R19–R30),
        a certificate expiry, or an expiry notice (R44). A superset: each card decides itself."""
        return self.sweep_scan(until).candidates

    def sweep_scan(self, until: date) -> SweepScan:
        """Every card not ended is looked at (``checked``); the candidates are those of
        ``sweep_candidates``."""
        soon = until + relativedelta(months=3, days=1)
        with_certificates = {r.card_id for r in self.lifecycle.view.certificates_expiring(date.min, soon)}
        rows = self.lifecycle.view.unended_cards()
        out = []
        for row in rows:
            if row.card_id in with_certificates:
                out.append(row.card_id)
                continue
            card = self.lifecycle.card(row)
            if card.due_lapses(until, self.policies) or card.due_expiry_notices(until, {}):
                out.append(row.card_id)
        return SweepScan(checked=len(rows), candidates=out)
