"""Moved to storage.serialization; shim kept until the import pass."""

from storage.serialization import DateAsISO, EndingAsDict, MynacardTranscodings, PendingInquiryAsDict

__all__ = ["DateAsISO", "EndingAsDict", "MynacardTranscodings", "PendingInquiryAsDict"]
