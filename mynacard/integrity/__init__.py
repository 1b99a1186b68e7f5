"""What makes the log prove itself beyond the database (issue 13): the Ed25519 key that signs
checkpoints and receipts (``signing``), signed checkpoints, and signed validity receipts."""
