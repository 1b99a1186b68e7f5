"""The hash chain over the event log (issue 13): every stored event carries a chain hash that
depends on the event and on every event before it, so an event deleted, inserted, reordered,
altered or given another row's payload breaks the chain from that position on.

Specified byte for byte (docs/events.md, "The hash chain"; test vectors in
``docs/chain-vectors.json``)::

    link(previous, event) = SHA-256(
          b"mynacard-chain/1\\x00"
        + previous                         (32 bytes; the genesis hash is 32 zero bytes)
        + position                         (8 bytes, big-endian, unsigned: the log position)
        + originator id                    (16 bytes: the UUID's bytes)
        + originator version               (8 bytes, big-endian, unsigned)
        + len(topic)                       (4 bytes, big-endian: the topic's UTF-8 length)
        + topic                            (UTF-8)
        + SHA-256(stored payload bytes)    (32 bytes)
    )

The payload enters through its SHA-256, so a consumer that is sent each event's payload
digest (the feeds do) can keep the running hash without the encrypted payload itself. The chain
is over the *stored* bytes: re-reading, upcasting or erasing a person's data key (crypto-shredding)
changes no stored byte and so never the chain.

Pure functions, no I/O. May import: the standard library, ``storage.errors`` and
``storage.integrity``.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from storage.errors import ConfigurationError
from storage.integrity import StoreIntegrityError

CHAIN_CONTEXT = b"mynacard-chain/1\x00"
CHAIN_COMPLETE_MARK = "chain_complete"
"""The store mark saying every event of the log is chained (set by ``chain --init`` when done,
and when a store is made): from then on an unchained event is an inserted one."""
GENESIS = bytes(32)
"""The hash before the first event."""
HASH_BYTES = 32

_sha256 = hashlib.sha256


def payload_digest(state: bytes) -> bytes:
    """SHA-256 of a stored payload's bytes (what the feeds send as ``payload_sha256``)."""
    return _sha256(state).digest()


def uuid_bytes(originator_id: UUID | str) -> bytes:
    """The 16 bytes of an originator id given as a UUID or as its text."""
    if isinstance(originator_id, UUID):
        return originator_id.bytes
    text = originator_id.replace("-", "")
    if len(text) != 32:
        raise ValueError(f"not a UUID: {originator_id!r}")
    return bytes.fromhex(text)


def link_digest(
    previous: bytes,
    position: int,
    originator_id: UUID | str,
    originator_version: int,
    topic: str,
    digest: bytes,
) -> bytes:
    """The chain hash of an event given its payload's SHA-256 (``digest``)."""
    encoded_topic = topic.encode("utf-8")
    return _sha256(
        CHAIN_CONTEXT
        + previous
        + position.to_bytes(8, "big")
        + uuid_bytes(originator_id)
        + originator_version.to_bytes(8, "big")
        + len(encoded_topic).to_bytes(4, "big")
        + encoded_topic
        + digest
    ).digest()


def link(
    previous: bytes,
    position: int,
    originator_id: UUID | str,
    originator_version: int,
    topic: str,
    state: bytes,
) -> bytes:
    """The chain hash of the event stored at ``position`` after the chain hash ``previous``."""
    return link_digest(previous, position, originator_id, originator_version, topic, payload_digest(state))


class StoredLike(Protocol):
    """What a stored event offers the chain (``eventsourcing.persistence.StoredEvent``)."""

    @property
    def originator_id(self) -> UUID | str: ...
    @property
    def originator_version(self) -> int: ...
    @property
    def topic(self) -> str: ...
    @property
    def state(self) -> bytes: ...


def link_stored(previous: bytes, position: int, stored: StoredLike) -> bytes:
    """The chain hash of ``stored`` saved at ``position`` after the chain hash ``previous``."""
    return link(
        previous, position, stored.originator_id, stored.originator_version, stored.topic, stored.state
    )


def chain_batch(
    previous: bytes, ids: Sequence[int], stored_events: Sequence[StoredLike]
) -> list[tuple[int, bytes]]:
    """The chain rows ``(position, chain hash)`` of events just saved at positions ``ids``."""
    rows = []
    for position, stored in zip(ids, stored_events, strict=True):
        previous = link_stored(previous, position, stored)
        rows.append((position, previous))
    return rows


@dataclass(frozen=True, slots=True)
class ChainLink:
    """A log position and the chain hash stored (or computed) there."""

    position: int
    chain_hash: bytes

    def as_dict(self) -> dict[str, object]:
        return {"position": self.position, "chain_hash": self.chain_hash.hex()}


@dataclass(frozen=True, slots=True)
class ChainRow:
    """One position of the log as storage holds it: the event's columns (``None`` when the event
    row is missing) and the stored chain hash (``None`` when the chain row is missing)."""

    position: int
    originator_id: str | None
    originator_version: int | None
    topic: str | None
    state: bytes | None
    chain_hash: bytes | None


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first position where the stored log and its chain disagree, and what is wrong."""

    position: int
    problem: str

    def as_dict(self) -> dict[str, object]:
        return {"position": self.position, "problem": self.problem}


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The walk of a whole log: how many events, the last link, the first break (if any)."""

    events: int
    head: ChainLink | None
    first_break: ChainBreak | None
    unchained: int = 0
    """Events at the end of the log with no chain row (a store from before the chain: run
    ``mynacard chain --init``)."""

    @property
    def ok(self) -> bool:
        return self.first_break is None and self.unchained == 0


