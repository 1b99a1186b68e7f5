"""``mynacard verify-feed``: check a delivered feed against the hash chain and its signed
checkpoints (issue 13), as any consumer can (``projections.chain_follower``).

It reads the feed on standard input: JSON lines as ``mynacard events`` prints them, or the text
of an SSE stream (``GET /events``: ``data:`` lines; ids, event names and comments are skipped),
and exits 7 naming the position at the first gap, reordering or mismatch, or at a checkpoint
that is not signed by the store's key. ``--public-key`` names the PEM served at
``GET /checkpoints/public-key`` (default: the configured store's own key); ``--start
POSITION:CHAIN_HASH`` resumes from a chain hash a consumer kept.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from commands.config import Settings
from commands.errors import InputError
from mynacard import output
from mynacard.bootstrap import open_log
from mynacard.cli_support import EXIT_DIFFERENCES, EXIT_OK
from mynacard.integrity.signing import load_public_key, open_log_signer
from projections.chain_follower import ChainFollower, ChainIntegrityError
from storage.chain import ChainLink
from storage.interface import CommandLog


def feed_objects(lines: Iterable[str]) -> Iterable[dict[str, Any]]:
    """The JSON objects of a feed: JSON lines, or an SSE stream's ``data:`` lines."""
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if line.startswith("data:"):
            line = line[5:].strip()
        if not line.startswith("{"):
            continue
        try:
            found = json.loads(line)
        except json.JSONDecodeError as e:
            raise ChainIntegrityError(0, f"line {number} is not JSON ({e.msg})") from None
        if isinstance(found, dict):
            yield found


def _start(text: str | None) -> ChainLink | None:
    if text is None:
        return None
    position, _, digest = text.partition(":")
    try:
        link = ChainLink(int(position), bytes.fromhex(digest))
    except ValueError:
        link = None
    if link is None or link.position < 0 or len(link.chain_hash) != 32:
        raise InputError.single("--start", "give POSITION:CHAIN_HASH (the hash as 64 hex digits)")
    return link


def _follower(ns: argparse.Namespace, settings: Settings) -> ChainFollower:
    start = _start(ns.start)
    if ns.public_key is not None:
        path = Path(ns.public_key)
        try:
            data = path.read_bytes()
        except OSError as e:
            raise InputError.single("--public-key", f"cannot read {path} ({e.strerror})") from None
        return ChainFollower(load_public_key(data, str(path)), store_id=ns.store_id, start=start)
    log = open_log(settings)
    try:
        recorder = log.recorder
        assert isinstance(recorder, CommandLog)
        key = open_log_signer(settings, recorder).public_key
        identity = recorder.store_identity()
    finally:
        log.close()
    store_id = ns.store_id or (identity.store_id if identity else None)
    return ChainFollower(key, store_id=store_id, start=start)


def run_verify_feed(ns: argparse.Namespace, settings: Settings) -> int:
    follower = _follower(ns, settings)
    try:
        for obj in feed_objects(sys.stdin):
            follower.record(obj)
    except ChainIntegrityError as e:
        output.print_error({**e.as_dict(), **follower.as_dict()}, ns.json)
        return EXIT_DIFFERENCES
    found = follower.as_dict()
    last = follower.verified[-1].position if follower.verified else 0
    found["unproven_after"] = last if follower.position > last else None
    if ns.json:
        output.print_json(found)
    else:
        print(
            f"feed intact: {follower.events} events, {len(follower.verified)} checkpoints verified"
            + (f" (the last at position {last})" if last else "")
            + (
                f"; events after position {last} await the next checkpoint"
                if follower.position > last
                else ""
            )
        )
    return EXIT_OK


def add_verify_feed(add: Any) -> None:
    p = add(
        "verify-feed",
        run_verify_feed,
        "check a delivered feed (JSON lines or SSE, on stdin) against the hash chain and its checkpoints",
        __doc__.split("\n\n", 1)[1].replace("``", "'") if __doc__ else None,
    )
    p.add_argument(
        "--public-key", metavar="PEM", help="the log signing key's public key (GET /checkpoints/public-key)"
    )
    p.add_argument("--store-id", help="the store the checkpoints must name (default: the configured store's)")
    p.add_argument(
        "--start", metavar="POSITION:CHAIN_HASH", help="the chain hash kept at the resume position"
    )
