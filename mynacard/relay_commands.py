"""``mynacard relay``: publish the event log to a NATS JetStream stream (``mynacard/relay.py``;
README, "The NATS JetStream relay"). This module only checks the options, holds the consumer's
lease and prints; the NATS client is loaded when the relay runs, not with the CLI."""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from commands.config import Settings
from commands.errors import InputError
from mynacard import output
from mynacard.bootstrap import open_checkpoints, open_log
from mynacard.integrity.checkpoints import open_chain_checkpoints
from projections.subscriptions import CheckpointNotInLog, DurableConsumer, check_consumer_name
from storage.errors import ConfigurationError, ConsumerBusy

if TYPE_CHECKING:
    from mynacard.relay import RelayOptions, RelayReport

EXIT_OK, EXIT_CONFLICT, EXIT_CONFIG = 0, 5, 6
DEFAULT_NATS = "nats://127.0.0.1:4222"
DEFAULT_STREAM = "MYNACARD"
DEFAULT_PREFIX = "mynacard"
DEFAULT_CONSUMER = "relay"
SCHEMES = ("nats", "tls", "ws", "wss")
_STREAM = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PREFIX = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+){0,7}")
LIMITS = {
    "--batch": (1, 10_000),
    "--interval": (0.01, 3600.0),
    "--ack-timeout": (0.1, 600.0),
    "--retry-for": (0.0, 86_400.0),
}


# ----------------------------------------------------------------------------- checking options


def _servers(text: str) -> list[str]:
    """``--nats``: one URL or several, comma-separated (a cluster's seed servers)."""
    servers = [s.strip() for s in text.split(",") if s.strip()]
    if not servers:
        raise InputError.single("--nats", "give the NATS server's URL, e.g. nats://127.0.0.1:4222")
    for server in servers:
        try:
            url = urlsplit(server)
            port = url.port
        except ValueError as e:
            raise InputError.single("--nats", f"{server!r} is not a URL ({e})") from None
        if url.scheme not in SCHEMES or not url.hostname:
            raise InputError.single(
                "--nats",
                f"{server!r} is not a NATS URL: give {'://, '.join(SCHEMES)}://HOST[:PORT], "
                "e.g. nats://127.0.0.1:4222",
            )
        if port == 0:
            raise InputError.single("--nats", f"{server!r}: give a port from 1 to 65535")
    return servers


def _in_range(option: str, value: float) -> float:
    low, high = LIMITS[option]
    if not (math.isfinite(value) and low <= value <= high):
        raise InputError.single(option, f"give a value from {low:g} to {high:g} (got {value:g})")
    return value


def relay_options(ns: argparse.Namespace) -> RelayOptions:
    """The options of ``mynacard relay``, or InputError naming the first wrong one."""
    from mynacard.relay import RelayOptions

    servers = _servers(ns.nats)
    if not _STREAM.fullmatch(ns.stream):
        raise InputError.single(
            "--stream", "a JetStream stream name: 1–64 letters, digits, '_' and '-' (e.g. MYNACARD)"
        )
    if not _PREFIX.fullmatch(ns.subject_prefix):
        raise InputError.single(
            "--subject-prefix",
            "subject tokens of letters, digits, '_' and '-', separated by dots (at most 8; no "
            "wildcards), e.g. mynacard or city.nishitokyo.mynacard",
        )
    try:
        check_consumer_name(ns.consumer)
    except ValueError as e:
        raise InputError.single("--consumer", str(e)) from None
    return RelayOptions(
        servers=servers,
        stream=ns.stream,
        prefix=ns.subject_prefix,
        once=ns.once,
        batch=int(_in_range("--batch", ns.batch)),
        interval=_in_range("--interval", ns.interval),
        ack_timeout=_in_range("--ack-timeout", ns.ack_timeout),
        retry_for=_in_range("--retry-for", ns.retry_for),
    )


# ----------------------------------------------------------------------------- running


