"""Moved to storage.postgres (views, lifecycle_view, revocation_list, checkpoints); shim kept until the import pass."""

from storage.postgres.checkpoints import PostgresCheckpoints
from storage.postgres.lifecycle_view import PostgresLifecycleView
from storage.postgres.revocation_list import PostgresRevocationView

__all__ = ["PostgresCheckpoints", "PostgresLifecycleView", "PostgresRevocationView"]
