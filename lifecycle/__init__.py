"""mynacard's domain: identifiers, calendar and validity arithmetic, fees, identity documents,
and the event-sourced aggregates with their rules. Pure: no I/O, no clock, no environment."""
