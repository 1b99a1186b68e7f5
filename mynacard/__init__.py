"""Entry points of mynacard: the ``mynacard`` command line by audience (``write_commands``,
``read_commands``, ``audit_commands``, ``operation_commands``, ``event_commands``), its parsing
and output helpers, and the composition root (``bootstrap``: settings to the write side, the
read side and the checkpoints, each opened on its own). Thin adapters: no
rules here.

May import everything (the only package that does)."""
