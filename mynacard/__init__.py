"""Entry points of mynacard: the ``mynacard`` command line (and later the HTTP service).
Thin adapters over ``commands`` and ``projections``: no rules here."""
