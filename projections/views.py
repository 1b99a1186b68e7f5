"""Moved to storage.interface, storage.records, projections.revocations; shim kept until the import pass."""

from projections.revocations import RevocationChange
from storage.interface import LifecycleView, RevocationView, TrackedView
from storage.records import (
    CardRow,
    CertificateRow,
    Counts,
    LogHead,
    ReadModelTable,
    RevocationEntry,
    ViewSnapshot,
    card_row_from,
    certificate_row_from,
    check_position,
    fingerprint,
    head_of,
    revocation_entry_from,
)

__all__ = [
    "CardRow",
    "CertificateRow",
    "Counts",
    "LifecycleView",
    "LogHead",
    "ReadModelTable",
    "RevocationChange",
    "RevocationEntry",
    "RevocationView",
    "TrackedView",
    "ViewSnapshot",
    "card_row_from",
    "certificate_row_from",
    "check_position",
    "fingerprint",
    "head_of",
    "revocation_entry_from",
]
