"""Consistency check: replay every aggregate from the event store and compare it with every
projection. Differences are listed; none means the read side equals the fold of the log."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from lifecycle import card_events as ev
from lifecycle.card import Card
from lifecycle.certificate import (
    Certificate,
    CertificateIssued,
    CertificatePutOnHold,
    CertificateReleased,
    CertificateRevoked,
)
from projections.audit import EventSource, fold
from projections.events import jsonable
from projections.projections import Facts, revocation_changes
from projections.read_side import ReadSide


@dataclass(frozen=True, slots=True)
class Difference:
    projection: str
    subject: str
    field: str
    expected: Any
    actual: Any

    def as_dict(self) -> dict[str, Any]:
        return {
            k: jsonable(getattr(self, k)) for k in ("projection", "subject", "field", "expected", "actual")
        }


@dataclass
class VerifyReport:
    cards: int = 0
    certificates: int = 0
    revocation_entries: int = 0
    differences: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    def as_dict(self) -> dict[str, Any]:
        return {
            "cards": self.cards,
            "certificates": self.certificates,
            "revocation_entries": self.revocation_entries,
            "differences": [d.as_dict() for d in self.differences],
            "ok": self.ok,
        }


CERTIFICATE_TOPICS = tuple(
    get_topic(c) for c in (CertificateIssued, CertificateRevoked, CertificatePutOnHold, CertificateReleased)
)


def _ids(read_side: ReadSide, topic: str) -> list[UUID]:
    recorder = read_side.upstream.recorder
    out: list[UUID] = []
    start = 0
    while True:
        notes = recorder.select_notifications(
            start=start, limit=1000, topics=(topic,), inclusive_of_start=False
        )
        out.extend(n.originator_id for n in notes)  # type: ignore[misc]
        if len(notes) < 1000:
            return out
        start = notes[-1].id


def _state(aggregate: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def verify(read_side: ReadSide, source: EventSource) -> VerifyReport:
    """Catch the projections up, then compare them with the aggregates replayed from the log."""
    read_side.catch_up()
    report = VerifyReport()
    view = read_side.lifecycle.view
    diff = report.differences.append

    card_ids = _ids(read_side, get_topic(ev.Applied))
    cert_ids = _ids(read_side, get_topic(CertificateIssued))
    rows = view.card_rows(card_ids)
    for card_id in card_ids:
        report.cards += 1
        card: Card = fold(source.get(card_id))
        row = rows.get(card_id)
        if row is None:
            diff(Difference("lifecycle_view", f"card {card_id}", "row", "present", "missing"))
            continue
        for name, expected, actual in (
            ("status", card.status, row.status),
            ("version", card.version, row.version),
            ("expires_on", card.expires_on, row.expires_on),
            ("issue_date", card.issue_date, row.issue_date),
            ("holder_ref", card.holder_ref, row.holder_ref),
        ):
            if expected != actual:
                diff(Difference("lifecycle_view", f"card {card_id}", name, expected, actual))
        if _state(read_side.lifecycle.card(row)) != _state(card):
            diff(
                Difference("lifecycle_view", f"card {card_id}", "state", "the fold of its events", "differs")
            )
    for extra in set(view.all_card_ids()) - set(card_ids):
        diff(Difference("lifecycle_view", f"card {extra}", "row", "absent (no events)", "present"))

    cert_rows = view.certificate_rows(cert_ids)
    expected_crl: dict[str, tuple[str, int, str]] = {}
    for cert_id in cert_ids:
        report.certificates += 1
        cert: Certificate = fold(source.get(cert_id))
        if cert.status == "revoked":
            expected_crl[cert.serial] = (
                str(cert.reason_name),
                int(cert.reason_code or 0),
                jsonable(cert.revoked_at),
            )
        elif cert.status == "on_hold":
            start = cert.holds[-1][0]
            expected_crl[cert.serial] = ("certificateHold", 6, jsonable(start))
        crow = cert_rows.get(cert_id)
        if crow is None:
            diff(Difference("lifecycle_view", f"certificate {cert.serial}", "row", "present", "missing"))
            continue
        for name, expected, actual in (
            ("status", cert.status, crow.status),
            ("version", cert.version, crow.version),
            ("expires_on", cert.expires_on, crow.expires_on),
            ("reason_code", cert.reason_code, crow.reason_code),
        ):
            if expected != actual:
                diff(Difference("lifecycle_view", f"certificate {cert.serial}", name, expected, actual))
        if _state(read_side.lifecycle.certificate(crow)) != _state(cert):
            diff(Difference("lifecycle_view", f"certificate {cert.serial}", "state", "the fold", "differs"))
    for extra in set(view.all_certificate_ids()) - set(cert_ids):
        diff(Difference("lifecycle_view", f"certificate {extra}", "row", "absent (no events)", "present"))

    _verify_revocation_list(read_side, report)
    return report


def _expected_revocation_list(read_side: ReadSide) -> tuple[int, list[tuple[Any, ...]]]:
    """The whole list history, recomputed from the log's certificate events in log order."""
    recorder, mapper = read_side.upstream.recorder, read_side.upstream.mapper
    facts: Facts = {}
    number = 0
    entries: dict[tuple[str, int], list[Any]] = {}
    open_entry: dict[str, tuple[str, int]] = {}
    start = 0
    while True:
        notes = recorder.select_notifications(
            start=start, limit=1000, topics=CERTIFICATE_TOPICS, inclusive_of_start=False
        )
        _, changes = revocation_changes((mapper.to_domain_event(n) for n in notes), facts)
        for ch in changes:
            number += 1
            if ch.serial in open_entry:
                entries[open_entry.pop(ch.serial)][-1] = number
            if ch.change == "add":
                key = (ch.serial, number)
                entries[key] = [ch.serial, ch.reason_name, ch.reason_code, ch.revoked_at, number, None]
                open_entry[ch.serial] = key
        if len(notes) < 1000:
            break
        start = notes[-1].id
    return number, sorted(tuple(e) for e in entries.values())


def _verify_revocation_list(read_side: ReadSide, report: VerifyReport) -> None:
    number, expected = _expected_revocation_list(read_side)
    listed_number, current = read_side.revocation_list()
    report.revocation_entries = len(current)
    actual = sorted(
        (e.serial, e.reason_name, e.reason_code, e.revoked_at, e.added_in, e.removed_in)
        for e in read_side.revocations.view.entries(include_removed=True)
    )
    if listed_number != number:
        report.differences.append(Difference("revocation_list", "list", "list number", number, listed_number))
    for entry in sorted(set(expected) ^ set(actual)):
        found = entry in actual
        report.differences.append(
            Difference(
                "revocation_list",
                f"certificate {entry[0]}",
                "entry (serial, reason, code, effective, added in, removed in)",
                None if found else entry,
                entry if found else None,
            )
        )
