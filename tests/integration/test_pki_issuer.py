"""The CRL/OCSP issuer (issue 12): the test CA made once in the data directory (0600 key, reused,
one issuer when processes race), the operator's certificate and key when configured, and the
binding to the store: another issuer for the same store is refused. The last test binds the
issuer to a real store (either backend) and signs its own revocation list, checked with openssl."""

from __future__ import annotations

import multiprocessing
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from lifecycle.calendar import JST
from mynacard.bootstrap import open_read_side, open_write_side
from mynacard.pki.crl import build_crl
from mynacard.pki.issuer import ISSUER_CERT_FILE, ISSUER_KEY_FILE, ISSUER_MARK, open_issuer
from mynacard.pki.ocsp import respond, status_from_list
from storage.errors import ConfigurationError
from tests.helpers.backend import settings as store_settings
from tests.helpers.pki import (
    HISTORY,
    LOST,
    Dirs,
    Marks,
    answer,
    crl_text,
    now,
    open_in_process,
    openssl,
    response_text,
)
from tests.helpers.recorded_store import record_story

pytestmark = [
    pytest.mark.usefixtures("only_the_settings_given"),
    pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl binary is the client"),
]
DAY = timedelta(days=1)


def test_the_test_ca_is_made_once_private_and_reused(tmp_path: Path) -> None:
    marks, dirs = Marks(), Dirs(tmp_path / "data")
    first = open_issuer(dirs, marks)
    key_file, cert_file = dirs.data_dir / ISSUER_KEY_FILE, dirs.data_dir / ISSUER_CERT_FILE
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert cert_file.stat().st_mode & 0o777 == 0o644  # public
    files = key_file.read_bytes(), cert_file.read_bytes()
    again = open_issuer(dirs, marks)
    assert (again.fingerprint, key_file.read_bytes(), cert_file.read_bytes()) == (first.fingerprint, *files)
    assert marks.store_mark(ISSUER_MARK) == first.fingerprint
    text = openssl(f"x509 -in {cert_file} -noout -text", tmp_path).stdout
    for expected in [
        "CN = mynacard test CA (not for production), O = mynacard, serialNumber = ",
        "X509v3 Basic Constraints: critical\n                CA:TRUE",
        "X509v3 Key Usage: critical\n                Digital Signature, Certificate Sign, CRL Sign",
        "X509v3 Subject Key Identifier",
        "ASN1 OID: prime256v1",
        "Signature Algorithm: ecdsa-with-SHA256",
    ]:
        assert expected in text
    validity = first.certificate.not_valid_after_utc - first.certificate.not_valid_before_utc
    assert validity == timedelta(days=3651)  # 10 years from a day back
    assert openssl(f"verify -CAfile {cert_file} {cert_file}", tmp_path).returncode == 0
    cert_file.unlink()  # a lost certificate is made again from the key: the same issuer
    assert open_issuer(dirs, marks).fingerprint == first.fingerprint


def test_another_issuer_for_the_same_store_is_refused(tmp_path: Path) -> None:
    marks = Marks()
    open_issuer(Dirs(tmp_path / "data"), marks)
    elsewhere = Dirs(tmp_path / "elsewhere")
    with pytest.raises(ConfigurationError, match="issuer key of this store is missing") as missing:
        open_issuer(elsewhere, marks)  # the store has an issuer: a missing key is lost, not new
    assert str(elsewhere.data_dir / ISSUER_KEY_FILE) in str(missing.value)
    assert not (elsewhere.data_dir / ISSUER_KEY_FILE).exists()  # nothing was made
    open_issuer(elsewhere, Marks())  # another store's test CA
    with pytest.raises(ConfigurationError, match="not the issuer this store recorded") as refused:
        open_issuer(elsewhere, marks)
    assert str(elsewhere.data_dir / ISSUER_CERT_FILE) in str(refused.value) and "restore" in str(
        refused.value
    )


@pytest.fixture
def operator_ca(tmp_path: Path, request: pytest.FixtureRequest) -> Dirs:
    """An issuer the operator made with openssl (EC P-256 unless parametrized)."""
    newkey = {"ec": "ec -pkeyopt ec_paramgen_curve:P-256", "rsa": "rsa:2048", "ed25519": "ed25519"}
    made = openssl(
        f"req -x509 -newkey {newkey[getattr(request, 'param', 'ec')]} -nodes -keyout op.key -out op.pem "
        "-days 30 -subj '/CN=Operator CA/O=Example City' "
        "-addext keyUsage=critical,digitalSignature,cRLSign,keyCertSign",
        tmp_path,
    )
    assert made.returncode == 0, made.stderr
    return Dirs(tmp_path / "data", tmp_path / "op.pem", tmp_path / "op.key")


