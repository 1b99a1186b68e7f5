"""The hash chain's walk (issue 13), as properties: over any log and any single act of tampering
(an event deleted, with or without its chain row; inserted; two events swapped; an event's
payload, topic or version altered; a payload moved; a chain row altered), the walk finds a break
at or before the first position touched, never later, and an untouched log walks clean. The
fast walk ``verify_batch`` (what ``verify --chain`` runs) gives the same answer as the plain one
(``walk`` over ``merge_rows``), and ``verify_chain`` gives it across batch boundaries."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.chain_audit import verify_chain
from storage import chain
from storage.chain import ChainBreak, ChainLink, EventColumns

TOPICS = ("mynacard.Card.Applied", "mynacard.Card.Suspended", "mynacard.Certificate.Revoked", "料金")


@st.composite
def logs(draw: st.DrawFn) -> list[EventColumns]:
    count = draw(st.integers(1, 40))
    gaps = draw(st.lists(st.integers(1, 3), min_size=count, max_size=count))  # PostgreSQL has gaps
    ids = [UUID(int=draw(st.integers(1, 2**128 - 1))) for _ in range(3)]
    versions = dict.fromkeys(ids, 0)
    events: list[EventColumns] = []
    position = 0
    for gap in gaps:
        position += gap
        originator = ids[draw(st.integers(0, 2))]
        versions[originator] += 1
        state = draw(st.binary(min_size=0, max_size=40))
        text = originator.hex if draw(st.booleans()) else originator  # SQLite text, PostgreSQL UUID
        events.append((position, text, versions[originator], draw(st.sampled_from(TOPICS)), state))
    return events


def chained(events: list[EventColumns]) -> list[tuple[int, bytes]]:
    previous, links = chain.GENESIS, []
    for position, originator, version, topic, state in events:
        previous = chain.link(previous, position, originator, version, topic, state)
        links.append((position, previous))
    return links


def plain_walk(events: list[EventColumns], links: list[tuple[int, bytes]]) -> int | None:
    for item in chain.walk(chain.merge_rows(events, links)):
        if isinstance(item, ChainBreak):
            return item.position
    return None


def fast_walk(events: list[EventColumns], links: list[tuple[int, bytes]]) -> int | None:
    _, _, problem = chain.verify_batch(events, links, None)
    return problem.position if problem else None


@dataclass
class Tampered:
    events: list[EventColumns]
    links: list[tuple[int, bytes]]
    first_touched: int


@st.composite
def tampered(draw: st.DrawFn) -> Tampered:
    events = draw(logs())
    links = chained(events)
    kind = draw(
        st.sampled_from(
            ["delete", "delete_both", "insert", "swap", "state", "topic", "version", "move", "chain"]
        )
    )
    i = draw(st.integers(0, len(events) - 1))
    position, originator, version, topic, state = events[i]
    if kind == "delete":
        return Tampered(events[:i] + events[i + 1 :], links, position)
    if kind == "delete_both":
        if i == len(events) - 1:  # the end of the log: only a signed checkpoint can tell
            i = max(0, i - 1)
            position = events[i][0]
        if len(events) == 1:
            return Tampered(events, [(position, bytes(32))], position)
        # Found where the next event's link names the deleted one.
        return Tampered(events[:i] + events[i + 1 :], links[:i] + links[i + 1 :], events[i + 1][0])
    if kind == "insert":
        new = (events[-1][0] + 1, originator, version + 100, topic, state)
        return Tampered([*events, new], links, new[0])
    if kind == "swap" and len(events) > 1:
        j = draw(st.integers(0, len(events) - 1).filter(lambda k: k != i))
        a, b = sorted((i, j))
        if events[a][1:] == events[b][1:]:
            return Tampered(events, links, 10**9)
        swapped = list(events)
        swapped[a] = (events[a][0], *events[b][1:])
        swapped[b] = (events[b][0], *events[a][1:])
        return Tampered(swapped, links, events[a][0])
    if kind == "topic":
        other = next(t for t in TOPICS if t != topic)
        return Tampered(_replace(events, i, (position, originator, version, other, state)), links, position)
    if kind == "version":
        return Tampered(
            _replace(events, i, (position, originator, version + 7, topic, state)), links, position
        )
    if kind == "move" and len(events) > 1:
        j = draw(st.integers(0, len(events) - 1).filter(lambda k: k != i))
        if events[j][4] == state:
            return Tampered(events, links, 10**9)
        return Tampered(
            _replace(events, i, (position, originator, version, topic, events[j][4])), links, position
        )
    if kind == "chain":
        changed = list(links)
        changed[i] = (position, bytes(a ^ 1 for a in links[i][1]))
        return Tampered(events, changed, position)
    # "state" (and the kinds above when the log is too short for them)
    return Tampered(
        _replace(events, i, (position, originator, version, topic, state + b"\x00")), links, position
    )


def _replace(events: list[EventColumns], i: int, row: EventColumns) -> list[EventColumns]:
    return [*events[:i], row, *events[i + 1 :]]


@given(logs())
def test_issue13_an_untouched_log_walks_clean_both_ways(events: list[EventColumns]) -> None:
    links = chained(events)
    assert plain_walk(events, links) is None
    assert fast_walk(events, links) is None
    verified, reached, problem = chain.verify_batch(events, links, None)
    assert (verified, problem) == (len(events), None)
    assert reached == ChainLink(*links[-1])


@given(tampered())
@settings(max_examples=300)
def test_issue13_every_tampering_breaks_the_chain_no_later_than_where_it_was_done(case: Tampered) -> None:
    plain = plain_walk(case.events, case.links)
    fast = fast_walk(case.events, case.links)
    assert plain == fast
    if case.first_touched == 10**9:  # the tampering changed nothing
        assert fast is None
        return
    assert fast is not None and fast <= case.first_touched


class MemoryChain:
    """An ``EventChain`` over lists (just what ``verify_chain`` reads)."""

    def __init__(self, events: list[EventColumns], links: list[tuple[int, bytes]]) -> None:
        self.events, self.links = events, links

    def chain_head(self) -> ChainLink | None:
        return ChainLink(*self.links[-1]) if self.links else None

    def chain_link_at(self, position: int) -> ChainLink | None:
        found = dict(self.links).get(position)
        return None if found is None else ChainLink(position, found)

    def log_max_position(self) -> int:
        return self.events[-1][0] if self.events else 0

    def chain_batch(self, after: int, limit: int) -> tuple[list[EventColumns], list[tuple[int, bytes]]]:
        found = [e for e in self.events if e[0] > after][:limit]
        high = found[-1][0] if len(found) == limit else None
        return found, [link for link in self.links if link[0] > after and (high is None or link[0] <= high)]

    def chain_rows(self, after: int, limit: int) -> list[chain.ChainRow]:
        return chain.merge_rows(*self.chain_batch(after, limit))


@given(tampered(), st.integers(1, 7))
@settings(max_examples=200)
def test_issue13_batches_do_not_change_where_the_break_is_found(case: Tampered, batch: int) -> None:
    whole = fast_walk(case.events, case.links)
    report = verify_chain(MemoryChain(case.events, case.links), batch=batch)  # type: ignore[arg-type]
    assert (report.first_break.position if report.first_break else None) == whole


def test_issue13_a_signed_checkpoint_pins_a_recomputed_chain_and_the_end_of_the_log() -> None:
    events: list[EventColumns] = [
        (p, UUID(int=7), p, "mynacard.Card.Suspended", bytes([p])) for p in range(1, 11)
    ]
    links = chained(events)
    signed = {6: links[5][1]}
    assert verify_chain(MemoryChain(events, links), signed).ok  # type: ignore[arg-type]
    # An insider alters event 3 and recomputes every chain hash after it: the chain alone is
    # consistent again, the checkpoint at 6 is not.
    altered = _replace(events, 2, (3, UUID(int=7), 3, "mynacard.Card.Suspended", b"forged"))
    report = verify_chain(MemoryChain(altered, chained(altered)), signed)  # type: ignore[arg-type]
    assert report.first_break is not None and report.first_break.position == 6
    # Deleting the tail (events and chain rows) after the checkpoint's position is caught too.
    short = verify_chain(MemoryChain(events[:4], links[:4]), signed)  # type: ignore[arg-type]
    assert short.first_break is not None and short.first_break.position == 5
