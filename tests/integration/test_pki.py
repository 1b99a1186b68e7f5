"""CRLs and OCSP responses (issue 12), checked with the real ``openssl`` binary as the independent
client: ``openssl crl -CAfile`` verifies every CRL's signature and lists its entries, ``openssl
verify -crl_check`` refuses a listed certificate, and ``openssl ocsp`` builds the requests and
verifies the responses (status, reason, times, nonce), once over HTTP. No store is needed: the
issuer is a test CA in a temporary data directory (``test_pki_issuer.py`` binds it to stores)."""

from __future__ import annotations

import shutil
import threading
from base64 import b64encode, urlsafe_b64encode
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from lifecycle.calendar import JST
from mynacard.pki.crl import EXPIRED_CERTS_ON_CRL, build_crl, build_delta_crl, crl_pem
from mynacard.pki.issuer import Issuer, open_issuer
from mynacard.pki.ocsp import request_from_get
from tests.helpers.pki import (
    GOOD_SERIAL,
    HELD,
    HISTORY,
    LIST_NUMBER,
    LOST,
    MOVED,
    REHELD,
    RELEASED,
    REQUESTED,
    UNKNOWN_SERIAL,
    Dirs,
    Marks,
    answer,
    crl_text,
    leaf,
    now,
    openssl,
    response_text,
)

pytestmark = [
    pytest.mark.usefixtures("only_the_settings_given"),
    pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl binary is the client"),
]
HOUR = timedelta(hours=1)


@pytest.fixture
def ca(tmp_path: Path) -> Issuer:
    issuer = open_issuer(Dirs(tmp_path / "data"), Marks())
    (tmp_path / "ca.pem").write_bytes(issuer.pem)
    return issuer


def expired_certs_on_crl(cwd: Path, der: bytes) -> str:
    """The expiredCertsOnCRL value as ``openssl asn1parse`` reads it."""
    value = x509.load_der_x509_crl(der).extensions.get_extension_for_oid(EXPIRED_CERTS_ON_CRL).value
    (cwd / "ext.der").write_bytes(value.value)  # type: ignore[attr-defined]
    return openssl("asn1parse -inform DER -in ext.der", cwd).stdout


# ------------------------------------------------------------------------------------- CRLs


def test_a_crl_verifies_with_openssl_and_lists_reasons_and_invalidity_dates(
    tmp_path: Path, ca: Issuer
) -> None:
    start = datetime(2020, 5, 1, 9, 0, tzinfo=JST)
    der = build_crl(ca, LIST_NUMBER, HISTORY, now(), now() + HOUR, expired_certs_since=start)
    head, entries = crl_text(tmp_path, der)
    assert "X509v3 CRL Number: \n                7\n" in head
    assert "Signature Algorithm: ecdsa-with-SHA256" in head
    aki = ca.authority_key_identifier.key_identifier
    assert aki is not None and f"Authority Key Identifier: \n                {aki.hex(':').upper()}" in head
    assert sorted(entries) == sorted([LOST, HELD, MOVED, REQUESTED, REHELD])  # the released hold is gone
    lost = entries[LOST]  # revocationDate = recorded; invalidityDate = the earlier effective time
    assert "Revocation Date: Mar  2 01:00:00 2021 GMT" in lost and "Key Compromise" in lost
    assert "Invalidity Date: \n                Feb 28 18:15:00 2021 GMT" in lost
    held = entries[HELD]  # recorded within the second it took effect: no invalidity date
    assert "Certificate Hold" in held and "Invalidity Date" not in held
    assert "Affiliation Changed" in entries[MOVED] and "Invalidity Date" not in entries[MOVED]
    assert "CRL entry extensions" not in entries[REQUESTED]  # unspecified: no reasonCode (§5.3.1)
    assert "Key Compromise" in entries[REHELD] and "Apr  3 00:00:00 2021 GMT" in entries[REHELD]
    assert "2.5.29.60: \n" in head  # expiredCertsOnCRL, the store's start
    assert "GENERALIZEDTIME   :20200501000000Z" in expired_certs_on_crl(tmp_path, der)


def test_without_a_start_expired_certs_on_crl_is_the_earliest_expiry_listed(
    tmp_path: Path, ca: Issuer
) -> None:
    der = build_crl(ca, LIST_NUMBER, HISTORY, now(), now() + HOUR)
    assert "GENERALIZEDTIME   :20220130150000Z" in expired_certs_on_crl(tmp_path, der)  # 01-31 00:00 JST


def test_an_earlier_list_number_still_lists_the_hold_released_later(tmp_path: Path, ca: Issuer) -> None:
    _head, entries = crl_text(tmp_path, build_crl(ca, 3, HISTORY, now(), now() + HOUR))
    assert sorted(entries) == sorted([LOST, HELD, RELEASED, REHELD])
    assert "Certificate Hold" in entries[RELEASED] and "Certificate Hold" in entries[REHELD]
    head, _ = crl_text(tmp_path, build_crl(ca, 0, [], now(), now() + HOUR), "empty.der")
    assert "No Revoked Certificates." in head and "2.5.29.60" not in head


