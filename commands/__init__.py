"""mynacard's write side: command models (``models``, ``certificate_models``, ``fields``,
``dates``), the command bus (``bus``: stamp, dispatch, consequences, one save, retry,
idempotency), the handlers (``handlers/``), the eventsourcing application (``application``:
load and save), cache coherence (``cache``), keys and encryption (``crypto``, ``bound_mapper``),
settings (``config``), the opening of a store bound to its keys (``service``) and the sweep.

May import: ``lifecycle`` and ``storage`` (never ``projections`` or ``mynacard``;
tests/test_import_contract.py checks it)."""
