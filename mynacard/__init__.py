"""Entry points of mynacard: the ``mynacard`` command line by audience (``write_commands``,
``read_commands``, ``audit_commands``, ``operation_commands``, ``event_commands``), its parsing
and output helpers, and the wiring of settings to both sides (``wiring``). Thin adapters: no
rules here.

May import everything (the only package that does)."""
