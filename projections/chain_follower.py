"""The consumer's half of the hash chain (issue 13): keep the running chain hash over the events
delivered, and check it against each signed checkpoint delivered among them. A consumer that
passes a checkpoint has proof that it saw every event up to its position, unchanged and in order.

``ChainFollower`` takes the feeds' records as they come (``record(obj)``: a ``mynacard.event/1``
object with its chain fields, or a ``mynacard.checkpoint/1`` object; SSE frames, ``mynacard
events`` lines and NATS messages carry the same JSON) or typed calls (``event``, ``checkpoint``).
It raises ``ChainIntegrityError`` (a ``StoreIntegrityError``: exit 7 on the command line) naming
the position on:

- a position that repeats or runs backwards (reordered or replayed);
- an event whose delivered ``chain_hash`` differs from the one recomputed from the events before
  it (one was removed, inserted, altered or reordered before it — a feed that sends no chain
  hashes, or rewrites them, is caught at the next checkpoint instead);
- a checkpoint whose signature is not the store's key's, or which names another store;
- a checkpoint ahead of the events delivered (events before it are missing), or whose signed
  chain hash differs from the running one at its position.

Where it starts: from the genesis hash when the first event is at position 1; a resumed
consumer gives ``start`` (the chain hash it kept with its last handled position, or the log's
``EventChain.chain_link_at``); otherwise the first event's delivered chain hash is taken as the
anchor, which the next checkpoint proves (only the true chain reaches the signed hash).

May import: the standard library, ``cryptography``, ``eventsourcing.persistence``, ``storage`` and
``projections.chain_feed``.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric import ed25519
from eventsourcing.persistence import Notification

from projections.chain_feed import start_link
from storage import chain
from storage.chain import ChainLink
from storage.chain_checkpoints import CHECKPOINT_SCHEMA, SignedCheckpoint, checkpoint_problem
from storage.integrity import StoreIntegrityError
from storage.interface import ChainCheckpoints, EventChain

WINDOW = 65_536
"""Chain hashes of this many latest positions are kept: a checkpoint delivered late (made after
the feed passed its position) is checked against the hash at its own position."""


class ChainIntegrityError(StoreIntegrityError):
    """The delivered events do not form the store's chain (see the module docstring)."""

    def __init__(self, position: int, problem: str) -> None:
        self.position = position
        self.problem = problem
        super().__init__(f"position {position}: {problem}")

    def as_dict(self) -> dict[str, Any]:
        return {"kind": "integrity", "message": str(self), "position": self.position, "problem": self.problem}