def test_a_delta_crl_says_remove_from_crl_for_the_released_hold(tmp_path: Path, ca: Issuer) -> None:
    head, entries = crl_text(tmp_path, build_delta_crl(ca, 3, LIST_NUMBER, HISTORY, now(), now() + HOUR))
    assert "X509v3 Delta CRL Indicator: critical\n                3\n" in head
    assert "X509v3 CRL Number: \n                7\n" in head
    assert sorted(entries) == sorted([RELEASED, MOVED, REQUESTED, REHELD])  # LOST, HELD: unchanged
    assert "Remove From CRL" in entries[RELEASED]
    assert "Key Compromise" in entries[REHELD]  # the hold became a revocation


@pytest.mark.parametrize(
    ("list_number", "serial", "revoked"),
    [
        (LIST_NUMBER, LOST, True),
        (LIST_NUMBER, HELD, True),
        (LIST_NUMBER, GOOD_SERIAL, False),
        (3, RELEASED, True),
        (LIST_NUMBER, RELEASED, False),
    ],
)
def test_openssl_verify_refuses_a_listed_certificate_and_accepts_a_released_one(
    tmp_path: Path, ca: Issuer, list_number: int, serial: str, revoked: bool
) -> None:
    der = build_crl(ca, list_number, HISTORY, now() - timedelta(minutes=1), now() + HOUR)
    (tmp_path / "crl.pem").write_bytes(crl_pem(der))
    cert = leaf(ca, serial, tmp_path)
    out = openssl(f"verify -crl_check -CAfile ca.pem -CRLfile crl.pem {cert}", tmp_path)
    if revoked:
        assert out.returncode != 0 and "certificate revoked" in out.stdout + out.stderr
    else:
        assert out.returncode == 0 and f"{cert}: OK" in out.stdout, out.stdout + out.stderr


def test_a_crl_does_not_verify_against_another_issuer(tmp_path: Path, ca: Issuer) -> None:
    (tmp_path / "other.pem").write_bytes(open_issuer(Dirs(tmp_path / "other"), Marks()).pem)
    (tmp_path / "crl.der").write_bytes(build_crl(ca, 1, HISTORY, now(), now() + HOUR))
    out = openssl("crl -inform DER -in crl.der -CAfile other.pem -noout", tmp_path)
    assert out.returncode != 0 and "verify OK" not in out.stderr


def test_crl_arguments_out_of_order_are_refused(ca: Issuer) -> None:
    with pytest.raises(ValueError, match="nextUpdate"):
        build_crl(ca, 1, HISTORY, now(), now())
    with pytest.raises(ValueError, match="base comes first"):
        build_delta_crl(ca, 5, 4, HISTORY, now(), now() + HOUR)


# ------------------------------------------------------------------------------------- OCSP


def ask(cwd: Path, ca: Issuer, serial: str, options: str = "", name: str = "req") -> None:
    """``openssl ocsp`` writes a request for ``serial``; ``respond`` answers it (``name.resp``)."""
    made = openssl(f"ocsp -issuer ca.pem {options} -serial 0x{serial} -reqout {name}.der", cwd)
    assert made.returncode == 0, made.stderr
    (cwd / f"{name}.resp").write_bytes(answer(ca, (cwd / f"{name}.der").read_bytes()))


@pytest.mark.parametrize(
    ("serial", "options", "expected"),
    [
        (GOOD_SERIAL, "", ["good"]),
        (RELEASED, "", ["good"]),  # a lifted suspension's AUTH
        (LOST, "", ["revoked", "Reason: keyCompromise", "Revocation Time: Feb 28 18:15:00 2021 GMT"]),
        (HELD, "", ["revoked", "Reason: certificateHold", "Revocation Time: Mar  4 18:15:00 2021 GMT"]),
        (REQUESTED, "", ["revoked", "Revocation Time: Apr  2 00:00:00 2021 GMT"]),
        (UNKNOWN_SERIAL, "", ["unknown"]),
        (LOST, "-sha256", ["revoked", "Reason: keyCompromise"]),  # a SHA-256 CertID
    ],
)
def test_openssl_verifies_the_ocsp_answer_good_revoked_or_unknown(
    tmp_path: Path, ca: Issuer, serial: str, options: str, expected: list[str]
) -> None:
    ask(tmp_path, ca, serial, f"-no_nonce {options}")
    out = openssl(
        f"ocsp -respin req.resp -issuer ca.pem -CAfile ca.pem -no_nonce {options} -serial 0x{serial} "
        "-resp_text",
        tmp_path,
    )
    assert out.returncode == 0 and "Response verify OK" in out.stderr, out.stderr
    assert f"0x{serial}: {expected[0]}\n" in out.stdout
    for line in expected[1:]:
        assert line in out.stdout
    if serial == REQUESTED:
        assert "Reason:" not in out.stdout  # unspecified is left out, as on the CRL
    assert "Produced At:" in out.stdout and "This Update:" in out.stdout and "Next Update:" in out.stdout
    by_key = x509.SubjectKeyIdentifier.from_public_key(ca.certificate.public_key()).digest.hex().upper()
    assert f"Responder Id: {by_key}" in out.stdout


