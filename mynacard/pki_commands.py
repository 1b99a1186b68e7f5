"""``mynacard crl``: the revocation list as a signed X.509 CRL in a file (DER, or PEM with
``--pem``), the same the service serves at ``GET /crl``; ``mynacard ca``: the issuer certificate."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from commands.config import Settings
from commands.errors import InputError
from mynacard import output
from mynacard.cli_support import EXIT_OK, caught_up, subcommand_adder
from mynacard.pki.answers import crl_der
from mynacard.pki.crl import crl_pem
from mynacard.pki.issuer import open_issuer


def _write(path_text: str, data: bytes) -> Path:
    path = Path(path_text)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise InputError.single("--out", f"cannot write {path}: {e.strerror or e}") from None
    return path


def run_crl(ns: argparse.Namespace, settings: Settings) -> int:
    app, read = caught_up(settings, ns)
    issuer = open_issuer(settings, app.command_log)
    identity = app.command_log.store_identity()
    der = crl_der(read, issuer, settings.crl_validity, identity.created_at if identity else None)
    path = _write(ns.out, crl_pem(der) if ns.pem else der)
    number, entries = read.revocation_list()
    if ns.json:
        output.print_json({"file": str(path), "crl_number": number, "entries": len(entries), "pem": ns.pem})
        return EXIT_OK
    form = "PEM" if ns.pem else "DER"
    subject = issuer.name.rfc4514_string()
    print(f"CRL no. {number} with {len(entries)} entries written to {path} ({form}), signed by {subject}")
    print(f"check it with: openssl crl -inform {form} -in {path} -CAfile ca.pem -noout -text ('mynacard ca')")
    return EXIT_OK


def run_ca(ns: argparse.Namespace, settings: Settings) -> int:
    app, _ = caught_up(settings, ns)
    issuer = open_issuer(settings, app.command_log)
    path = _write(ns.out, issuer.pem)
    if ns.json:
        output.print_json(
            {"file": str(path), "subject": issuer.name.rfc4514_string(), "fingerprint": issuer.fingerprint}
        )
        return EXIT_OK
    print(f"issuer certificate ({issuer.name.rfc4514_string()}) written to {path}")
    return EXIT_OK


def add_pki_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    add = subcommand_adder(sub, common)
    p = add("crl", run_crl, "write the revocation list as a signed X.509 CRL (RFC 5280)")
    p.add_argument("--out", required=True, metavar="FILE", help="where to write it")
    p.add_argument("--pem", action="store_true", help="PEM instead of DER")
    p = add("ca", run_ca, "write the CRL/OCSP issuer certificate (PEM)")
    p.add_argument("--out", required=True, metavar="FILE", help="where to write it")
    add_latency_command(sub, common)


def run_latency(ns: argparse.Namespace, settings: Settings) -> int:
    from mynacard.bootstrap import open_checkpoints, open_staff_registry
    from mynacard.cli_support import option_moment
    from mynacard.latency import measure

    since = option_moment("--since", ns.since) if ns.since else None
    _, read = caught_up(settings, ns)
    registry, checkpoints = open_staff_registry(settings), open_checkpoints(settings)
    try:
        report = measure(read, registry, checkpoints, settings, since)
    finally:
        registry.close()
    if ns.json:
        output.print_json(report)
        return EXIT_OK if not report["breaches"] else EXIT_SLO_BREACHED
    output.print_table(
        f"Revocation latency over {report['revocations']} revocations"
        + (f" recorded since {report['since']}" if report["since"] else ""),
        ("channel", "kind", "seen", "not yet", "p50 s", "p99 s", "max s", "objective s", "met"),
        (
            (
                r["channel"], r["kind"], str(r["seen"]), str(r["not_seen_yet"]),
                _s(r["p50_s"]), _s(r["p99_s"]), _s(r["max_s"]), _s(r["objective_s"]),
                "yes" if r["objective_met"] else "NO",
            )
            for r in report["channels"]
        ),
    )  # fmt: skip
    if report["breaches"]:
        print(f"objective breached by: {', '.join(report['breaches'])}")
        return EXIT_SLO_BREACHED
    return EXIT_OK


EXIT_SLO_BREACHED = 1
"""``latency``: 1 when a channel breaches the objective (like ``valid-at --check``: a negative answer)."""


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def add_latency_command(sub: Any, common: argparse.ArgumentParser) -> None:
    add = subcommand_adder(sub, common)
    p = add(
        "latency",
        run_latency,
        "how fast revocations reached OCSP, the CRL and each named consumer (p50/p99/max)",
        "For every revocation or hold: how long after it was recorded it was first served by OCSP "
        "and in a CRL, and first acknowledged by each named consumer; the objective's breaches "
        "(MYNACARD_SLO_*) make the exit status 1.",
    )
    p.add_argument("--since", metavar="WHEN", help="only revocations recorded since WHEN")
