"""Idempotency keys: a keyed digest of a command's payload tells a retry (same payload, same
digest) from a reused command id (different digest). The command log (commands.command_log)
stores it with the first result."""

from __future__ import annotations

import hashlib
import hmac

from commands.models import SECRET_FIELDS, Command


def payload_digest(key: bytes, command: Command) -> str:
    """HMAC-SHA256 of a command's canonical JSON (minus its id) and its secret fields.

    Keyed, because the payload may hold a My Number or a PIN; pydantic's JSON (in field order)
    is the canonical form, the secrets (dumped masked there) are appended in name order."""
    mac = hmac.new(key, command.COMMAND.encode(), hashlib.sha256)
    mac.update(command.model_dump_json(exclude={"command_id"}).encode())
    for name in sorted(SECRET_FIELDS):
        secret = getattr(command, name, None)
        if secret is not None:
            mac.update(f"\x00{name}={secret.get_secret_value()}".encode())
    return mac.hexdigest()
