"""Moved to storage.postgres.schema; shim kept until the import pass."""

from storage.postgres.schema import SCHEMA_LOCK_KEY, schema_lock

__all__ = ["SCHEMA_LOCK_KEY", "schema_lock"]
