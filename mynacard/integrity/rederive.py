"""Answering a validity question from a prefix of the log, and checking a receipt against the
log (issue 13): ``valid-at --receipt`` answers from the log up to its chain head, read first (a
write committed meanwhile lies after that position and is left out), and ``recheck-receipt``
walks the chain to the receipt's position, answers the question again from that prefix, and
again from the whole log now, saying what was recorded since.

May import ``projections`` and ``storage`` (it reads the log; it never writes).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from lifecycle.identifiers import certificate_id_for
from mynacard.integrity.receipts import TrustedKey, build_receipt, check_signature, describe
from mynacard.integrity.signing import SIGNING_KEY_MARK, LogSigner, load_public_key
from projections.audit import EventSource, ValidityAnswer, valid_at
from projections.event_json import event_to_dict, jsonable
from storage import chain
from storage.chain import CHAIN_COMPLETE_MARK, ChainBreak, ChainLink
from storage.errors import ConfigurationError
from storage.interface import CommandLog, EventChain

WALK_BATCH = 5000


class PrefixEvents:
    """An aggregate's events in the log up to ``position`` (an ``EventSource`` for ``valid_at``):
    its versions up to the newest one stored at or before that position."""

    def __init__(self, events: EventSource, log: EventChain, position: int) -> None:
        self.events = events
        self.log = log
        self.position = position

    def get(self, originator_id: UUID) -> Iterable[Any]:
        version = self.log.version_at(originator_id, self.position)
        if version == 0:
            return []
        return self.events.get(originator_id, lte=version)  # type: ignore[call-arg]


def answer_at_head(
    events: EventSource, log: EventChain, serial: str, at: datetime, known_at: datetime | None
) -> tuple[ChainLink, ValidityAnswer]:
    """The chain head (read first) and the answer from the log up to it."""
    head = log.chain_head()
    if head is None:
        return ChainLink(0, chain.GENESIS), ValidityAnswer(
            serial, "?", at, known_at, False, "no such certificate", "R34", 0
        )
    return head, valid_at(PrefixEvents(events, log, head.position), serial, at, known_at)


def signed_answer(
    events: EventSource,
    log: CommandLog,
    signer: LogSigner,
    serial: str,
    at: datetime,
    known_at: datetime | None,
    issued_at: str,
) -> dict[str, Any] | None:
    """The signed receipt of the question answered from the log up to its chain head (read
    first); None when no certificate has the serial. The CLI's and the service's one path."""
    if log.store_mark(CHAIN_COMPLETE_MARK) is None:
        raise ConfigurationError(
            "this store's events are not all hash-chained: run 'mynacard chain --init' once before "
            "asking for receipts (nothing was signed)"
        )
    identity = log.store_identity()
    if identity is None:
        raise ConfigurationError("this store has no identity yet: open it once with the service or the CLI")
    head, answer = answer_at_head(events, log, serial, at, known_at)
    if answer.kind == "?" and answer.reason == "no such certificate":
        return None
    return build_receipt(
        question=question_of(serial, at, known_at),
        answer=answer.as_dict(),
        position=head.position,
        chain_hash=head.chain_hash,
        store_id=identity.store_id,
        issued_at=issued_at,
        signer=signer,
    )


def question_of(serial: str, at: datetime, known_at: datetime | None) -> dict[str, Any]:
    return {"serial": serial, "at": jsonable(at), "as_known_at": jsonable(known_at)}


# ----------------------------------------------------------------------------- recheck


@dataclass
class Recheck:
    """What the log says about a receipt. ``confirmed``: the store's key signed it, the chain up
    to its position is intact with its chain hash, and that prefix gives its answer."""

    receipt: dict[str, Any]
    problems: list[str] = field(default_factory=list)
    signature: dict[str, Any] | None = None
    chain_at_position: str | None = None
    later_break: ChainBreak | None = None
    log_head: int = 0
    at_position: dict[str, Any] | None = None
    now: dict[str, Any] | None = None
    changes: list[dict[str, Any]] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)

    @property
    def confirmed(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "confirmed": self.confirmed,
            "problems": list(self.problems),
            "receipt": {k: v for k, v in self.receipt.items() if k not in ("public_key", "signature")},
            "signature": self.signature,
            "chain": {
                "position": self.receipt["log"]["position"],
                "chain_hash_in_receipt": self.receipt["log"]["chain_hash"],
                "chain_hash_in_log": self.chain_at_position,
                "log_head": self.log_head,
                "broken_after_position": self.later_break.as_dict() if self.later_break else None,
            },
            "answer_at_position": self.at_position,
            "answer_now": self.now,
            "changed_since": self.now is not None and self.now["valid"] != self.receipt["answer"]["valid"],
            "recorded_since": self.changes,
            "summary": list(self.summary),
        }


def recheck(events: EventSource, log: CommandLog, receipt: dict[str, Any]) -> Recheck:
    """Check ``receipt`` (parsed) against the log (see ``Recheck``)."""
    found = Recheck(receipt)
    position = receipt["log"]["position"]
    identity = log.store_identity()
    if identity is None or identity.store_id != receipt["store_id"]:
        found.problems.append(
            f"the receipt is from store {receipt['store_id']}, this is store "
            f"{identity.store_id if identity else '(none)'}: recheck it against its own store"
        )
        return found
    _check_store_signature(found, log)
    _walk(found, log, position)
    if found.problems:
        return found
    question = receipt["question"]
    serial, at = question["serial"], datetime.fromisoformat(question["at"])
    known_at = datetime.fromisoformat(question["as_known_at"]) if question["as_known_at"] else None
    then = valid_at(PrefixEvents(events, log, position), serial, at, known_at).as_dict()
    found.at_position = then
    if then != receipt["answer"]:
        differs = sorted(k for k in then if then.get(k) != receipt["answer"].get(k))
        found.problems.append(
            f"the log up to position {position} answers otherwise than the receipt ({', '.join(differs)}): "
            f"the log says {'valid' if then['valid'] else 'not valid: ' + then['reason']} ({then['rule']})"
        )
        return found
    now = valid_at(events, serial, at, None)
    found.now = now.as_dict()
    found.changes = _recorded_since(events, log, serial, position, at)
    found.summary = _summary(found, now, position)
    return found


def _check_store_signature(found: Recheck, log: CommandLog) -> None:
    recorded = log.store_mark(SIGNING_KEY_MARK)
    if recorded is None:
        found.problems.append("this store never recorded a log signing key: it issued no receipt")
        return
    try:
        embedded = load_public_key(found.receipt["public_key"], "public_key")
    except ConfigurationError:
        found.problems.append("the receipt's public_key is not an Ed25519 public key")
        return
    check = check_signature(found.receipt, TrustedKey(embedded, "the log signing key this store recorded"))
    found.signature = check.as_dict()
    problems = list(check.problems)
    if check.trusted.fingerprint != recorded:
        problems.insert(
            0,
            f"the receipt's key {check.trusted.key_id} is not the log signing key this store recorded "
            f"({recorded[:16]})",
        )
        found.signature["signature_valid"] = False
    found.signature["problems"] = problems
    found.problems.extend(problems)


def _walk(found: Recheck, log: EventChain, position: int) -> None:
    """Recompute the chain from the first event: up to ``position`` it must be intact and end in
    the receipt's chain hash; a break after it is reported (the answer now is then unproven)."""
    found.log_head = log.log_max_position()
    last: ChainLink | None = None
    at_position: ChainLink | None = None
    after = 0
    while rows := log.chain_rows(after, WALK_BATCH):
        for item in chain.walk(rows, last):
            if isinstance(item, ChainBreak):
                if item.position <= position or at_position is None:
                    found.problems.append(
                        f"the log's hash chain is broken at position {item.position}, at or before the "
                        f"receipt's position {position}: {item.problem}"
                    )
                else:
                    found.later_break = item
                _compare(found, at_position, position)
                return
            last = item
            if item.position == position:
                at_position = item
        after = rows[-1].position
    _compare(found, at_position, position)


