"""OCSP responses (RFC 6960) for the certificates of the store, built with ``cryptography``'s
``OCSPResponseBuilder`` and signed by the issuer itself (RFC 6960 §4.2.2.2: the CA that issued
the certificates may sign directly; no delegated responder certificate is needed or included).

``respond`` never raises for what a client sends; every answer is DER:

- a request that does not parse, holds more than one certificate (``cryptography`` answers for
  one), carries a critical extension other than the nonce, or a nonce outside 1–32 octets (RFC
  8954 §2.1) → **malformedRequest** (§2.3);
- a request for another issuer (its issuerNameHash/issuerKeyHash are not this issuer's, §4.1.1),
  or hashed with an algorithm not offered → **unauthorized**: RFC 6960 §2.3 ("the server is not
  capable of responding authoritatively") and RFC 5019 §2.2.3, which a lightweight responder
  follows; this responder never signs statements about certificates of issuers it does not know;
- else a signed **successful** response with one SingleResponse echoing the request's CertID:
  **good**, **revoked** (revocationTime and revocationReason) or **unknown** for a serial this
  issuer never issued (§2.2); thisUpdate = ``now``, nextUpdate = ``next_update`` (§4.2.2.1);
  producedAt is the signing time (``cryptography`` sets it); responderID byKey (§4.2.2.3); the
  nonce echoed (§4.4.1, RFC 8954). Signed ECDSA/RSA with SHA-256.

revocationTime: the builder cannot add the invalidityDate singleExtension (RFC 6960 §4.4.7 allows
CRL entry extensions there), so ``status_from_list`` gives the earlier of the recorded and the
effective time: a relying party checking a signature made after a backdated loss's effective time
must not be told the certificate was good then. The CRL carries both times (``mynacard.pki.crl``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from mynacard.pki.crl import crl_reason, parse_time
from mynacard.pki.issuer import Issuer
from storage.records import RevocationEntry

Status = Literal["good", "revoked", "unknown"]
MAX_NONCE = 32
"""RFC 8954 §2.1: a responder rejects a nonce longer than 32 octets (or empty)."""
CERT_ID_HASHES = (hashes.SHA1, hashes.SHA224, hashes.SHA256, hashes.SHA384, hashes.SHA512)
"""CertID hash algorithms answered (SHA-1 is what most clients, openssl included, send)."""


@dataclass(frozen=True, slots=True)
class CertStatus:
    """What the responder says of one serial: ``good``, ``revoked`` (at ``revoked_at``, for the
    RFC 5280 ``reason`` name, e.g. keyCompromise or certificateHold) or ``unknown``."""

    status: Status
    revoked_at: datetime | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.status not in ("good", "revoked", "unknown"):
            raise ValueError(f"an OCSP status is good, revoked or unknown: {self.status!r}")
        if (self.status == "revoked") != (self.revoked_at is not None):
            raise ValueError("a revoked status has a revocation time, and only a revoked one")
        if self.reason == "removeFromCRL":
            raise ValueError("removeFromCRL is no revocation reason: a released hold is good again")


GOOD = CertStatus("good")
UNKNOWN = CertStatus("unknown")


def status_from_list(issued: bool, entry: RevocationEntry | None) -> CertStatus:
    """A certificate's status from the read side: on the revocation list (revoked or held) →
    revoked with its reason (certificateHold for a hold) at the earlier of its recorded and
    effective times; issued and not on the list (a released hold included) → good; a serial the
    store never issued → unknown."""
    if entry is not None:
        at = min(parse_time(entry.recorded_at), parse_time(entry.revoked_at))
        return CertStatus("revoked", at, entry.reason_name or None)
    return GOOD if issued else UNKNOWN


def respond(
    issuer: Issuer,
    request_der: bytes,
    status_of: Callable[[int], CertStatus | None],
    now: datetime,
    next_update: datetime,
) -> bytes:
    """The DER OCSP response to ``request_der`` (see the module docstring). ``status_of(serial)``
    answers for a serial of this issuer; None means unknown. What ``status_of`` raises (the read
    side down) is the caller's to answer, e.g. with ``unsuccessful(OCSPResponseStatus.TRY_LATER)``.
    ``now`` and ``next_update``: aware times (naive ones are JST, D13)."""
    try:
        request = ocsp.load_der_ocsp_request(request_der)
        nonce = _nonce(request)
        serial = request.serial_number
        name_hash, key_hash = request.issuer_name_hash, request.issuer_key_hash
    except Exception:  # whatever the bytes are, the client gets an OCSP answer
        return unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    try:
        algorithm = request.hash_algorithm
    except Exception:
        return unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
    if not isinstance(algorithm, CERT_ID_HASHES) or (name_hash, key_hash) != (
        issuer.name_hash(algorithm),
        issuer.key_hash(algorithm),
    ):
        return unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
    status = status_of(serial) or UNKNOWN
    revoked_at = parse_time(status.revoked_at) if status.revoked_at is not None else None
    builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
        issuer_name_hash=name_hash,
        issuer_key_hash=key_hash,
        serial_number=serial,
        algorithm=algorithm,
        cert_status=_CERT_STATUS[status.status],
        this_update=_to_second(parse_time(now)),
        next_update=_to_second(parse_time(next_update)),
        revocation_time=_to_second(revoked_at) if revoked_at is not None else None,
        revocation_reason=crl_reason(status.reason or "") if status.status == "revoked" else None,
    )
    builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, issuer.certificate)
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    response = builder.sign(issuer.private_key, issuer.signature_hash)
    return response.public_bytes(serialization.Encoding.DER)


def unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    """An unsigned error response (RFC 6960 §2.3): malformedRequest, internalError, tryLater,
    sigRequired or unauthorized (e.g. tryLater while the read side cannot answer)."""
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(serialization.Encoding.DER)


def request_from_get(path_segment: str) -> bytes:
    """The DER request of ``GET /ocsp/{base64}`` (RFC 6960 Appendix A.1: the URL-encoded base64
    of the DER). Bytes that do not decode give ``b""``, which ``respond`` answers with
    malformedRequest."""
    text = unquote(path_segment).strip()
    try:
        altchars = b"-_" if "-" in text or "_" in text else None  # base64url, as some clients send
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=altchars, validate=True)
    except (binascii.Error, ValueError):
        return b""


_CERT_STATUS = {
    "good": ocsp.OCSPCertStatus.GOOD,
    "revoked": ocsp.OCSPCertStatus.REVOKED,
    "unknown": ocsp.OCSPCertStatus.UNKNOWN,
}


def _nonce(request: ocsp.OCSPRequest) -> bytes | None:
    """The request's nonce (RFC 8954 §2.1: 1–32 octets); a critical extension other than the
    nonce is not understood, so the request is refused (RFC 6960 §4.1.2 via RFC 5280 §4.2)."""
    nonce = None
    for extension in request.extensions:
        if isinstance(extension.value, x509.OCSPNonce):
            nonce = extension.value.nonce
        elif extension.critical:
            raise ValueError(f"critical request extension not understood: {extension.oid.dotted_string}")
    if nonce is not None and not 1 <= len(nonce) <= MAX_NONCE:
        raise ValueError(f"a nonce of {len(nonce)} octets (RFC 8954: 1 to 32)")
    return nonce


def _to_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)
