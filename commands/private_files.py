"""Moved to storage.files; shim kept until the import pass."""

from storage.files import create_exclusively, write_private_temp

__all__ = ["create_exclusively", "write_private_temp"]
