"""The CRL/OCSP issuer: the certificate relying parties trust and the key that signs every CRL and
OCSP response (issue 12).

- **Embedded default: a test CA**, made on first use in the data directory: an ECDSA P-256 key
  (``issuer.key``, PKCS#8 PEM, 0600, published atomically like the store's other key files, so
  processes making it at once all end with the first one's) and a self-signed certificate
  (``issuer.pem``) valid 10 years: ``CN=mynacard test CA (not for production), O=mynacard``
  and a serialNumber attribute derived from the key, so two stores' test CAs never share a name;
  basicConstraints cA (critical), keyUsage digitalSignature + keyCertSign + cRLSign (critical),
  subject and authority key identifiers (RFC 5280 §4.2.1.1, §4.2.1.2, §4.2.1.3, §4.2.1.9).
  ECDSA P-256 with SHA-256 is what every client verifies (Ed25519 CRLs are not yet widely
  accepted by relying parties' libraries).
- **Production: the operator's issuer**: ``MYNACARD_ISSUER_CERT`` and ``MYNACARD_ISSUER_KEY``
  (PEM or DER; an unencrypted key, EC, RSA, Ed25519 or Ed448), both or neither.

Either way the issuer is **bound to the store** (like the store's keys, ``mynacard.bootstrap``):
its fingerprint is recorded once as the store mark ``issuer_fingerprint``, and a later open with
another issuer is a ``ConfigurationError`` naming the file and the fix. The fingerprint is the
SHA-256 of the issuer's name and public key: what relying parties' OCSP requests (CertID, RFC
6960 §4.1.1) and the CRLs' authority key identifier name. A certificate renewed for the same
name and key (before the 10 years end, or the operator's) therefore stays the store's issuer,
and a lost ``issuer.pem`` is made again from ``issuer.key``; a new key never is.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

from storage.errors import ConfigurationError
from storage.files import create_exclusively, writable_directory

ISSUER_KEY_FILE = "issuer.key"
ISSUER_CERT_FILE = "issuer.pem"
ISSUER_MARK = "issuer_fingerprint"
"""The store mark that binds the issuer to the store."""
TEST_CA_NAME = "mynacard test CA (not for production)"
TEST_CA_VALIDITY = timedelta(days=3650)
TEST_CA_BACKDATE = timedelta(days=1)
"""notBefore lies a day back, so clients whose clock lags a little accept a CA made just now."""

SigningKey = (
    ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey
)
"""The issuer key types the CRL and OCSP builders sign with (DSA is not offered)."""


class StoreMarks(Protocol):
    """Where the binding is recorded: the write application's ``command_log`` (``CommandLog``)."""

    def store_mark(self, name: str) -> str | None: ...

    def set_store_mark(self, name: str, value: str) -> None: ...


class IssuerSettings(Protocol):
    """The part of ``commands.config.Settings`` the issuer depends on."""

    @property
    def data_dir(self) -> Path: ...

    @property
    def issuer_cert(self) -> Path | None: ...

    @property
    def issuer_key(self) -> Path | None: ...


@dataclass(frozen=True)
class Issuer:
    """The issuer certificate and its signing key; ``source`` names the certificate's file."""

    certificate: x509.Certificate
    private_key: SigningKey
    source: str

    @property
    def name(self) -> x509.Name:
        return self.certificate.subject

    @cached_property
    def fingerprint(self) -> str:
        """SHA-256 (hex) of the subject name's DER and the SubjectPublicKeyInfo's DER."""
        return issuer_fingerprint(self.certificate)

    @cached_property
    def pem(self) -> bytes:
        """The issuer certificate as PEM (``GET /ca.pem``)."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def signature_hash(self) -> hashes.SHA256 | None:
        """SHA-256 for ECDSA and RSA; None for Ed25519/Ed448, which hash internally."""
        if isinstance(self.private_key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
            return None
        return hashes.SHA256()

    @cached_property
    def authority_key_identifier(self) -> x509.AuthorityKeyIdentifier:
        """The keyIdentifier of the CRLs' authority key identifier (RFC 5280 §5.2.1): the issuer
        certificate's subject key identifier, or the RFC 5280 §4.2.1.2 method 1 value when the
        operator's certificate has none."""
        try:
            ski = self.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        except x509.ExtensionNotFound:
            return x509.AuthorityKeyIdentifier.from_issuer_public_key(self.private_key.public_key())
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)

    @cached_property
    def public_key_bits(self) -> bytes:
        """The value of the subjectPublicKey BIT STRING (without tag, length and unused-bits
        octet), which RFC 6960 §4.1.1 issuerKeyHash hashes. The BIT STRING ends the
        SubjectPublicKeyInfo, so the candidate encoding its DER ends with is the one in use."""
        key = self.certificate.public_key()
        spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        if isinstance(key, ec.EllipticCurvePublicKey):
            formats = [
                serialization.PublicFormat.UncompressedPoint,
                serialization.PublicFormat.CompressedPoint,
            ]
            candidates = [key.public_bytes(serialization.Encoding.X962, f) for f in formats]
        elif isinstance(key, rsa.RSAPublicKey):
            candidates = [key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)]
        else:
            candidates = [key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)]
        for bits in candidates:
            if spki.endswith(bits):
                return bits
        raise ConfigurationError(f"{self.source}: the issuer's public key has an encoding not supported")

    def name_hash(self, algorithm: hashes.HashAlgorithm) -> bytes:
        """issuerNameHash (RFC 6960 §4.1.1): the hash of the issuer name's DER."""
        return _digest(algorithm, self.name.public_bytes())

    def key_hash(self, algorithm: hashes.HashAlgorithm) -> bytes:
        """issuerKeyHash (RFC 6960 §4.1.1): the hash of the issuer's public key bits."""
        return _digest(algorithm, self.public_key_bits)


