"""mynacard's write side: command models (``models``, ``certificate_models``, ``fields``,
``dates``), the command bus (``bus``: stamp, dispatch, consequences, one save, retry,
idempotency), the handlers (``handlers/``), the eventsourcing application (``application``:
load and save), cache coherence (``cache``), settings (``config``) and the sweep. Keys and
encryption live in ``storage`` (both sides read the log); the opening of a store bound to its
keys in ``mynacard.bootstrap``, the composition root.

May import: ``lifecycle`` and ``storage`` (never ``projections`` or ``mynacard``;
tests/unit/test_import_contract.py checks it)."""
