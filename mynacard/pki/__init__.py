"""Certificate status in the formats relying parties already use (issue 12): the CRL/OCSP issuer
(``issuer``: a test CA made in the data directory, or the operator's certificate and key, bound to
the store), full and delta CRLs (``crl``, RFC 5280) and OCSP responses (``ocsp``, RFC 6960), all
built with the ``cryptography`` package's builders (no hand-made ASN.1).

Part of the entry points' package: it may import everything, and nothing below ``mynacard``
imports it."""