def _digest(algorithm: hashes.HashAlgorithm, data: bytes) -> bytes:
    h = hashes.Hash(algorithm)
    h.update(data)
    return h.finalize()


def issuer_fingerprint(certificate: x509.Certificate) -> str:
    """What the store records of its issuer: the SHA-256 of its name and public key."""
    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(certificate.subject.public_bytes() + spki).hexdigest()


def open_issuer(settings: IssuerSettings, store_marks: StoreMarks) -> Issuer:
    """The issuer of this store: the operator's (``issuer_cert`` and ``issuer_key``) or the test CA
    of the data directory (made on first use), bound to the store (``bind_issuer``)."""
    if settings.issuer_cert is not None or settings.issuer_key is not None:
        issuer = operator_issuer(settings)
    else:
        issuer = local_test_ca(settings, bound=store_marks.store_mark(ISSUER_MARK) is not None)
    bind_issuer(issuer, store_marks)
    return issuer


def bind_issuer(issuer: Issuer, store_marks: StoreMarks) -> None:
    """Record the issuer's fingerprint on first use (of processes binding at once, the first
    one's stays: a recorded mark is never changed); afterwards refuse any other issuer."""
    recorded = store_marks.store_mark(ISSUER_MARK)
    if recorded is None:
        store_marks.set_store_mark(ISSUER_MARK, issuer.fingerprint)
        recorded = store_marks.store_mark(ISSUER_MARK)
    if recorded != issuer.fingerprint:
        raise ConfigurationError(
            f"the CRL/OCSP issuer certificate ({issuer.source}) is not the issuer this store recorded "
            f"(fingerprint {str(recorded)[:16]}…, this one {issuer.fingerprint[:16]}…): relying parties "
            f"trust the recorded one; restore its {ISSUER_CERT_FILE} and {ISSUER_KEY_FILE} (data "
            "directory) or the files MYNACARD_ISSUER_CERT and MYNACARD_ISSUER_KEY name from backup "
            "(nothing was signed)"
        )


# ---------------------------------------------------------------------- the operator's issuer


def operator_issuer(settings: IssuerSettings) -> Issuer:
    """The issuer certificate and key the operator configured (both are required)."""
    if settings.issuer_cert is None or settings.issuer_key is None:
        raise ConfigurationError(
            "MYNACARD_ISSUER_CERT and MYNACARD_ISSUER_KEY go together: set both (the issuer "
            "certificate and its signing key), or neither for the test CA made in the data directory"
        )
    cert_data = _read(settings.issuer_cert, "MYNACARD_ISSUER_CERT", "the issuer certificate")
    key_data = _read(settings.issuer_key, "MYNACARD_ISSUER_KEY", "the issuer signing key")
    if cert_data is None or key_data is None:
        missing = settings.issuer_cert if cert_data is None else settings.issuer_key
        raise ConfigurationError(f"{missing}: no such file; check MYNACARD_ISSUER_CERT / MYNACARD_ISSUER_KEY")
    certificate = _certificate(cert_data, f"MYNACARD_ISSUER_CERT ({settings.issuer_cert})")
    key = _private_key(key_data, f"MYNACARD_ISSUER_KEY ({settings.issuer_key})")
    return _checked(Issuer(certificate, key, str(settings.issuer_cert)), str(settings.issuer_key))


# ------------------------------------------------------------------------------ the test CA


