"""Errors raised when what is stored fails an integrity check (exit 7 in the CLI).

They are not configuration problems (the keys match the store, see ``storage.identity``) and
not conflicts: a row was altered, moved between aggregates, or deleted behind the service's back.

May import: ``eventsourcing.persistence`` and the standard library.
"""

from __future__ import annotations

from eventsourcing.persistence import MapperDeserialisationError


class TamperingDetected(MapperDeserialisationError):
    """A stored payload fails its authenticity check under a key whose fingerprint matches the
    store: the row was altered or copied from another row (or the medium corrupted it)."""

    kind = "integrity"


class StoreIntegrityError(Exception):
    """The store or a read model is not what the log says it should be (e.g. a version gap)."""

    kind = "integrity"