class ChainFollower:
    """The running chain hash of one consumer (see the module docstring)."""

    def __init__(
        self,
        public_key: ed25519.Ed25519PublicKey,
        *,
        store_id: str | None = None,
        start: ChainLink | None = None,
        window: int = WINDOW,
    ) -> None:
        self.public_key = public_key
        self.store_id = store_id
        self.window = window
        self.head: ChainLink | None = start
        self._recent: OrderedDict[int, bytes] = OrderedDict()
        if start is not None:
            self._recent[start.position] = start.chain_hash
        self.events = 0
        self.verified: list[SignedCheckpoint] = []
        """Checkpoints verified, in order."""
        self.unverifiable = 0
        """Checkpoints below what this follower has seen (before its start): signature checked only."""

    @property
    def position(self) -> int:
        return self.head.position if self.head else 0

    # -- events

    def event(
        self,
        position: int,
        originator_id: UUID | str,
        originator_version: int,
        topic: str,
        payload_sha256: bytes,
        chain_hash: bytes | None = None,
    ) -> bytes:
        """Take the next delivered event; its chain hash as recomputed."""
        if self.head is not None and position <= self.head.position:
            raise ChainIntegrityError(
                position, f"delivered after position {self.head.position}: events were reordered or replayed"
            )
        if self.head is None and position != 1:
            if chain_hash is None:
                raise ChainIntegrityError(
                    position, "the first event is not at position 1 and carries no chain hash to start from"
                )
            computed = chain_hash  # the anchor: proved by the next checkpoint
        else:
            previous = self.head.chain_hash if self.head else chain.GENESIS
            try:
                computed = chain.link_digest(
                    previous, position, originator_id, originator_version, topic, payload_sha256
                )
            except (ValueError, OverflowError) as e:
                raise ChainIntegrityError(position, f"the event's chain inputs are malformed ({e})") from None
            if chain_hash is not None and chain_hash != computed:
                raise ChainIntegrityError(
                    position,
                    "the event's chain hash is not the one computed from the events delivered before it: "
                    "an event was removed, inserted, altered or reordered",
                )
        self.head = ChainLink(position, computed)
        self._recent[position] = computed
        while len(self._recent) > self.window:
            self._recent.popitem(last=False)
        self.events += 1
        return computed

    # -- checkpoints

    def checkpoint(self, checkpoint: SignedCheckpoint) -> bool:
        """Check a delivered checkpoint; True when its hash was compared (False: it lies before
        what this follower has seen, and only its signature was checked)."""
        problem = checkpoint_problem(checkpoint, self.public_key, self.store_id)
        if problem is not None:
            raise ChainIntegrityError(checkpoint.position, problem)
        if checkpoint.position > self.position:
            raise ChainIntegrityError(
                checkpoint.position,
                f"the checkpoint is ahead of the events delivered (the last one at position "
                f"{self.position}): events before it are missing",
            )
        held = self._recent.get(checkpoint.position)
        if held is None:
            oldest = next(iter(self._recent), None)
            if oldest is not None and checkpoint.position > oldest:
                raise ChainIntegrityError(
                    checkpoint.position,
                    "the checkpoint names a position at which no event was delivered: an event was removed",
                )
            self.unverifiable += 1
            return False
        if held.hex() != checkpoint.chain_hash:
            raise ChainIntegrityError(
                checkpoint.position,
                "the events delivered up to here do not hash to the signed checkpoint: an event was "
                "removed, inserted, altered or reordered",
            )
        self.verified.append(checkpoint)
        return True

    # -- the feeds' JSON

    def record(self, obj: Mapping[str, Any]) -> str:
        """Take one delivered JSON object; ``"checkpoint"`` or ``"event"``."""
        if obj.get("type") == "checkpoint" or obj.get("schema") == CHECKPOINT_SCHEMA:
            try:
                signed = SignedCheckpoint.from_dict(obj)
            except ValueError as e:
                raise ChainIntegrityError(int(obj.get("position") or 0), str(e)) from None
            self.checkpoint(signed)
            return "checkpoint"
        position = obj.get("position")
        try:
            digest = bytes.fromhex(obj["payload_sha256"])
            given = obj.get("chain_hash")
            self.event(
                int(obj["position"]),
                obj["originator_id"],
                int(obj["originator_version"]),
                obj["topic"],
                digest,
                bytes.fromhex(given) if given is not None else None,
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ChainIntegrityError(
                position if isinstance(position, int) else 0,
                f"the event lacks its chain fields ({e}): a feed of mynacard.event/1 with "
                "payload_sha256 is needed",
            ) from None
        return "event"

    def as_dict(self) -> dict[str, Any]:
        last = self.verified[-1] if self.verified else None
        return {
            "events": self.events,
            "head": self.head.as_dict() if self.head else None,
            "checkpoints_verified": len(self.verified),
            "checkpoints_before_start": self.unverifiable,
            "last_verified_checkpoint": last.as_dict() if last else None,
        }


class ChainGuard:
    """The chain check of a consumer that reads the log itself (``DurableConsumer(chain=...)``):
    each delivered stored event goes through a ``ChainFollower``, and each stored checkpoint is
    checked before the event at its position is handed on. A consumer resuming after position N
    asks the log for the chain hash at N (``EventChain.chain_link_at``; the consumer's
    acknowledgement proved, by its fingerprint, that the log still holds its event there).
    ``followers`` keeps the follower of each read, the newest last."""

    REFRESH = 1.0
    """Seconds before the stored checkpoints are read again while following."""

    def __init__(
        self,
        log: EventChain,
        checkpoints: ChainCheckpoints,
        public_key: ed25519.Ed25519PublicKey,
        store_id: str | None,
    ) -> None:
        self.log = log
        self.checkpoints = checkpoints
        self.public_key = public_key
        self.store_id = store_id
        self.followers: list[ChainFollower] = []

    def __call__(self, after: int, notes: Iterable[Notification]) -> Iterator[Notification]:
        start = start_link(self.log, after)
        if start is None:
            raise ChainIntegrityError(after, "the log keeps no chain hash at the consumer's position")
        follower = ChainFollower(self.public_key, store_id=self.store_id, start=ChainLink(after, start))
        self.followers.append(follower)
        due: list[SignedCheckpoint] = []
        checked, fetched_at = after, -self.REFRESH
        for n in notes:
            follower.event(
                n.id, n.originator_id, n.originator_version, n.topic, chain.payload_digest(n.state)
            )
            if not due and time.monotonic() - fetched_at >= self.REFRESH:
                due, fetched_at = self.checkpoints.checkpoints(after=checked, limit=1000), time.monotonic()
            while due and due[0].position <= n.id:
                follower.checkpoint(due[0])
                checked = due.pop(0).position
            yield n
