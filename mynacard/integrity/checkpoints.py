"""Making and checking signed checkpoints of the hash chain (issue 13; the format is
``storage.chain_checkpoints``).

- ``make_checkpoint``: sign the chain head, once the chain from the previous checkpoint up to the
  head was recomputed and found intact (a broken chain is never signed: ``StoreIntegrityError``),
  and only when the log grew since the previous checkpoint. ``mynacard checkpoint`` makes one;
  ``serve`` makes them every ``MYNACARD_CHECKPOINT_INTERVAL`` seconds (``CheckpointMaker``).
- ``pinned_checkpoints``: the stored checkpoints as pins for ``verify --chain`` (position → chain
  hash), each signature checked with the store's public key first: a checkpoint that is not
  the store's is itself tampering (``ForgedCheckpoint``, exit 7).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519
from eventsourcing.utils import Environment

from commands.config import Settings
from mynacard.bootstrap import LOG_NAME
from mynacard.integrity.signing import LogSigner, open_log_signer
from storage import chain
from storage.chain import ChainBreak, ChainLink
from storage.chain_checkpoints import SignedCheckpoint, checkpoint_problem, sign_checkpoint
from storage.integrity import StoreIntegrityError
from storage.interface import ChainCheckpoints, CommandLog, StorageFactory
from storage.keys import ensure_data_dir
from storage.settings import prepare_storage, storage_env

log = logging.getLogger("mynacard.checkpoints")
WALK_BATCH = 5000


class ForgedCheckpoint(StoreIntegrityError):
    """A stored checkpoint is not signed by the store's key, or names another store (exit 7)."""

    def __init__(self, position: int, problem: str) -> None:
        self.position = position
        self.problem = problem
        super().__init__(problem)


def open_chain_checkpoints(settings: Settings) -> ChainCheckpoints:
    """The signed checkpoints, in the event store's own database (its file on SQLite, its schema
    and table prefix on PostgreSQL)."""
    ensure_data_dir(settings)
    env = storage_env(settings)
    prepare_storage(env)
    factory: StorageFactory[Any] = StorageFactory.construct(Environment(name=LOG_NAME, env=env))
    return factory.chain_checkpoints()


def store_id_of(log_: CommandLog) -> str:
    identity = log_.store_identity()
    if identity is None:
        raise StoreIntegrityError("the store has no identity: it was never opened by mynacard")
    return identity.store_id


def check_signatures(
    checkpoints: list[SignedCheckpoint], key: ed25519.Ed25519PublicKey, store_id: str | None
) -> dict[int, bytes]:
    """Position → chain hash of ``checkpoints``, each one's signature checked first."""
    pins: dict[int, bytes] = {}
    for checkpoint in checkpoints:
        problem = checkpoint_problem(checkpoint, key, store_id)
        if problem is not None:
            raise ForgedCheckpoint(checkpoint.position, problem)
        pins[checkpoint.position] = bytes.fromhex(checkpoint.chain_hash)
    return pins


def all_checkpoints(store: ChainCheckpoints) -> list[SignedCheckpoint]:
    found: list[SignedCheckpoint] = []
    while batch := store.checkpoints(after=found[-1].position if found else 0):
        found.extend(batch)
    return found


def pinned_checkpoints(settings: Settings, log_: CommandLog) -> dict[int, bytes]:
    """The store's checkpoints as pins (``ForgedCheckpoint`` for one that is not the store's)."""
    store = open_chain_checkpoints(settings)
    try:
        found = all_checkpoints(store)
    finally:
        store.close()
    if not found:
        return {}
    signer = open_log_signer(settings, log_)
    return check_signatures(found, signer.public_key, store_id_of(log_))


@dataclass(frozen=True)
class Made:
    """The outcome of ``make_checkpoint``: the checkpoint at the head, and whether it is new."""

    checkpoint: SignedCheckpoint
    new: bool

    def as_dict(self) -> dict[str, Any]:
        return {**self.checkpoint.as_dict(), "new": self.new}


def _verified_head(log_: CommandLog, start: ChainLink | None) -> ChainLink | None:
    """The chain recomputed from ``start`` (a verified link) to the end of the log."""
    last, after = start, start.position if start else 0
    while rows := log_.chain_rows(after, WALK_BATCH):
        for item in chain.walk(rows, last):
            if isinstance(item, ChainBreak):
                raise StoreIntegrityError(
                    f"the hash chain is broken at position {item.position} ({item.problem}): no "
                    "checkpoint is signed over a broken chain; run 'mynacard verify --chain'"
                )
            last = item
        after = rows[-1].position
    return last


def make_checkpoint(
    log_: CommandLog, store: ChainCheckpoints, signer: LogSigner, now: datetime
) -> Made | None:
    """A checkpoint of the chain head (None: the log is empty); the latest one when the log did
    not grow since it."""
    latest = store.latest_checkpoint()
    start = None
    store_id = store_id_of(log_)
    if latest is not None:
        check_signatures([latest], signer.public_key, store_id)
        stored = log_.chain_link_at(latest.position)
        if stored is None or stored.chain_hash.hex() != latest.chain_hash:
            raise StoreIntegrityError(
                f"the chain at position {latest.position} is not the one the checkpoint signed there: "
                "the log was rewritten; run 'mynacard verify --chain'"
            )
        start = latest.link
        head = log_.chain_head()
        if head is not None and head.position <= latest.position and log_.log_max_position() <= head.position:
            return Made(latest, False)
    head = _verified_head(log_, start)
    if head is None:
        return None
    if latest is not None and head.position <= latest.position:
        return Made(latest, False)
    made = sign_checkpoint(store_id, head, now, signer.key_id, signer.sign)
    kept = store.add_checkpoint(made)
    return Made(kept, kept == made)


def checkpoint_now(settings: Settings, log_: CommandLog, now: datetime | None = None) -> Made | None:
    """``mynacard checkpoint``: one at the current chain head of the configured store."""
    signer = open_log_signer(settings, log_)
    store = open_chain_checkpoints(settings)
    try:
        return make_checkpoint(log_, store, signer, now or datetime.now(UTC))
    finally:
        store.close()


class CheckpointMaker:
    """The service's periodic checkpoints: every ``interval`` seconds, in a thread of its own,
    one checkpoint when the log grew. Workers racing at one head store one checkpoint (the
    table keeps one per position); a failure is logged and tried again next time."""

    def __init__(self, make: Callable[[], Made | None], interval: float) -> None:
        self.make = make
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mynacard-checkpoints", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                made = self.make()
            except Exception:
                log.exception("making a checkpoint of the hash chain failed")
                continue
            if made is not None and made.new:
                log.info("checkpoint at position %d", made.checkpoint.position)
