"""The HTTP service (``mynacard serve``): a thin adapter over the same command models, handlers
and read models as the CLI. ``app.create_app`` builds it; ``identity`` authenticates; ``roles``
says who may do what; ``problems`` turns errors into RFC 9457 problem details."""
