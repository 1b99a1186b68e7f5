"""What the PKI tests share: the ``openssl`` client, a revocation list's history with every kind of
entry, the read side's answer for OCSP as the service maps it, and stand-ins for the settings and
the store marks (``tests/integration/test_pki*.py``)."""

from __future__ import annotations

import shlex
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mynacard.pki.issuer import ISSUER_KEY_FILE, Issuer, open_issuer
from mynacard.pki.ocsp import CertStatus, respond, status_from_list
from storage.records import RevocationEntry

LOST, HELD, RELEASED, MOVED, REQUESTED, REHELD = (
    "0837EDB8F562583EBA57",
    "1A2B3C4D5E6F70819203",
    "2B3C4D5E6F7081920314",
    "3C4D5E6F708192031425",
    "4D5E6F70819203142536",
    "5E6F7081920314253647",
)
GOOD_SERIAL, UNKNOWN_SERIAL = "6F708192031425364758", "7081920314253647586A"
CODES = {"keyCompromise": 1, "affiliationChanged": 3, "certificateHold": 6, "unspecified": 0}


def entry(
    serial: str,
    reason: str,
    effective: str,
    recorded: str,
    added: int,
    removed: int | None = None,
    kind: str = "SIG",
    expires_on: date = date(2030, 3, 14),
) -> RevocationEntry:
    return RevocationEntry(
        serial, kind, reason, CODES[reason], effective, recorded, expires_on, added, removed
    )


HISTORY = [
    # a loss reported a day after it happened: recorded 2021-03-02 10:00, effective 03-01 03:15 JST
    entry(LOST, "keyCompromise", "2021-03-01T03:15:00+09:00", "2021-03-02T10:00:00.250+09:00", 1),
    # a hold recorded within the second it took effect: no invalidity date
    entry(
        HELD, "certificateHold", "2021-03-05T03:15:00+09:00", "2021-03-05T03:15:00.4+09:00", 2, kind="AUTH"
    ),
    # a hold released in list 4 (a lifted suspension's AUTH, R50)
    entry(
        RELEASED, "certificateHold", "2021-03-06T08:00:00+09:00", "2021-03-06T08:00:00+09:00", 3, 4, "AUTH"
    ),
    entry(
        MOVED,
        "affiliationChanged",
        "2021-04-01T09:00:00+09:00",
        "2021-04-01T09:00:00+09:00",
        5,
        expires_on=date(2022, 1, 31),  # expired, and kept
    ),
    entry(REQUESTED, "unspecified", "2021-04-02T09:00:00+09:00", "2021-04-02T09:00:00+09:00", 6),
    # a hold (list 2) that became a revocation (list 7), recorded a day late
    entry(REHELD, "certificateHold", "2021-04-03T09:00:00+09:00", "2021-04-03T09:00:00+09:00", 2, 7, "AUTH"),
    entry(REHELD, "keyCompromise", "2021-04-03T09:00:00+09:00", "2021-04-04T09:00:00+09:00", 7),
]
LIST_NUMBER = 7


@dataclass
class Marks:
    """Store marks as ``CommandLog`` keeps them: a recorded mark is never changed."""

    marks: dict[str, str] = field(default_factory=dict)

    def store_mark(self, name: str) -> str | None:
        return self.marks.get(name)

    def set_store_mark(self, name: str, value: str) -> None:
        self.marks.setdefault(name, value)


@dataclass
class Dirs:
    """The settings the issuer reads."""

    data_dir: Path
    issuer_cert: Path | None = None
    issuer_key: Path | None = None


def openssl(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``openssl`` with the arguments of ``command`` (split like a shell line) in ``cwd``."""
    return subprocess.run(
        ["openssl", *shlex.split(command)], check=False, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def status_of(serial: int) -> CertStatus | None:
    """The read side's answer at ``LIST_NUMBER``, mapped as the service maps it."""
    text = f"{serial:020X}"
    listed = {e.serial: e for e in HISTORY if e.removed_in is None or e.removed_in > LIST_NUMBER}
    issued = text in {e.serial for e in HISTORY} | {GOOD_SERIAL}
    return status_from_list(issued, listed.get(text)) if issued else None


def answer(issuer: Issuer, request: bytes) -> bytes:
    return respond(issuer, request, status_of, now(), now() + timedelta(hours=1))


def crl_text(cwd: Path, der: bytes, name: str = "crl.der", ca: str = "ca.pem") -> tuple[str, dict[str, str]]:
    """``openssl crl -text`` of a CRL, whose signature must verify against ``ca``: (its header,
    serial → its entry's text). openssl prints a serial without its leading zero bytes; the
    serials here are the service's 20 hex digits again."""
    (cwd / name).write_bytes(der)
    out = openssl(f"crl -inform DER -in {name} -CAfile {ca} -noout -text", cwd)
    assert out.returncode == 0 and "verify OK" in out.stderr, out.stderr
    head, *blocks = out.stdout.split("Serial Number: ")
    return head, {f"{int(b.split()[0], 16):020X}": b for b in blocks}


def response_text(cwd: Path, der: bytes) -> str:
    """``openssl ocsp -resp_text`` of a response, unverified (error responses are unsigned)."""
    (cwd / "answer.der").write_bytes(der)
    out = openssl("ocsp -respin answer.der -resp_text -noverify", cwd)
    return out.stdout + out.stderr


def leaf(issuer: Issuer, serial: str, cwd: Path) -> str:
    """A certificate of ``serial`` issued by ``issuer`` (for ``openssl verify -crl_check``)."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, f"holder {serial}")]))
        .issuer_name(issuer.name)
        .public_key(key.public_key())
        .serial_number(int(serial, 16))
        .not_valid_before(now() - timedelta(days=1))
        .not_valid_after(now() + timedelta(days=30))
        .add_extension(issuer.authority_key_identifier, critical=False)
        .sign(issuer.private_key, hashes.SHA256())
    )
    (cwd / f"{serial}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return f"{serial}.pem"


def open_in_process(data_dir: str, barrier: Any, results: Any) -> None:
    """A process opening the data directory's issuer together with others (``barrier``): its
    fingerprint and the key file it found, put on ``results``."""
    barrier.wait()
    issuer = open_issuer(Dirs(Path(data_dir)), Marks())
    results.put((issuer.fingerprint, Path(data_dir, ISSUER_KEY_FILE).read_bytes()))
