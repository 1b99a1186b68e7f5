"""mynacard's read side: the projections that follow the event log (``projections``,
``runner``, ``revocations``), the questions they answer (``read_side``, ``status``,
``certificates``), audit replay (``audit``), ``verify``, the event JSON shapes (``events``,
``event_docs``) and the subscriptions of downstream systems (``subscriptions``, ``wakeup``).

May import: ``lifecycle`` and ``storage`` — never the write side (``commands``) or the entry
points; tests/test_import_contract.py checks it."""
