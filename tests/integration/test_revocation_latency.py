"""Revocation latency (issue 12): for each revocation or hold, when it was recorded, first served
by OCSP and in a CRL, and first acknowledged by each named consumer; ``mynacard latency``,
``/metrics`` and ``/readyz`` report it against the objective (MYNACARD_SLO_*)."""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from mynacard.service.identity import Role
from tests.helpers.recorded_store import cli
from tests.helpers.service import Api, in_process, make_token, service_settings

pytestmark = pytest.mark.usefixtures("only_the_settings_given")


def ocsp_request(ca_pem: bytes, serial: str) -> bytes:
    """A DER OCSP request for ``serial`` of the CA (SHA-1 CertID, as openssl sends)."""
    ca = x509.load_pem_x509_certificate(ca_pem)
    name_hash = hashes.Hash(hashes.SHA1())
    name_hash.update(ca.subject.public_bytes())
    key = ca.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key_hash = hashes.Hash(hashes.SHA1())  # issuerKeyHash: the subjectPublicKey BIT STRING's contents
    key_hash.update(
        key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    builder = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        name_hash.finalize(), key_hash.finalize(), int(serial, 16), hashes.SHA1()
    )
    return builder.build().public_bytes(serialization.Encoding.DER)


@pytest.fixture
def settings(tmp_path: Path) -> Any:
    return service_settings(tmp_path, now=None)  # latency is measured on the real clock


def test_latency_of_a_loss_per_channel_and_consumer(settings: Any) -> None:
    tokens = {
        r: make_token(settings, r, f"{r.value}-1")
        for r in (Role.CLERK, Role.RELYING_PARTY, Role.SUBSCRIBER, Role.ADMIN)
    }
    with in_process(settings) as client:
        clerk, bank = Api(client, tokens[Role.CLERK]), Api(client, tokens[Role.RELYING_PARTY])
        feed, admin = Api(client, tokens[Role.SUBSCRIBER]), Api(client, tokens[Role.ADMIN])
        card = clerk.issue_card(photo_taken_on=date.today().isoformat())
        serials = {c["kind"]: c["serial"] for c in clerk.get(f"/cards/{card}").json()["certificates"]}
        assert clerk.command("report-loss", card, lost_at_home=True).status_code == 201
        ca = client.get("/ca.pem").content
        for kind in ("SIG", "AUTH"):
            answer = bank.client.post(
                "/ocsp",
                content=ocsp_request(ca, serials[kind]),
                headers={**bank.headers(), "Content-Type": "application/ocsp-request"},
            )
            parsed = ocsp.load_der_ocsp_response(answer.content)
            assert parsed.certificate_status == ocsp.OCSPCertStatus.REVOKED
        state = feed.get("/consumers/renewal-mailing").json()
        acked = feed.post("/consumers/renewal-mailing/ack", {"position": state["log_head"]})
        assert acked.status_code == 200, acked.text
        metrics = admin.get("/metrics").text
        ready = client.get("/readyz").json()["checks"]["revocation_objective"]
    report = cli(settings, "latency").out
    rows = {r["channel"]: r for r in report["channels"]}
    assert report["revocations"] == 2 and report["breaches"] == []
    assert rows["ocsp"]["seen"] == 2 and rows["ocsp"]["p99_s"] is not None and rows["ocsp"]["objective_met"]
    assert rows["crl"]["seen"] == 0 and rows["crl"]["not_seen_yet"] == 2
    assert rows["renewal-mailing"]["seen"] == 2 and rows["renewal-mailing"]["kind"] == "consumer"
    assert 'mynacard_revocation_latency_seconds{channel="ocsp",kind="served",quantile="0.99"}' in metrics
    assert ready == {"met": True, "breaches": []}


def test_an_unseen_revocation_breaches_the_objective_once_it_is_older_than_the_limit(tmp_path: Path) -> None:
    settings = service_settings(tmp_path, now=None)
    token = make_token(settings, Role.CLERK)
    with in_process(settings) as client:
        clerk = Api(client, token)
        card = clerk.issue_card(photo_taken_on=date.today().isoformat())
        assert clerk.command("suspend", card).status_code == 201
    time.sleep(0.05)
    run = cli(settings, "latency", MYNACARD_SLO_OCSP_SECONDS="0.01")
    assert run.returncode == 1
    report = json.loads(run.stdout)
    assert "ocsp" in report["breaches"]