def walk(rows: Iterable[ChainRow], start: ChainLink | None = None) -> Iterator[ChainLink | ChainBreak]:
    """Recompute the chain over ``rows`` (in position order), yielding each verified link and
    stopping at the first break (yielded last). ``start`` is a verified link to continue from."""
    previous = start.chain_hash if start else GENESIS
    last_position = start.position if start else 0
    for row in rows:
        if row.position <= last_position:
            yield ChainBreak(row.position, f"position {row.position} repeats or runs backwards")
            return
        if row.state is None or row.originator_id is None or row.topic is None:
            yield ChainBreak(row.position, "the chain has a hash here but the log has no event: deleted")
            return
        if row.chain_hash is None:
            yield ChainBreak(
                row.position, "the log has an event here that the chain never recorded: inserted"
            )
            return
        assert row.originator_version is not None
        try:
            expected = link(
                previous, row.position, row.originator_id, row.originator_version, row.topic, row.state
            )
        except (ValueError, OverflowError) as e:
            yield ChainBreak(row.position, f"the event's columns are malformed ({e}): altered")
            return
        if expected != row.chain_hash:
            yield ChainBreak(
                row.position,
                "the event does not hash to its chain hash: it, or an event before it, was altered, "
                "reordered, moved or deleted",
            )
            return
        previous, last_position = expected, row.position
        yield ChainLink(row.position, expected)


EventColumns = tuple[int, "UUID | str", int, str, bytes]
"""A stored event as the chain reads it: position, originator id, version, topic, state."""


def merge_rows(events: Sequence[EventColumns], chain: Sequence[tuple[int, bytes]]) -> list[ChainRow]:
    """Merge a batch of log events ``(position, originator id, version, topic, state)`` and the
    chain rows ``(position, chain hash)`` of the same range, both in position order, into one
    row per position that either side holds."""
    rows: list[ChainRow] = []
    hashes = dict(chain)
    for position, originator_id, version, topic, state in events:
        stored = hashes.pop(position, None)
        rows.append(
            ChainRow(
                position,
                str(originator_id),
                version,
                topic,
                bytes(state),
                None if stored is None else bytes(stored),
            )
        )
    if hashes:
        rows.extend(ChainRow(position, None, None, None, None, bytes(h)) for position, h in hashes.items())
        rows.sort(key=lambda row: row.position)
    return rows


def behind_error(before: int, chained: int) -> Exception:
    """Why a save is refused when the log holds events the chain never recorded: a store written
    before the hash chain (a configuration step is missing: exit 6), or events inserted behind
    the service's back after the chain's last row (an integrity finding: exit 7)."""
    if chained == 0:
        return ConfigurationError(
            f"this store holds {before} events written before the hash chain (issue 13): run "
            "'mynacard chain --init' once to chain them, then send the command again (nothing was "
            "written)"
        )
    return StoreIntegrityError(
        f"the log holds events up to position {before} but its hash chain ends at {chained}: events "
        "were inserted behind the service's back; run 'mynacard verify --chain' (nothing was written)"
    )


DELETED = "the chain has a hash here but the log has no event: deleted"
INSERTED = "the log has an event here that the chain never recorded: inserted"
ALTERED = (
    "the event does not hash to its chain hash: it, or an event before it, was altered, reordered, "
    "moved or deleted"
)


def verify_batch(
    events: Sequence[EventColumns], links: Sequence[tuple[int, bytes]], start: ChainLink | None
) -> tuple[int, ChainLink | None, ChainBreak | None]:
    """The walk's inner loop over one batch (``chain_batch``), on plain tuples: how many events
    hash to their chain rows, the last verified link, and the first break (if any). Equivalent to
    ``walk(merge_rows(events, links), start)``; this one is what ``verify --chain`` runs."""
    hashes = {position: bytes(h) for position, h in links}
    orphans = hashes.keys() - {e[0] for e in events}
    first_orphan = min(orphans) if orphans else None
    previous = start.chain_hash if start else GENESIS
    last = start.position if start else 0
    verified = 0
    sha256, context, topics, pack = _sha256, CHAIN_CONTEXT, _TOPIC_BYTES, _POSITION_ID_VERSION.pack
    fromhex = bytes.fromhex
    for position, originator_id, version, topic, state in events:
        if first_orphan is not None and first_orphan < position:
            return verified, _link(last, previous, start), ChainBreak(first_orphan, DELETED)
        stored = hashes.get(position)
        if stored is None:
            return verified, _link(last, previous, start), ChainBreak(position, INSERTED)
        encoded = topics.get(topic)
        if encoded is None:
            raw = topic.encode("utf-8")
            encoded = topics.setdefault(topic, len(raw).to_bytes(4, "big") + raw)
        try:
            if isinstance(originator_id, UUID):
                identity = originator_id.bytes
            elif len(originator_id) == 32:  # SQLite keeps the id as 32 hex digits
                identity = fromhex(originator_id)
            else:
                identity = uuid_bytes(originator_id)
            digest = sha256(
                context + previous + pack(position, identity, version) + encoded + sha256(state).digest()
            ).digest()
        except (ValueError, OverflowError, TypeError, struct.error) as e:
            problem = f"the event's columns are malformed ({e}): altered"
            return verified, _link(last, previous, start), ChainBreak(position, problem)
        if digest != stored:
            return verified, _link(last, previous, start), ChainBreak(position, ALTERED)
        previous, last = digest, position
        verified += 1
    if first_orphan is not None and first_orphan > last:
        return verified, _link(last, previous, start), ChainBreak(first_orphan, DELETED)
    return verified, _link(last, previous, start), None


_POSITION_ID_VERSION = struct.Struct(">Q16sQ")
"""Position, originator id and version as the link lays them out (8 + 16 + 8 bytes)."""
_TOPIC_BYTES: dict[str, bytes] = {}
"""Topic → its length prefix and UTF-8 bytes (topics are few)."""


def _link(position: int, chain_hash: bytes, start: ChainLink | None) -> ChainLink | None:
    if position == 0:
        return start
    return ChainLink(position, chain_hash)
