"""What each role may do (the README's roles table is this module).

| role | may |
|---|---|
| ``clerk`` | record procedures (all but the irreversible ones); read cards, people, certificates |
| ``supervisor`` | a clerk's, and ``invalidate``, ``return`` (abolish), ``lapse``, ``sweep``, ``forget`` |
| ``auditor`` | read everything, audit replay (``as_known_at``, history), access records; writes nothing |
| ``relying_party`` | certificate validity (``valid-at``) and the revocation list only: no personal data |
| ``subscriber`` | the event feed only |
| ``admin`` | tokens, keys, rebuild, projections, metrics, ``forget``; no personal data |
"""

from __future__ import annotations

from enum import StrEnum

from mynacard.service.identity import Role


class Permission(StrEnum):
    RECORD = "record"
    RECORD_IRREVERSIBLE = "record_irreversible"
    READ_PERSONAL = "read_personal"
    READ_AGGREGATE = "read_aggregate"
    ACCESS_RECORDS = "access_records"
    CERTIFICATE_STATUS = "certificate_status"
    FEED = "feed"
    ADMIN = "admin"
    ERASE = "erase"


IRREVERSIBLE_COMMANDS = frozenset({"invalidate", "return", "lapse", "forget"})
"""Commands only a supervisor records: they end a card for good (R31, R52, R13–R30 lapses), or
erase a person's personal data for good (``forget``, issue 13; an admin may too)."""
ERASURE_COMMANDS = frozenset({"forget"})
"""Commands that erase personal data (issue 13): supervisors and admins (``ERASE``)."""

_STAFF_READS = {Permission.READ_PERSONAL, Permission.READ_AGGREGATE, Permission.CERTIFICATE_STATUS}

GRANTS: dict[Role, frozenset[Permission]] = {
    Role.CLERK: frozenset({Permission.RECORD, *_STAFF_READS}),
    Role.SUPERVISOR: frozenset(
        {Permission.RECORD, Permission.RECORD_IRREVERSIBLE, Permission.ERASE, *_STAFF_READS}
    ),
    Role.AUDITOR: frozenset({*_STAFF_READS, Permission.ACCESS_RECORDS}),
    Role.RELYING_PARTY: frozenset({Permission.CERTIFICATE_STATUS}),
    Role.SUBSCRIBER: frozenset({Permission.FEED}),
    Role.ADMIN: frozenset({Permission.ADMIN, Permission.READ_AGGREGATE, Permission.ERASE}),
}

ITEMISED_ROLES = frozenset({Role.CLERK, Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN})
"""Whose reads of personal data are recorded one by one; relying parties' and subscribers' are counted."""


def may(role: Role, permission: Permission) -> bool:
    return permission in GRANTS[role]


def roles_with(permission: Permission) -> list[Role]:
    return [role for role in Role if may(role, permission)]


def command_permission(command: str) -> Permission:
    if command in ERASURE_COMMANDS:
        return Permission.ERASE
    return Permission.RECORD_IRREVERSIBLE if command in IRREVERSIBLE_COMMANDS else Permission.RECORD
