"""Moved to storage.sqlite (views, lifecycle_view, revocation_list); shim kept until the import pass."""

from storage.sqlite.lifecycle_view import SQLiteLifecycleView
from storage.sqlite.revocation_list import SQLiteRevocationView
from storage.sqlite.views import LOG_HEAD, TRACKING

__all__ = ["LOG_HEAD", "TRACKING", "SQLiteLifecycleView", "SQLiteRevocationView"]