def run_relay(ns: argparse.Namespace, settings: Settings) -> int:
    """Publish the log to JetStream as durable consumer ``--consumer`` (see mynacard/relay.py)."""
    options = relay_options(ns)
    from mynacard.relay import NatsUnavailable, relay

    def progress(kind: str, report: RelayReport, text: str) -> None:
        if ns.json:
            line = {"relay": kind, "message": text, "checkpoint": report.checkpoint}
            line.update(published=report.published, duplicates=report.duplicates)
            sys.stderr.write(json.dumps(line, ensure_ascii=False) + "\n")
        else:
            sys.stderr.write(f"relay: {text}\n")
        sys.stderr.flush()

    log = open_log(settings)
    try:
        consumer = DurableConsumer(ns.consumer, open_checkpoints(settings), log.recorder, log.mapper)
        signed = open_chain_checkpoints(settings)
        try:
            with consumer.lease():
                report = relay(consumer, options, progress, signed)
        finally:
            signed.close()
    except ConsumerBusy as e:
        output.print_error(_busy(e, ns.consumer), ns.json)
        return EXIT_CONFLICT
    except NatsUnavailable as e:
        output.print_error(e.as_dict(), ns.json)
        return EXIT_CONFIG
    except CheckpointNotInLog as e:
        raise ConfigurationError(f"{e}; {e.advice()}") from None
    finally:
        log.close()
    _print_report(report, ns.json)
    return EXIT_OK


def _busy(e: ConsumerBusy, consumer: str) -> dict[str, Any]:
    return {
        "kind": e.kind,
        "message": f"{e} (another relay?)",
        "hint": f"one relay per consumer name: stop the other 'mynacard relay --consumer {consumer}' (or "
        f"'mynacard events --consumer {consumer}'), or relay under another --consumer into another --stream",
    }


def _print_report(report: RelayReport, as_json: bool) -> None:
    if as_json:
        output.print_json(report.as_dict())
        return
    span = f" (positions {report.first}–{report.last})" if report.first is not None else ""
    held = (
        f"; the stream already held positions up to {report.stream_held_through}"
        if report.stream_held_through is not None
        else ""
    )
    stopped = "stopped by a signal" if report.stopped == "signal" else "stopped at the end of the log"
    print(
        f"relay (consumer {report.consumer}): {report.published} events published{span} to stream "
        f"{report.stream} ({report.subjects}), {report.duplicates} duplicates dropped by JetStream{held}; "
        f"checkpoint {report.checkpoint} of log head {report.log_head}; {stopped} after {report.seconds:g} s"
    )
    for warning in report.warnings:
        print(f"  warning: {warning}")


def add_relay_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "relay",
        parents=[common],
        help="publish the event log to a NATS JetStream stream",
        description="Publish every event, in log order, to a NATS JetStream stream: subject "
        "<prefix>.<aggregate>.<event> (mynacard.card.suspended, mynacard.certificate.revoked), payload "
        "the JSON line of 'mynacard events' (docs/events.md), header Nats-Msg-Id = the log position. "
        "The relay is a durable consumer: its checkpoint moves only past positions JetStream "
        "acknowledged, and it resumes there; one relay per consumer name (exit 5). Without --once it "
        "follows the log until SIGTERM or Ctrl-C. Exit 6 when NATS does not answer. See the README, "
        "'The NATS JetStream relay'.",
    )
    p.set_defaults(run=run_relay)
    p.add_argument(
        "--nats",
        default=DEFAULT_NATS,
        metavar="URL",
        help=f"the NATS server(s), comma-separated ({DEFAULT_NATS})",
    )
    p.add_argument(
        "--stream",
        default=DEFAULT_STREAM,
        metavar="NAME",
        help=f"the JetStream stream, created or updated to take <prefix>.> ({DEFAULT_STREAM})",
    )
    p.add_argument(
        "--subject-prefix",
        default=DEFAULT_PREFIX,
        metavar="PREFIX",
        help=f"the first token(s) of every subject ({DEFAULT_PREFIX}: {DEFAULT_PREFIX}.card.suspended)",
    )
    p.add_argument(
        "--consumer",
        default=DEFAULT_CONSUMER,
        metavar="NAME",
        help=f"the durable consumer whose checkpoint the relay keeps ({DEFAULT_CONSUMER})",
    )
    p.add_argument("--once", action="store_true", help="publish what the log holds, then exit")
    p.add_argument(
        "--batch",
        type=int,
        default=100,
        metavar="N",
        help="events read, published and then checkpointed at a time (1–10000; 100)",
    )
    p.add_argument(
        "--interval",
        type=float,
        default=0.5,
        metavar="SECONDS",
        help="seconds between polls of the log when following (SQLite; PostgreSQL is woken at once)",
    )
    p.add_argument(
        "--ack-timeout",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="how long to wait for JetStream's acknowledgement of a message (5)",
    )
    p.add_argument(
        "--retry-for",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long to retry an unacknowledged message (same Nats-Msg-Id) before exiting 6 (30)",
    )
