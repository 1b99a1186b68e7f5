"""The store's hash chain walked as ``verify --chain``, ``rebuild`` and ``POST /rebuild`` walk it
(issue 13): the whole log, pinned by its signed checkpoints (a checkpoint whose signature fails
is itself the first break), and the refusal to build read models from a broken chain.

May import: ``commands.config``, ``mynacard.bootstrap``, ``mynacard.integrity``, ``projections``
and ``storage``.
"""

from __future__ import annotations

import time
from typing import Any

from commands.config import Settings
from mynacard.bootstrap import open_log
from mynacard.integrity.checkpoints import ForgedCheckpoint, pinned_checkpoints
from projections.chain_audit import Progress, verify_chain
from storage.chain import ChainBreak, ChainReport
from storage.integrity import StoreIntegrityError
from storage.interface import CommandLog

ACCEPT_FLAG = "--accept-broken-chain"


class BrokenChain(StoreIntegrityError):
    """The log's hash chain is broken: read models are not built from it (exit 7)."""

    def __init__(self, report: ChainReport) -> None:
        assert report.first_break is not None or report.unchained
        self.report = report
        if report.first_break is not None:
            where, problem = report.first_break.position, report.first_break.problem
            text = f"the log's hash chain is broken at position {where} (possible tampering): {problem}"
        else:
            text = f"the log holds {report.unchained} events that were never chained"
        super().__init__(
            f"{text}. Nothing was rebuilt: the read models would follow a log that is not the one "
            "recorded. Find out what happened ('mynacard verify --chain'; restore the store from a "
            f"backup), or rebuild anyway with '{ACCEPT_FLAG} --reason TEXT' (recorded on the log)"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": "integrity",
            "message": str(self),
            "chain": chain_report_dict(self.report),
            "hint": f"mynacard verify --chain; or mynacard rebuild {ACCEPT_FLAG} --reason TEXT",
        }


def chain_report_dict(report: ChainReport, seconds: float | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {
        "ok": report.ok,
        "events": report.events,
        "head": report.head.as_dict() if report.head else None,
        "first_break": report.first_break.as_dict() if report.first_break else None,
        "unchained": report.unchained,
    }
    if seconds is not None:
        found["seconds"] = round(seconds, 3)
        found["events_per_second"] = round(report.events / seconds) if seconds > 0 else None
    return found


def walk_store_chain(settings: Settings, progress: Progress | None = None) -> tuple[ChainReport, float]:
    """The walk of the configured store's whole log, pinned by its signed checkpoints, and how
    long it took."""
    log = open_log(settings, open_events=False)
    try:
        recorder = log.recorder
        assert isinstance(recorder, CommandLog)
        started = time.perf_counter()
        try:
            pins = pinned_checkpoints(settings, recorder)
        except ForgedCheckpoint as e:
            report = ChainReport(0, None, ChainBreak(e.position, e.problem))
            return report, time.perf_counter() - started
        report = verify_chain(recorder, pins, progress=progress)
        return report, time.perf_counter() - started
    finally:
        log.close()
