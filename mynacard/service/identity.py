"""Who is asking: staff identities, roles and the authenticator.

Every request carries ``Authorization: Bearer <token>``. The ``Authenticator`` protocol is the
one seam: ``TokenAuthenticator`` checks mynacard's own tokens (only their SHA-256 is stored, in
the store's ``staff_tokens``); an OIDC provider replaces it by an authenticator that verifies the
provider's JWT (signature against its JWKS, issuer, audience, expiry) and maps its claims to an
``Identity`` (e.g. ``preferred_username`` → name, a ``roles`` claim → role, an ``office`` claim),
passed to ``create_app(authenticator=...)``. Nothing else changes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from storage.interface import StaffRegistry
from storage.staff import StaffToken

TOKEN_PREFIX = "myn"


class Role(StrEnum):
    """A member of staff's role (what it may do: ``mynacard.service.roles``)."""

    CLERK = "clerk"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"
    RELYING_PARTY = "relying_party"
    SUBSCRIBER = "subscriber"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Identity:
    """An authenticated caller: its name, role and (for municipal staff) office code."""

    name: str
    role: Role
    office: str | None = None
    token_id: str | None = None

    def actor(self) -> str:
        """How the identity is recorded as the actor of events: ``name (role, office)``."""
        where = f", {self.office}" if self.office else ""
        return f"{self.name} ({self.role.value}{where})"

    def as_dict(self) -> dict[str, str | None]:
        return {"name": self.name, "role": self.role.value, "office": self.office, "token_id": self.token_id}


class Authenticator(Protocol):
    """Turns the credentials of a request (the bearer token) into an identity, or None."""

    def authenticate(self, credentials: str) -> Identity | None: ...


def token_hash(token: str) -> str:
    """The stored form of a token (random 256-bit secrets need no slow hash)."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(
    registry: StaffRegistry, name: str, role: Role, office: str | None, created_by: str
) -> tuple[StaffToken, str]:
    """A new token for ``name``: the stored record and the token itself (shown once)."""
    token_id = secrets.token_hex(6)
    token = f"{TOKEN_PREFIX}_{token_id}_{secrets.token_urlsafe(32)}"
    record = StaffToken(
        token_id=token_id,
        token_hash=token_hash(token),
        name=name,
        role=role.value,
        office=office,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        created_by=created_by,
    )
    registry.add_token(record)
    return record, token


class TokenAuthenticator:
    """mynacard's own bearer tokens: looked up by hash; a revoked token is refused at once (every
    worker reads the same table)."""

    def __init__(self, registry: StaffRegistry) -> None:
        self.registry = registry

    def authenticate(self, credentials: str) -> Identity | None:
        if not credentials.startswith(TOKEN_PREFIX + "_") or len(credentials) > 200:
            return None
        digest = token_hash(credentials)
        record = self.registry.token_by_hash(digest)
        if (
            record is None
            or record.revoked_at is not None
            or not hmac.compare_digest(record.token_hash, digest)
        ):
            return None
        return Identity(record.name, Role(record.role), record.office, record.token_id)
