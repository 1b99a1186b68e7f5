"""mynacard's read side: the two views and how events fold into them (``views``, ``runner``,
``revocations``), the questions they answer (``read_side``, ``status``, ``certificates``),
audit replay and a card's history (``audit``), ``verify``, the event JSON shape
(``event_json``, ``event_docs``) and the subscriptions of downstream systems
(``subscriptions``, ``wakeup``).

May import: ``lifecycle`` and ``storage`` — never the write side (``commands``) or the entry
points; tests/unit/test_import_contract.py checks it."""