def local_test_ca(settings: IssuerSettings, *, bound: bool = False) -> Issuer:
    """The data directory's test CA, made on first use. ``bound``: the store already recorded an
    issuer, so a missing key is lost, not new (nothing is made then)."""
    writable_directory(settings.data_dir, "MYNACARD_DATA_DIR")
    key_path = settings.data_dir / ISSUER_KEY_FILE
    cert_path = settings.data_dir / ISSUER_CERT_FILE
    key_data = _read(key_path, str(key_path), "the issuer key file")
    if key_data is None:
        if bound or cert_path.exists():
            raise ConfigurationError(
                f"the CRL/OCSP issuer key of this store is missing ({key_path}): relying parties trust "
                f"its issuer certificate; restore {ISSUER_KEY_FILE} and {ISSUER_CERT_FILE} from backup, "
                "or set MYNACARD_ISSUER_CERT and MYNACARD_ISSUER_KEY to the issuer this store recorded "
                "(nothing was written)"
            )
        new = ec.generate_private_key(ec.SECP256R1())
        pem = new.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        create_exclusively(key_path, pem.decode())  # of processes making it at once, the first wins
        key_data = _read(key_path, str(key_path), "the issuer key file")
        assert key_data is not None
    key = _private_key(key_data, str(key_path))
    cert_data = _read(cert_path, str(cert_path), "the issuer certificate")
    if cert_data is None:
        pem = make_test_ca_certificate(key).public_bytes(serialization.Encoding.PEM)
        if create_exclusively(cert_path, pem.decode()):
            os.chmod(cert_path, 0o644)  # a public certificate, unlike the key
        cert_data = _read(cert_path, str(cert_path), "the issuer certificate")
        assert cert_data is not None
    certificate = _certificate(cert_data, str(cert_path))
    return _checked(Issuer(certificate, key, str(cert_path)), str(key_path))


def make_test_ca_certificate(key: SigningKey) -> x509.Certificate:
    """A self-signed CA certificate for ``key`` (see the module docstring). Its name depends on
    the key only, so the certificate made again from the same key has the same fingerprint."""
    public = key.public_key()
    ski = x509.SubjectKeyIdentifier.from_public_key(public)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, TEST_CA_NAME),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mynacard"),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, ski.digest.hex()[:16].upper()),
        ]
    )
    now = datetime.now(UTC).replace(microsecond=0)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - TEST_CA_BACKDATE)
        .not_valid_after(now + TEST_CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
    )
    hash_algorithm = (
        None if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey) else hashes.SHA256()
    )
    return builder.sign(key, hash_algorithm)


# ---------------------------------------------------------------------------------- reading


def _read(path: Path, where: str, what: str) -> bytes | None:
    """A file's bytes (None when there is none); an unreadable one is a configuration error."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ConfigurationError(
            f"{where}: cannot read {what} ({e.strerror}); fix its permissions or restore it from backup"
        ) from None


def _certificate(data: bytes, where: str) -> x509.Certificate:
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as e:
        raise ConfigurationError(
            f"{where}: not an X.509 certificate (PEM or DER): {e}; restore the issuer certificate"
        ) from None


def _private_key(data: bytes, where: str) -> SigningKey:
    try:
        if b"-----BEGIN" in data:
            key = serialization.load_pem_private_key(data, password=None)
        else:
            key = serialization.load_der_private_key(data, password=None)
    except TypeError:
        raise ConfigurationError(
            f"{where}: the key is encrypted; give it unencrypted in a file only the service's user "
            "may read (0600)"
        ) from None
    except (ValueError, UnsupportedAlgorithm) as e:
        raise ConfigurationError(f"{where}: not a private key (PEM or DER): {e}") from None
    if not isinstance(key, SigningKey):
        raise ConfigurationError(
            f"{where}: a {type(key).__name__.lstrip('_')} cannot sign CRLs here; use an EC (P-256 "
            "recommended), RSA, Ed25519 or Ed448 key"
        )
    return key


def _checked(issuer: Issuer, key_source: str) -> Issuer:
    """The key belongs to the certificate, which may sign CRLs and OCSP responses (RFC 5280
    §4.2.1.3: cRLSign for CRLs; digitalSignature for the OCSP responses the CA signs itself, RFC
    6960 §4.2.2.2)."""
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    mine = issuer.private_key.public_key().public_bytes(serialization.Encoding.DER, spki)
    if issuer.certificate.public_key().public_bytes(serialization.Encoding.DER, spki) != mine:
        raise ConfigurationError(
            f"{key_source} is not the signing key of the issuer certificate {issuer.source}: restore the "
            "matching pair from backup"
        )
    try:
        usage = issuer.certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return issuer
    if not (usage.crl_sign and usage.digital_signature):
        raise ConfigurationError(
            f"{issuer.source}: the issuer certificate's keyUsage lacks cRLSign or digitalSignature; "
            "issue it with both (RFC 5280 §4.2.1.3)"
        )
    return issuer
