"""The validity receipt's format and signed bytes (issue 13), without a store: canonical JSON
(sorted keys, no whitespace, ASCII), Ed25519 over it, and a reading that names the field of a
malformed receipt. The validity answer inside is R35/R36's (a SIG certificate in its period)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from mynacard.integrity.receipts import (
    FORMAT,
    ReceiptError,
    TrustedKey,
    build_receipt,
    canonical_bytes,
    check_signature,
    parse_receipt,
    receipt_text,
)
from mynacard.integrity.signing import LogSigner

SEED = bytes(range(32))


def signer(seed: bytes = SEED) -> LogSigner:
    return LogSigner(ed25519.Ed25519PrivateKey.from_private_bytes(seed), "test key")


def receipt(**answer: Any) -> dict[str, Any]:
    return build_receipt(
        question={"serial": "1B3AD8DB8DDB57109587", "at": "2025-01-06T12:00:00+09:00", "as_known_at": None},
        answer={
            "serial": "1B3AD8DB8DDB57109587",
            "kind": "SIG",
            "at": "2025-01-06T12:00:00+09:00",
            "as_known_at": None,
            "valid": True,
            "reason": "有効 (in its validity period)",
            "rule": "R36",
            "events_considered": 9,
            **answer,
        },
        position=42,
        chain_hash=bytes(range(32)),
        store_id="3f0c9a52-0000-4000-8000-000000000001",
        issued_at="2025-01-06T13:00:00+09:00",
        signer=signer(),
    )


def trusted(key: LogSigner | None = None) -> TrustedKey:
    return TrustedKey((key or signer()).public_key, "test")


def test_the_signed_bytes_are_canonical_json_without_the_signature() -> None:
    made = receipt()
    expected = json.dumps(
        {k: v for k, v in made.items() if k != "signature"},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    ).encode("utf-8")
    assert canonical_bytes(made) == expected
    assert expected.startswith(b'{"answer":{"as_known_at":null,"at":"2025-01-06T12:00:00+09:00"')
    assert b"\\u6709\\u52b9" in expected  # 有効, escaped
    assert made["format"] == FORMAT and made["key_id"] == signer().key_id
    # Ed25519 is deterministic: the same key and bytes give the same signature.
    assert made["signature"] == receipt()["signature"]
    # Written readable (non-ASCII kept), read back and checked: the layout is not signed.
    read = parse_receipt(receipt_text(made).encode("utf-8"))
    assert read == made and check_signature(read, trusted()).ok


@pytest.mark.parametrize(
    "change",
    [
        lambda r: r["answer"].update(valid=False),
        lambda r: r["log"].update(position=41),
        lambda r: r.update(issued_at="2025-01-06T13:00:01+09:00"),
        lambda r: r.update(store_id="another store"),
    ],
)
def test_any_change_to_a_signed_member_fails_the_signature(change: Any) -> None:
    made = receipt()
    change(made)
    check = check_signature(parse_receipt(json.dumps(made).encode()), trusted())
    assert not check.ok and "altered after signing" in check.problems[-1]


def test_a_receipt_of_another_key_fails_against_the_trusted_key() -> None:
    made = receipt()
    other = signer(bytes(32))
    check = check_signature(made, trusted(other))
    assert not check.ok
    assert any(f"not the trusted key {other.key_id}" in p for p in check.problems)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (b"\xff\xfe", "(receipt)"),
        (b"[]", "(receipt)"),
        (b'{"format": 1, "format": 2}', "format"),
        (b"{}", "format"),
    ],
)
def test_unreadable_receipts_name_the_problem(text: bytes, field: str) -> None:
    with pytest.raises(ReceiptError) as e:
        parse_receipt(text)
    assert e.value.field == field


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda r: r["log"].update(position=0), "log.position"),
        (lambda r: r["log"].update(position=True), "log.position"),
        (lambda r: r["log"].update(chain_hash="AB" * 32), "log.chain_hash"),
        (lambda r: r["question"].update(at="2025-01-06T12:00"), "question.at"),
        (lambda r: r["question"].pop("as_known_at"), "question.as_known_at"),
        (lambda r: r["answer"].update(events_considered=-1), "answer.events_considered"),
        (lambda r: r["answer"].update(extra=1), "answer.extra"),
        (lambda r: r.update(key_id="xyz"), "key_id"),
        (lambda r: r.update(signature=""), "signature"),
    ],
)
def test_malformed_members_are_named(change: Any, field: str) -> None:
    made = receipt()
    change(made)
    with pytest.raises(ReceiptError) as e:
        parse_receipt(json.dumps(made).encode())
    assert e.value.field == field


def test_issue13_the_signed_bytes_follow_the_documented_escapes_byte_for_byte() -> None:
    """docs/integrity.md spells the canonical JSON out for verifiers in other languages: this is
    that text, checked byte for byte on the characters where JSON encoders differ (control
    characters, DEL, '/', non-ASCII, a character above U+FFFF), with keys sorted and the
    signature left out."""
    from mynacard.integrity.receipts import canonical_bytes

    receipt = {"signature": "x", "b": 2, "a": {"z": None, "y": True}, "s": 'q"\\\b\t\n\f\r\x01\x7f/é😀'}
    expected = (
        b'{"a":{"y":true,"z":null},"b":2,"s":"q\\"\\\\\\b\\t\\n\\f\\r\\u0001\\u007f/\\u00e9\\ud83d\\ude00"}'
    )
    assert canonical_bytes(receipt) == expected