@pytest.mark.parametrize("operator_ca", ["ec", "rsa", "ed25519"], indirect=True)
def test_the_operators_issuer_signs_when_configured(tmp_path: Path, operator_ca: Dirs) -> None:
    issuer = open_issuer(operator_ca, Marks())
    assert issuer.source == str(operator_ca.issuer_cert)
    assert not (tmp_path / "data" / ISSUER_KEY_FILE).exists()  # no test CA made
    _head, entries = crl_text(tmp_path, build_crl(issuer, 2, HISTORY, now(), now() + DAY), ca="op.pem")
    assert LOST in entries
    assert openssl(f"ocsp -issuer op.pem -serial 0x{LOST} -reqout r.der", tmp_path).returncode == 0
    (tmp_path / "r.resp").write_bytes(answer(issuer, (tmp_path / "r.der").read_bytes()))
    out = openssl("ocsp -reqin r.der -respin r.resp -CAfile op.pem -verify_other op.pem -resp_text", tmp_path)
    assert "Response verify OK" in out.stderr and "Cert Status: revoked" in out.stdout, out.stderr


def test_the_operators_issuer_is_checked_and_bound(tmp_path: Path, operator_ca: Dirs) -> None:
    marks = Marks()
    open_issuer(Dirs(tmp_path / "data"), marks)  # the store began with the test CA
    with pytest.raises(ConfigurationError, match="not the issuer this store recorded"):
        open_issuer(operator_ca, marks)
    cert, key = operator_ca.issuer_cert, operator_ca.issuer_key
    with pytest.raises(ConfigurationError, match="go together"):
        open_issuer(Dirs(tmp_path / "data", cert), Marks())
    with pytest.raises(ConfigurationError, match="is not the signing key"):
        open_issuer(Dirs(tmp_path / "data", cert, tmp_path / "data" / ISSUER_KEY_FILE), Marks())
    with pytest.raises(ConfigurationError, match="no such file"):
        open_issuer(Dirs(tmp_path / "data", tmp_path / "absent.pem", key), Marks())
    (tmp_path / "garbage.pem").write_text("-----BEGIN CERTIFICATE-----\nnot one\n")
    with pytest.raises(ConfigurationError, match=r"not an X\.509 certificate"):
        open_issuer(Dirs(tmp_path / "data", tmp_path / "garbage.pem", key), Marks())
    plain = openssl(
        "req -x509 -key op.key -out plain.pem -days 30 -subj /CN=Plain -addext keyUsage=digitalSignature",
        tmp_path,
    )
    assert plain.returncode == 0, plain.stderr
    with pytest.raises(ConfigurationError, match="lacks cRLSign"):
        open_issuer(Dirs(tmp_path / "data", tmp_path / "plain.pem", key), Marks())


def test_processes_making_the_test_ca_at_once_end_with_one_issuer(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    count = 6
    barrier, results = context.Barrier(count), context.Queue()
    processes = [
        context.Process(target=open_in_process, args=(str(tmp_path / "data"), barrier, results))
        for _ in range(count)
    ]
    for process in processes:
        process.start()
    found = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    assert len(set(found)) == 1  # one key, one certificate
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [ISSUER_KEY_FILE, ISSUER_CERT_FILE]


def test_the_issuer_is_bound_to_a_real_store_and_signs_its_revocation_list(tmp_path: Path) -> None:
    recorded = record_story(store_settings(tmp_path))  # suspension (SIG revoked, AUTH held), then loss
    settings = recorded.settings
    app = open_write_side(settings)
    try:
        issuer = open_issuer(settings, app.command_log)
        assert app.command_log.store_mark(ISSUER_MARK) == issuer.fingerprint
    finally:
        app.close()
    (tmp_path / "ca.pem").write_bytes(issuer.pem)
    read = open_read_side(settings)
    try:
        read.catch_up()
        number, history = read.revocation_list(include_removed=True)
        _, current = read.revocation_list()
        issued = {e.serial: read.certificate(e.serial, datetime.now(JST)) is not None for e in history}
    finally:
        read.close()
    assert all(issued.values())
    _head, entries = crl_text(tmp_path, build_crl(issuer, number, history, now(), now() + DAY))
    assert sorted(entries) == sorted(e.serial for e in current)
    held = next(e for e in history if e.reason_name == "certificateHold")
    _head, then = crl_text(
        tmp_path, build_crl(issuer, held.added_in, history, now(), now() + DAY), "then.der"
    )
    assert "Certificate Hold" in then[held.serial]
    listed = {e.serial: e for e in current}
    request = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        issuer.name_hash(hashes.SHA1()), issuer.key_hash(hashes.SHA1()), int(held.serial, 16), hashes.SHA1()
    )
    der = respond(
        issuer,
        request.build().public_bytes(serialization.Encoding.DER),
        lambda serial: status_from_list(True, listed.get(f"{serial:020X}")),
        now(),
        now() + DAY,
    )
    text = response_text(tmp_path, der)
    assert "Cert Status: revoked" in text and "keyCompromise" in text  # the hold became the loss

    app = open_write_side(settings)  # the store keeps its issuer; another one is refused
    try:
        assert open_issuer(settings, app.command_log).fingerprint == issuer.fingerprint
        for name in (ISSUER_KEY_FILE, ISSUER_CERT_FILE):
            (settings.data_dir / name).rename(tmp_path / f"moved-{name}")
        with pytest.raises(ConfigurationError, match="issuer key of this store is missing"):
            open_issuer(settings, app.command_log)
        fresh = Dirs(tmp_path / "fresh")
        open_issuer(fresh, Marks())  # a test CA of its own
        with pytest.raises(ConfigurationError, match="not the issuer this store recorded"):
            open_issuer(fresh, app.command_log)
    finally:
        app.close()
