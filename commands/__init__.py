"""mynacard's write side: command models, handlers, the application service, idempotency,
and configuration."""
