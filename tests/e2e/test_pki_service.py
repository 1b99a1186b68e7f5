"""Relying parties' view through a real ``mynacard serve`` process, with ``openssl`` as the
independent client (issue 12): the CA certificate, the signed CRL and the OCSP responder answer
good, revoked with the reason after a loss, certificateHold during a suspension and good again
once it is lifted; the JSON status carries no personal data."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from mynacard.service.identity import Role
from tests.helpers.service import Api, live_server, make_token, new_my_number, service_settings

pytestmark = pytest.mark.usefixtures("only_the_settings_given")


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60, check=False)


class RelyingParty:
    def __init__(self, url: str, token: str, workdir: Path) -> None:
        self.url, self.token, self.dir = url, token, workdir
        self.http = httpx.Client(base_url=url, timeout=30, headers={"Authorization": f"Bearer {token}"})
        ca = httpx.get(f"{url}/ca.pem", timeout=30)
        assert ca.status_code == 200 and ca.text.startswith("-----BEGIN CERTIFICATE-----")
        self.ca = workdir / "ca.pem"
        self.ca.write_text(ca.text)

    def ocsp(self, serial: str) -> str:
        done = openssl(
            "ocsp", "-issuer", str(self.ca), "-CAfile", str(self.ca), "-serial", f"0x{serial}",
            "-url", f"{self.url}/ocsp", "-header", f"Authorization=Bearer {self.token}",
        )  # fmt: skip
        assert "Response verify OK" in done.stderr, done.stderr + done.stdout
        return done.stdout

    def crl_text(self) -> str:
        r = self.http.get("/crl")
        assert r.status_code == 200 and r.headers["content-type"] == "application/pkix-crl"
        path = self.dir / "crl.der"
        path.write_bytes(r.content)
        done = openssl("crl", "-inform", "DER", "-in", str(path), "-CAfile", str(self.ca), "-noout", "-text")
        assert done.returncode == 0 and "verify OK" in done.stderr, done.stderr
        return done.stdout


@pytest.fixture
def served(tmp_path: Path) -> Any:
    settings = service_settings(tmp_path)
    clerk_token = make_token(settings, Role.CLERK, "sato")
    rp_token = make_token(settings, Role.RELYING_PARTY, "bank", office=None)
    with live_server(settings) as server, server.client() as client:
        yield Api(client, clerk_token), RelyingParty(server.url, rp_token, tmp_path)


def certificates(clerk: Api, card: str) -> dict[str, str]:
    return {c["kind"]: c["serial"] for c in clerk.get(f"/cards/{card}").json()["certificates"]}


def test_R49_R50_ocsp_good_then_held_during_a_suspension_then_good_again(served: Any) -> None:
    clerk, bank = served
    card = clerk.issue_card()
    serials = certificates(clerk, card)
    assert f"0x{serials['AUTH']}: good" in bank.ocsp(serials["AUTH"])
    assert clerk.command("suspend", card).status_code == 201
    held = bank.ocsp(serials["AUTH"])
    assert f"0x{serials['AUTH']}: revoked" in held and "Reason: certificateHold" in held
    assert "Certificate Hold" in bank.crl_text()
    r = clerk.command("lift-suspension", card, filed_by={"role": "holder"}, in_person=True)
    assert r.status_code == 201, r.text
    assert f"0x{serials['AUTH']}: good" in bank.ocsp(serials["AUTH"])
    assert serials["AUTH"] not in bank.crl_text().replace(" ", "")


def test_R51_ocsp_and_crl_say_revoked_with_the_reason_after_a_loss(served: Any) -> None:
    clerk, bank = served
    card = clerk.issue_card()
    serials = certificates(clerk, card)
    assert f"0x{serials['SIG']}: good" in bank.ocsp(serials["SIG"])
    assert clerk.command("report-loss", card, lost_at_home=True).status_code == 201
    for kind in ("SIG", "AUTH"):
        answer = bank.ocsp(serials[kind])
        assert f"0x{serials[kind]}: revoked" in answer, answer
        assert "Reason: keyCompromise" in answer
    crl = bank.crl_text()
    assert "X509v3 CRL Number" in crl and crl.count("Key Compromise") == 2
    assert serials["SIG"] in crl.replace(" ", "")


def test_ocsp_answers_unknown_for_a_serial_never_issued_and_refuses_without_a_token(served: Any) -> None:
    clerk, bank = served
    clerk.issue_card()
    assert "0x00112233445566778899: unknown" in bank.ocsp("00112233445566778899")
    assert httpx.get(f"{bank.url}/crl", timeout=30).status_code == 401


def test_the_json_status_for_relying_parties_has_no_personal_data(served: Any) -> None:
    clerk, bank = served
    card = clerk.issue_card(my_number=new_my_number())
    serial = certificates(clerk, card)["AUTH"]
    r = bank.http.get(f"/certificates/{serial}/status", params={"at": "2026-04-01T10:00"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["valid_at"] is False and body["rule"] == "R43" and body["usable"] is False
    assert body["usable_from"].startswith("2026-04-02T06:30")
    assert body["face_only"] is False
    assert not {"card_id", "holder", "holder_ref", "device", "application_id"} & body.keys()
    later = bank.http.get(f"/certificates/{serial}/status", params={"at": "2026-04-03T10:00"}).json()
    assert later["valid_at"] is True and later["usable"] is True
    assert bank.http.get("/certificates/00112233445566778899/status").status_code == 404


def test_ocsp_by_get_answers_like_post(served: Any) -> None:
    import base64

    clerk, bank = served
    serial = certificates(clerk, clerk.issue_card())["SIG"]
    request = bank.dir / "req.der"
    made = openssl(
        "ocsp", "-issuer", str(bank.ca), "-serial", f"0x{serial}", "-reqout", str(request), "-no_nonce"
    )
    assert made.returncode == 0, made.stderr
    encoded = base64.b64encode(request.read_bytes()).decode()
    r = bank.http.get(f"/ocsp/{encoded}")
    assert r.status_code == 200 and r.headers["content-type"] == "application/ocsp-response"
    response = bank.dir / "resp.der"
    response.write_bytes(r.content)
    done = openssl(
        "ocsp",
        "-respin",
        str(response),
        "-issuer",
        str(bank.ca),
        "-CAfile",
        str(bank.ca),
        "-serial",
        f"0x{serial}",
    )
    assert "Response verify OK" in done.stderr and f"0x{serial}: good" in done.stdout


def test_the_crl_command_writes_the_list_openssl_verifies(tmp_path: Path) -> None:
    from tests.helpers.recorded_store import cli

    settings = service_settings(tmp_path)
    token = make_token(settings, Role.CLERK)
    with live_server(settings) as server, server.client() as client:
        clerk = Api(client, token)
        card = clerk.issue_card()
        assert clerk.command("suspend", card).status_code == 201
    ca, crl = tmp_path / "ca.pem", tmp_path / "list.pem"
    assert cli(settings, "ca", "--out", str(ca)).returncode == 0
    written = cli(settings, "crl", "--out", str(crl), "--pem").out
    assert written["entries"] >= 1 and written["crl_number"] >= 1
    done = openssl("crl", "-in", str(crl), "-CAfile", str(ca), "-noout", "-text")
    assert "verify OK" in done.stderr and "Certificate Hold" in done.stdout
    refused = cli(settings, "crl", "--out", str(tmp_path / "missing" / "dir" / "x.der"))
    assert refused.returncode == 2 and refused.error["issues"][0]["field"] == "--out"
