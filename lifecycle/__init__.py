"""mynacard's domain: identifiers, calendar and validity arithmetic, fees, identity documents,
and the event-sourced aggregates with their rules. Pure: no I/O, no clock, no environment.

- ``card/``: the card (マイナンバーカード): vocabulary, state, events, rules, lapses, procedures,
  aggregate;
- ``certificate``, ``certificate_rules``, ``certificate_validity``: the certificates
  (電子証明書);
- ``card_certificates``: what a card's events do to its certificates, behind a small port;
- ``decisions``: the spec's D-decisions (policy settings); leaf modules: ``calendar``,
  ``documents``, ``errors``, ``fees``, ``filers``, ``identifiers``, ``pins``, ``stamp``,
  ``validity``.

May import: the standard library, ``eventsourcing.domain`` / ``eventsourcing.utils``,
``dateutil``, ``jpholiday``, ``stdnum``; no other project package.
"""
