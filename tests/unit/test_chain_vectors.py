"""The hash chain's and the checkpoints' test vectors (issue 13): docs/chain-vectors.json is what
``python -m projections.chain_docs`` generates; recomputed here from the documented byte layout
with hashlib alone, every chain hash and the checkpoint's message match, the checkpoint verifies
with the test key (``storage.chain_checkpoints``, and plain ``cryptography``), and the consumer's
``ChainFollower`` proves the vector events against it, refusing a gap, a reordering, a change and
a forged checkpoint.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from projections.chain_docs import vectors_json
from projections.chain_follower import ChainFollower, ChainIntegrityError
from storage import chain
from storage.chain import ChainLink
from storage.chain_checkpoints import SignedCheckpoint, checkpoint_message, signature_holds

FILE = Path(__file__).parents[2] / "docs" / "chain-vectors.json"


@pytest.fixture
def vectors() -> dict[str, Any]:
    found: dict[str, Any] = json.loads(FILE.read_text())
    return found


def key_of(vectors: dict[str, Any]) -> ed25519.Ed25519PublicKey:
    return ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(vectors["test_key"]["public_key_hex"]))


def test_the_vector_file_is_current() -> None:
    """issue 13: regenerate with python -m projections.chain_docs > docs/chain-vectors.json."""
    assert FILE.read_text() == vectors_json()


def test_every_chain_hash_follows_from_the_documented_bytes(vectors: dict[str, Any]) -> None:
    """issue 13: the chain recomputed with hashlib from the layout docs/events.md gives (context,
    previous, position, UUID bytes, version, topic length, topic, payload SHA-256) equals the
    file's, and so does storage.chain."""
    previous = bytes(32)
    for e in vectors["events"]:
        payload = bytes.fromhex(e["payload_hex"])
        assert hashlib.sha256(payload).hexdigest() == e["payload_sha256"]
        topic = e["topic"].encode()
        data = (
            b"mynacard-chain/1\x00"
            + previous
            + e["position"].to_bytes(8, "big")
            + UUID(e["originator_id"]).bytes
            + e["originator_version"].to_bytes(8, "big")
            + len(topic).to_bytes(4, "big")
            + topic
            + hashlib.sha256(payload).digest()
        )
        assert data.hex() == e["link_input_hex"]
        previous = hashlib.sha256(data).digest()
        assert previous.hex() == e["chain_hash"]
        stored = chain.link(
            bytes.fromhex(e["link_input_hex"][34:98]),
            e["position"],
            e["originator_id"],
            e["originator_version"],
            e["topic"],
            payload,
        )
        assert stored == previous


def test_the_checkpoint_message_and_signature_verify_with_the_test_key(vectors: dict[str, Any]) -> None:
    """issue 13: the message is the five documented lines; the signature verifies with the raw
    public key (plain Ed25519) and with storage's check; one changed byte of the message, or a
    checkpoint of another position, does not verify."""
    c = vectors["checkpoint"]
    text = f"mynacard-checkpoint/1\n{c['store_id']}\n{c['position']}\n{c['chain_hash']}\n{c['signed_at']}\n"
    assert text == vectors["checkpoint_message_text"]
    assert text.encode().hex() == vectors["checkpoint_message_hex"]
    assert checkpoint_message(c["store_id"], c["position"], c["chain_hash"], c["signed_at"]) == text.encode()
    key = key_of(vectors)
    key.verify(base64.b64decode(c["signature"]), text.encode())
    assert (
        hashlib.sha256(key.public_bytes_raw()).hexdigest()[:16]
        == c["key_id"]
        == vectors["test_key"]["key_id"]
    )
    signed = SignedCheckpoint.from_dict(c)
    assert signature_holds(signed, key)
    assert c["chain_hash"] == vectors["events"][-1]["chain_hash"]
    moved = SignedCheckpoint.from_dict({**c, "position": c["position"] - 1})
    assert not signature_holds(moved, key)
    other = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(32)).public_key()
    assert not signature_holds(signed, other)


def feed(vectors: dict[str, Any]) -> list[dict[str, Any]]:
    return [*vectors["events"], vectors["checkpoint"]]


def test_a_follower_proves_the_vector_events_against_the_checkpoint(vectors: dict[str, Any]) -> None:
    """issue 13: fed the events then the checkpoint, the follower verifies it."""
    follower = ChainFollower(key_of(vectors), store_id=vectors["checkpoint"]["store_id"])
    for record in feed(vectors):
        follower.record(record)
    assert [c.position for c in follower.verified] == [5]
    assert follower.head == ChainLink(5, bytes.fromhex(vectors["events"][-1]["chain_hash"]))


@pytest.mark.parametrize(
    ("change", "position", "words"),
    [
        ("gap", 5, "signed checkpoint"),
        ("swap", 2, "reordered"),
        ("digest", 5, "signed checkpoint"),
        ("forged", 5, "not signed"),
        ("store", 5, "another store"),
        ("early", 5, "ahead of the events"),
    ],
)
def test_a_follower_refuses_a_changed_feed_naming_the_position(
    vectors: dict[str, Any], change: str, position: int, words: str
) -> None:
    """issue 13: an event removed (its successors' chain hashes left out, as a proxy that hides it
    would), two swapped, a payload digest changed, a checkpoint re-signed by another key or naming
    another store, a checkpoint before its event: ChainIntegrityError naming the position."""
    records = [dict(r) for r in feed(vectors)]
    for r in records[:-1]:
        r.pop("chain_hash")
    if change == "gap":
        del records[1]
    elif change == "swap":
        records[1], records[2] = records[2], records[1]
    elif change == "digest":
        records[2]["payload_sha256"] = "00" * 32
    elif change == "forged":
        records[-1]["signed_at"] = "2030-01-01T00:00:00Z"
    elif change == "store":
        records[-1]["store_id"] = "00000000-0000-0000-0000-000000000000"
    else:
        records.insert(2, records.pop())
    follower = ChainFollower(key_of(vectors), store_id=vectors["checkpoint"]["store_id"])
    with pytest.raises(ChainIntegrityError) as caught:
        for record in records:
            follower.record(record)
    assert caught.value.position == position and words in caught.value.problem, caught.value


def test_a_resumed_follower_and_a_late_checkpoint(vectors: dict[str, Any]) -> None:
    """issue 13: started from the chain hash kept at position 2, the follower proves the rest; a
    checkpoint delivered after later events is checked against the hash at its own position; one
    before the follower's start is signature-checked only."""
    events = vectors["events"]
    kept = ChainLink(2, bytes.fromhex(events[1]["chain_hash"]))
    follower = ChainFollower(key_of(vectors), start=kept)
    for record in events[2:]:
        follower.record(record)
    follower.record(vectors["checkpoint"])
    follower.record({**events[-1], "position": 6, "chain_hash": None})  # a later event
    follower.record(vectors["checkpoint"])  # late: still checked at position 5
    assert len(follower.verified) == 2
    anchored = ChainFollower(key_of(vectors))
    anchored.record(events[2])  # position 3: anchored on its chain hash
    assert anchored.record(events[3]) == "event"
    assert anchored.checkpoint(SignedCheckpoint.from_dict(vectors["checkpoint"])) is True
