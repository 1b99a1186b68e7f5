"""CRLs of the revocation list (RFC 5280 §5), built with ``cryptography``'s
``CertificateRevocationListBuilder`` and signed by the issuer (ECDSA or RSA with SHA-256).

The revocation list (``projections.revocations``) numbers every change; a CRL is a view of it at a
list number ``N``: the entries with ``added_in <= N`` and ``removed_in`` unset or after ``N``.

Choices, each with the section it follows:

- **CRL number** (§5.2.3) = the list number. It only grows, so a relying party orders CRLs by it.
- **AuthorityKeyIdentifier** (§5.2.1): the issuer certificate's subject key identifier.
- **revocationDate = the recorded time** (§5.1.2.6: "the date on which the revocation occurred",
  when the service recorded it) and an **invalidityDate** entry extension (§5.3.2) with the effective
  time when it is earlier: a loss reported for yesterday says so, and a relying party checking a
  signature made in between sees that the key was already suspected compromised (this closes the
  README's known limitation about backdated losses). Times are compared to the second, the
  precision of the CRL's times.
- **reasonCode** (§5.3.1) from the list's RFC 5280 reason name: keyCompromise, affiliationChanged,
  superseded, cessationOfOperation, privilegeWithdrawn, and **certificateHold** for a held AUTH
  (R49). ``unspecified`` is left out: §5.3.1 says the extension SHOULD be absent rather than carry
  unspecified (0).
- **Released holds** (a lifted suspension's AUTH, R50): removeFromCRL "is used only in delta CRLs"
  (§5.3.1), so a full CRL numbered after the release simply no longer lists the certificate (a
  relying party replacing its CRL sees it valid again). ``build_delta_crl`` offers the
  removeFromCRL entry to those who use delta CRLs (§5.2.4, deltaCRLIndicator, critical).
- **Entries kept after the certificate's expiry**: the list never drops an entry when its
  certificate expires (RFC 5280 §3.3 only requires it to stay one CRL beyond the expiry; relying
  parties checking old signatures need more), and every CRL says so with the **expiredCertsOnCRL**
  extension (ITU-T X.509's "expired certificates on CRL" extension, OID 2.5.29.60, a
  GeneralizedTime, non-critical): revoked certificates that expired at or after
  that time are on the CRL. Its value is what the caller passes (the store's start: nothing
  revoked was ever dropped since), else the earliest expiry among the entries. ``cryptography``
  has no class for it: it is an ``UnrecognizedExtension`` whose value is the DER GeneralizedTime
  that ``cryptography`` encodes for the identically typed ``InvalidityDate`` (``expired_certs_on_crl``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, time

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ObjectIdentifier

from lifecycle.calendar import JST, to_jst
from mynacard.pki.issuer import Issuer
from storage.records import RevocationEntry

EXPIRED_CERTS_ON_CRL = ObjectIdentifier("2.5.29.60")
"""id-ce-expiredCertsOnCRL (ITU-T X.509)."""
REMOVE_FROM_CRL = x509.ReasonFlags.remove_from_crl


def build_crl(
    issuer: Issuer,
    list_number: int,
    entries: Iterable[RevocationEntry],
    this_update: datetime,
    next_update: datetime,
    *,
    expired_certs_since: datetime | date | None = None,
) -> bytes:
    """The full CRL (DER) numbered ``list_number``: every entry on the list at that number (see
    the module docstring). ``entries`` may hold the list's history (``include_removed=True``):
    entries not on the list at ``list_number`` are left out. ``expired_certs_since``: the store's
    start (``CommandLog.store_identity().created_at``), since which no entry was ever dropped."""
    listed = [e for e in entries if on_list(e, list_number)]
    builder = _base(issuer, list_number, this_update, next_update)
    since = expired_certs_since if expired_certs_since is not None else _earliest_expiry(listed)
    if since is not None:
        builder = builder.add_extension(expired_certs_on_crl(since), critical=False)
    for entry in sorted(listed, key=lambda e: int(e.serial, 16)):
        builder = builder.add_revoked_certificate(revoked_certificate(entry))
    return _signed(builder, issuer)


def build_delta_crl(
    issuer: Issuer,
    base_number: int,
    list_number: int,
    history: Iterable[RevocationEntry],
    this_update: datetime,
    next_update: datetime,
) -> bytes:
    """The delta CRL (DER, RFC 5280 §5.2.4) from the full CRL numbered ``base_number`` to the list
    at ``list_number``. ``history``: every entry ever listed (``include_removed=True``). A
    certificate listed at ``list_number`` but not (or not with this entry) at the base is listed
    with its reason; one listed at the base and on no list at ``list_number`` (a released hold)
    is listed with removeFromCRL (§5.3.1), dated as its entry was."""
    if not 0 <= base_number <= list_number:
        raise ValueError(f"a delta CRL from {base_number} to {list_number}: the base comes first")
    entries = list(history)
    base = {e.serial: e for e in entries if on_list(e, base_number)}
    now = {e.serial: e for e in entries if on_list(e, list_number)}
    builder = _base(issuer, list_number, this_update, next_update).add_extension(
        x509.DeltaCRLIndicator(base_number), critical=True
    )
    for serial in sorted(base.keys() | now.keys(), key=lambda s: int(s, 16)):
        if serial in now and base.get(serial) != now[serial]:
            builder = builder.add_revoked_certificate(revoked_certificate(now[serial]))
        elif serial not in now:
            builder = builder.add_revoked_certificate(revoked_certificate(base[serial], REMOVE_FROM_CRL))
    return _signed(builder, issuer)


def on_list(entry: RevocationEntry, list_number: int) -> bool:
    """Whether the entry is on the list numbered ``list_number``."""
    return entry.added_in <= list_number and (entry.removed_in is None or entry.removed_in > list_number)


def revoked_certificate(
    entry: RevocationEntry, reason: x509.ReasonFlags | None = None
) -> x509.RevokedCertificate:
    """One CRL entry: serial, revocationDate (recorded time), reasonCode (``reason`` or the
    entry's own, none for unspecified) and invalidityDate when the effective time is earlier."""
    recorded = _to_second(parse_time(entry.recorded_at))
    effective = _to_second(parse_time(entry.revoked_at))
    builder = x509.RevokedCertificateBuilder().serial_number(int(entry.serial, 16)).revocation_date(recorded)
    flag = reason or crl_reason(entry.reason_name)
    if flag is not None:
        builder = builder.add_extension(x509.CRLReason(flag), critical=False)
    if effective < recorded:
        builder = builder.add_extension(x509.InvalidityDate(effective), critical=False)
    return builder.build()


def crl_reason(reason_name: str) -> x509.ReasonFlags | None:
    """The reasonCode of an RFC 5280 reason name (§5.3.1); None for unspecified (left out)."""
    if reason_name in ("", "unspecified"):
        return None
    try:
        return x509.ReasonFlags[_REASON_MEMBERS.get(reason_name, reason_name)]
    except KeyError:
        raise ValueError(f"not an RFC 5280 CRLReason name: {reason_name!r}") from None


_REASON_MEMBERS = {
    "keyCompromise": "key_compromise",
    "cACompromise": "ca_compromise",
    "affiliationChanged": "affiliation_changed",
    "superseded": "superseded",
    "cessationOfOperation": "cessation_of_operation",
    "certificateHold": "certificate_hold",
    "removeFromCRL": "remove_from_crl",
    "privilegeWithdrawn": "privilege_withdrawn",
    "aACompromise": "aa_compromise",
}
"""RFC 5280 reason names (the list's ``reason_name``) → ``x509.ReasonFlags`` members."""


def expired_certs_on_crl(since: datetime | date) -> x509.UnrecognizedExtension:
    """The expiredCertsOnCRL extension (``ExpiredCertsOnCRL ::= GeneralizedTime``). Its value is
    the DER GeneralizedTime ``cryptography`` encodes for InvalidityDate, which has that very type
    (RFC 5280 §5.3.2), so no ASN.1 is encoded here. A date means 00:00 JST of that day."""
    moment = since if isinstance(since, datetime) else datetime.combine(since, time(0), JST)
    value = x509.InvalidityDate(_to_second(to_jst(moment))).public_bytes()
    return x509.UnrecognizedExtension(EXPIRED_CERTS_ON_CRL, value)


def crl_pem(der: bytes) -> bytes:
    """A DER CRL as PEM (``mynacard crl --pem``)."""
    return x509.load_der_x509_crl(der).public_bytes(serialization.Encoding.PEM)


def parse_time(value: str | datetime) -> datetime:
    """A list time (ISO text, JST) as an aware datetime; naive times are JST (D13)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return to_jst(moment)


def _to_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def _earliest_expiry(entries: Sequence[RevocationEntry]) -> date | None:
    days = [e.expires_on for e in entries if e.expires_on is not None]
    return min(days) if days else None


def _base(
    issuer: Issuer, list_number: int, this_update: datetime, next_update: datetime
) -> x509.CertificateRevocationListBuilder:
    if list_number < 0:
        raise ValueError(f"a CRL number is not negative (RFC 5280 §5.2.3): {list_number}")
    if next_update <= this_update:
        raise ValueError("nextUpdate comes after thisUpdate (RFC 5280 §5.1.2.5)")
    return (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.name)
        .last_update(_to_second(to_jst(this_update)))
        .next_update(_to_second(to_jst(next_update)))
        .add_extension(x509.CRLNumber(list_number), critical=False)
        .add_extension(issuer.authority_key_identifier, critical=False)
    )


def _signed(builder: x509.CertificateRevocationListBuilder, issuer: Issuer) -> bytes:
    return builder.sign(issuer.private_key, issuer.signature_hash).public_bytes(serialization.Encoding.DER)
