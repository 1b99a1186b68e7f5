"""What the CRL, the OCSP responder and the relying parties' JSON status say, from the read side:
the revocation list (with its history) and the lifecycle view's certificates. The service, the web
page and ``mynacard crl`` share these; the encodings are ``mynacard.pki.crl`` and ``.ocsp``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from mynacard.pki.crl import build_crl
from mynacard.pki.issuer import Issuer
from mynacard.pki.ocsp import CertStatus, respond, status_from_list
from projections.event_json import jsonable
from projections.read_side import ReadSide
from storage.records import RevocationEntry

SERIAL_DIGITS = 20
"""A certificate serial is 20 hex digits (``lifecycle.identifiers.certificate_serial``)."""


def serial_text(number: int) -> str | None:
    """The stored form of an X.509 serial (None: not one this store could have issued)."""
    if number <= 0 or number >= 16**SERIAL_DIGITS:
        return None
    return f"{number:0{SERIAL_DIGITS}X}"


def current_entry(entries: list[RevocationEntry], serial: str) -> RevocationEntry | None:
    """The serial's entry still on the list (a released hold is not), if any."""
    listed = [e for e in entries if e.serial == serial and e.removed_in is None]
    return max(listed, key=lambda e: e.added_in) if listed else None


Seen = Callable[[str, int, str], None]
"""``seen(serial, listed_in, channel)``: a revocation was served on ``channel`` (latency)."""


def certificate_status_of(read: ReadSide, number: int, seen: Seen | None = None) -> CertStatus:
    """OCSP's answer for one serial: revoked (or held) while on the list, good when issued and
    not on it, unknown when this store never issued it."""
    serial = serial_text(number)
    if serial is None:
        return CertStatus("unknown")
    issued = read.lifecycle.view.certificate_by_serial(serial) is not None
    _, entries = read.revocation_list(include_removed=True)
    entry = current_entry(entries, serial)
    if entry is not None and seen is not None:
        seen(entry.serial, entry.added_in, "ocsp")
    return status_from_list(issued, entry)


def crl_der(
    read: ReadSide, issuer: Issuer, validity: float, since: str | None, seen: Seen | None = None
) -> bytes:
    """The full CRL under the list's current number, thisUpdate now (the real clock: relying
    parties compare it with theirs), nextUpdate ``validity`` seconds later."""
    number, entries = read.revocation_list(include_removed=True)
    if seen is not None:
        for entry in entries:
            if entry.removed_in is None:
                seen(entry.serial, entry.added_in, "crl")
    now = datetime.now(UTC).replace(microsecond=0)
    started = datetime.fromisoformat(since) if since else None
    return build_crl(
        issuer, number, entries, now, now + timedelta(seconds=validity), expired_certs_since=started
    )


def ocsp_der(
    read: ReadSide, issuer: Issuer, request: bytes, validity: float, seen: Seen | None = None
) -> bytes:
    now = datetime.now(UTC).replace(microsecond=0)
    return respond(
        issuer,
        request,
        lambda n: certificate_status_of(read, n, seen),
        now,
        now + timedelta(seconds=validity),
    )


RELYING_PARTY_FIELDS = (
    "serial",
    "kind",
    "name",
    "status",
    "issued_at",
    "usable_from",
    "expires_on",
    "revoked_at",
    "reason_name",
    "reason_code",
    "face_only",
    "at",
    "valid_at",
    "why",
    "rule",
)
"""What a relying party sees of a certificate: no card, holder or device."""


def relying_party_status(read: ReadSide, serial: str, at: datetime) -> dict[str, Any] | None:
    """Valid now (or at ``at``), usable from (the next-day/06:30 rule, R42–R43), face-only (R58),
    its state and revocation — nothing that names the person."""
    status = read.certificate(serial.strip().upper(), at)
    if status is None:
        return None
    data = {k: getattr(status, k) for k in RELYING_PARTY_FIELDS}
    data["usable"] = bool(status.usable_from is None or status.usable_from <= at)
    return jsonable(data)  # type: ignore[no-any-return]