def test_the_nonce_is_echoed(tmp_path: Path, ca: Issuer) -> None:
    ask(tmp_path, ca, LOST)  # openssl adds a nonce unless told not to
    nonce = openssl("ocsp -reqin req.der -req_text", tmp_path).stdout.split("OCSP Nonce: ")[1].split()[0]
    check = "ocsp -reqin req.der -respin {} -CAfile ca.pem -verify_other ca.pem -resp_text"
    out = openssl(check.format("req.resp"), tmp_path)
    assert out.returncode == 0 and "Response verify OK" in out.stderr and "WARNING" not in out.stderr, (
        out.stderr
    )
    assert f"OCSP Nonce: \n            {nonce}\n" in out.stdout
    ask(tmp_path, ca, LOST, name="other")  # another request's nonce does not match this one
    out = openssl(check.format("other.resp"), tmp_path)
    assert out.returncode != 0 and "Nonce Verify error" in out.stderr


def test_a_request_for_another_issuer_is_unauthorized(tmp_path: Path, ca: Issuer) -> None:
    (tmp_path / "other.pem").write_bytes(open_issuer(Dirs(tmp_path / "other"), Marks()).pem)
    assert openssl(f"ocsp -issuer other.pem -serial 0x{LOST} -reqout r.der", tmp_path).returncode == 0
    assert "Responder Error: unauthorized (6)" in response_text(
        tmp_path, answer(ca, (tmp_path / "r.der").read_bytes())
    )


def test_malformed_requests_get_malformed_request_never_an_exception(tmp_path: Path, ca: Issuer) -> None:
    made = openssl(f"ocsp -issuer ca.pem -serial 0x{LOST} -serial 0x{HELD} -reqout two.der", tmp_path)
    assert made.returncode == 0
    ask(tmp_path, ca, LOST)
    good = (tmp_path / "req.der").read_bytes()
    one = ocsp.load_der_ocsp_request(good)
    long_nonce = (  # RFC 8954 §2.1: at most 32 octets
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(one.issuer_name_hash, one.issuer_key_hash, one.serial_number, hashes.SHA1())
        .add_extension(x509.OCSPNonce(b"n" * 33), critical=False)
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    for request in [b"", b"garbage", good[:-7], (tmp_path / "two.der").read_bytes(), long_nonce]:
        assert "Responder Error: malformedrequest (1)" in response_text(tmp_path, answer(ca, request))


def test_get_requests_decode_as_rfc_6960_appendix_a_says(tmp_path: Path, ca: Issuer) -> None:
    ask(tmp_path, ca, LOST)
    der = (tmp_path / "req.der").read_bytes()
    assert request_from_get(quote(b64encode(der).decode(), safe="")) == der
    assert request_from_get(b64encode(der).decode()) == der
    assert request_from_get(b64encode(der).decode().rstrip("=")) == der
    assert request_from_get(urlsafe_b64encode(der).decode()) == der
    malformed = ocsp.load_der_ocsp_response(answer(ca, request_from_get("!!")))
    assert malformed.response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_openssl_asks_over_http_and_verifies(tmp_path: Path, ca: Issuer) -> None:
    """``openssl ocsp -url`` against ``respond`` behind a minimal stdlib HTTP server (RFC 6960
    Appendix A.1, POST); the service's own routes are tested against the real server process."""

    class Responder(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            der = answer(ca, self.rfile.read(int(self.headers.get("Content-Length", 0))))
            self.send_response(200)
            self.send_header("Content-Type", "application/ocsp-response")
            self.send_header("Content-Length", str(len(der)))
            self.end_headers()
            self.wfile.write(der)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Responder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/ocsp"
        for serial, status in [(GOOD_SERIAL, "good"), (LOST, "revoked"), (RELEASED, "good")]:
            out = openssl(f"ocsp -issuer ca.pem -serial 0x{serial} -url {url} -CAfile ca.pem", tmp_path)
            assert out.returncode == 0 and "Response verify OK" in out.stderr, out.stderr
            assert "WARNING" not in out.stderr  # the nonce openssl sent came back
            assert f"0x{serial}: {status}\n" in out.stdout
    finally:
        server.shutdown()
        server.server_close()