def _compare(found: Recheck, link: ChainLink | None, position: int) -> None:
    if found.problems and link is None:
        return
    if link is None:
        found.problems.append(
            f"the log has no chained event at the receipt's position {position} (it ends at "
            f"{found.log_head}): events were deleted, or the receipt is from another log"
        )
        return
    found.chain_at_position = link.chain_hash.hex()
    if found.chain_at_position != found.receipt["log"]["chain_hash"]:
        found.problems.append(
            f"the chain hash at position {position} is {found.chain_at_position}, not the receipt's "
            f"{found.receipt['log']['chain_hash']}: the log up to there was rewritten since the receipt"
        )


def _recorded_since(
    events: EventSource, log: EventChain, serial: str, position: int, at: datetime
) -> list[dict[str, Any]]:
    """The certificate's and its card's events recorded after ``position``, oldest first."""
    cert_id = certificate_id_for(serial)
    cert_events = list(events.get(cert_id))
    card_id = next((getattr(e, "card_id", None) for e in cert_events if getattr(e, "card_id", None)), None)
    found = []
    for aggregate_id, kind in ((cert_id, "certificate"), (card_id, "card")):
        if aggregate_id is None:
            continue
        since = log.version_at(aggregate_id, position)
        for event in events.get(aggregate_id):
            if event.originator_version > since:
                shown = event_to_dict(event)
                effective = getattr(event, "effective_at", None) or event.timestamp
                found.append(
                    {
                        "subject": kind,
                        "type": shown["type"],
                        "version": shown["version"],
                        "recorded_at": shown["recorded_at"],
                        "effective_at": shown["effective_at"],
                        "reaches_back_to_at": effective <= at,
                    }
                )
    return sorted(found, key=lambda c: (c["recorded_at"], c["subject"] == "certificate"))


def _summary(found: Recheck, now: ValidityAnswer, position: int) -> list[str]:
    receipt = found.receipt
    was = receipt["answer"]
    then_text = "valid" if was["valid"] else f"not valid ({was['reason']}, {was['rule']})"
    known = f"as known at {receipt['question']['as_known_at']}" if receipt["question"]["as_known_at"] else ""
    lines = [
        f"confirmed: the log up to position {position} is intact (chain hash {receipt['log']['chain_hash']}) "
        f"and answers as the receipt says: {describe(receipt)}"
    ]
    now_text = "valid" if now.valid else f"not valid ({now.reason}, {now.rule})"
    at = receipt["question"]["at"]
    if now.valid == was["valid"]:
        lines.append(f"as known now the certificate is still {now_text} at {at}")
    else:
        causes = [c for c in found.changes if c["reaches_back_to_at"]] or found.changes
        for c in causes:
            lines.append(
                f"a {c['type']} ({c['subject']}) recorded on {c['recorded_at']}, effective "
                f"{c['effective_at'] or c['recorded_at']}, was recorded after position {position}"
            )
        lines.append(
            f"as known now the certificate is {now_text} at {at}; the receipt was {then_text} as known "
            f"at position {position}" + (f" ({known})" if known else "")
        )
    if found.changes and now.valid == was["valid"]:
        lines.append(f"{len(found.changes)} event(s) of the certificate or its card were recorded since")
    if found.later_break is not None:
        lines.append(
            f"WARNING: the chain is broken after the receipt's position, at {found.later_break.position} "
            f"({found.later_break.problem}): the answer 'now' comes from a log that fails "
            "'mynacard verify --chain'"
        )
    return lines
