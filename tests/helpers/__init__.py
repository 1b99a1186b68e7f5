"""Shared test helpers, one package for every tier.

- ``support``: a settable clock, valid identifiers, domain-level card builders, and ``Story``
  (one card driven through the application).
- ``backend``: which storage a run uses (SQLite files, or a PostgreSQL schema per test with
  ``MYNACARD_TEST_DATABASE_URL``), test settings, raw storage for secret scans, tampering.
- ``recorded_store``: a two-person story recorded through the real wiring, and the CLI as a
  subprocess (``cli``, ``Run``).
- ``consumers``: downstream consumers as real processes (``mynacard events``).
- ``harness``: ``python -m tests.helpers.harness``, the writer that crash, concurrency and consumer
  tests SIGKILL.
"""
