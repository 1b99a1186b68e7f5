"""Walking the hash chain (issue 13): ``mynacard verify --chain``, the check ``rebuild`` makes
before it builds read models, and ``mynacard chain --init`` for stores written before the chain.

The walk recomputes every chain hash from the stored event (``storage.chain.link``) and compares
it with the stored one, in batches read in one snapshot each. The first position where they
disagree is reported with what it looks like: an event deleted (a chain row with no event), an
event inserted (an event with no chain row), or an event altered, reordered, moved or deleted
before it (the hash differs). Signed checkpoints given to the walk pin the chain further: the
hash at a checkpoint's position must be the signed one, and the log must reach the newest
checkpoint (events deleted from the end of the log, with their chain rows, are caught there).

May import: ``storage`` (the chain and the ``EventChain`` interface) and the standard library.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from storage import chain
from storage.chain import CHAIN_COMPLETE_MARK, ChainBreak, ChainLink, ChainReport
from storage.integrity import StoreIntegrityError
from storage.interface import CommandLog, EventChain

WALK_BATCH = 5000

Progress = Callable[[int, int], None]
"""``progress(position reached, log head)``."""


def verify_chain(
    log: EventChain,
    checkpoints: Mapping[int, bytes] | None = None,
    progress: Progress | None = None,
    batch: int = WALK_BATCH,
) -> ChainReport:
    """Walk the whole log (see the module docstring); ``checkpoints``: position → signed chain hash."""
    pinned = dict(checkpoints or {})
    head_position = log.log_max_position()
    if log.chain_head() is None:
        unchained = _count_events(log, batch)
        return ChainReport(unchained, None, None, unchained=unchained)
    events = 0
    last: ChainLink | None = None
    after = 0
    while True:
        found, links = log.chain_batch(after, batch)
        if not found and not links:
            break
        verified, reached, problem = chain.verify_batch(found, links, last)
        events += verified
        # The links walked here hash right, so each stored one is the recomputed one: a signed
        # checkpoint among them must equal it.
        low, high = (last.position if last else 0), (reached.position if reached else 0)
        for position in sorted(p for p in pinned if low < p <= high):
            stored = log.chain_link_at(position)
            if stored is None or stored.chain_hash != pinned[position]:
                return ChainReport(events, reached, _differs(position))
        if problem is not None:
            return ChainReport(events, reached, problem)
        last = reached
        after = max(found[-1][0] if found else 0, links[-1][0] if links else 0)
        if progress is not None:
            progress(after, head_position)
    newest_signed = max(pinned, default=0)
    if newest_signed and (last is None or last.position < newest_signed):
        end = last.position if last else 0
        return ChainReport(
            events,
            last,
            ChainBreak(
                end + 1,
                f"the log ends at position {end}, before the signed checkpoint at position "
                f"{newest_signed}: events were deleted from the end of the log",
            ),
        )
    return ChainReport(events, last, None)


def _differs(position: int) -> ChainBreak:
    return ChainBreak(
        position,
        "the chain hash here differs from the signed checkpoint: the log up to here was rewritten "
        "(its chain recomputed)",
    )


def _count_events(log: EventChain, batch: int) -> int:
    count, after = 0, 0
    while rows := log.chain_rows(after, batch):
        count += sum(1 for row in rows if row.state is not None)
        after = rows[-1].position
    return count


def init_chain(log: CommandLog, progress: Progress | None = None, batch: int = WALK_BATCH) -> int:
    """Chain the events of a store written before the hash chain; how many were chained (0 when
    the chain was complete already). Resumable: a run killed part-way left a verified prefix,
    and the next run checks it and goes on from its end.

    Only once: when the chain is complete it is marked so (``CHAIN_COMPLETE_MARK``; a store made
    since the chain exists is marked at birth), and from then on events without a chain row were
    inserted behind the service's back: refused (``StoreIntegrityError``), never chained."""
    if log.store_mark(CHAIN_COMPLETE_MARK) is not None:
        report = verify_chain(log, batch=batch)
        if not report.ok:
            problem = report.first_break or ChainBreak(0, "events without a chain row")
            raise StoreIntegrityError(
                f"the hash chain is broken at position {problem.position} ({problem.problem}); "
                "'chain --init' only chains events written before the chain existed: run "
                "'mynacard verify --chain'"
            )
        return 0
    head_position = log.log_max_position()
    chained, previous, after = 0, chain.GENESIS, 0
    last: ChainLink | None = None
    while rows := log.chain_rows(after, batch):
        links = []
        for row in rows:
            if row.state is None or row.originator_id is None or row.topic is None:
                raise StoreIntegrityError(
                    f"position {row.position} has a chain row but no event: run 'mynacard verify --chain'"
                )
            assert row.originator_version is not None
            previous = chain.link(
                previous, row.position, row.originator_id, row.originator_version, row.topic, row.state
            )
            if row.chain_hash is None:
                links.append(ChainLink(row.position, previous))
            elif links or row.chain_hash != previous:
                raise StoreIntegrityError(
                    f"position {row.position}: the chain a previous 'chain --init' left does not hold "
                    "here: run 'mynacard verify --chain'"
                )
            else:
                last = ChainLink(row.position, previous)
        if links:
            log.extend_chain(links, last)
            last = links[-1]
            chained += len(links)
        after = rows[-1].position
        if progress is not None:
            progress(after, head_position)
    log.set_store_mark(CHAIN_COMPLETE_MARK, f"chained {chained} events up to position {after}")
    return chained
