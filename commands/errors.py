"""Errors of the command boundary (bad input, unknown card, idempotency and concurrency), beside
the domain's ``RuleViolation``. None of them carries a My Number or a PIN."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem with one field."""

    field: str
    message: str
    rule: str | None = None

    def as_dict(self) -> dict[str, str]:
        out = {"field": self.field, "message": self.message}
        if self.rule:
            out["rule"] = self.rule
        return out


class InputError(Exception):
    """The command is malformed: a field is missing, of the wrong form, or unknown."""

    kind = "bad_input"

    def __init__(self, issues: list[Issue], hint: str | None = None) -> None:
        self.issues = issues
        self.hint = hint
        super().__init__("; ".join(f"{i.field}: {i.message}" for i in issues))

    @classmethod
    def single(cls, field: str, message: str, rule: str | None = None, hint: str | None = None) -> InputError:
        return cls([Issue(field, message, rule)], hint)

    @classmethod
    def from_validation(cls, error: ValidationError) -> InputError:
        issues = []
        for e in error.errors(include_url=False, include_input=False, include_context=False):
            field = ".".join(str(p) for p in e["loc"]) or "(command)"
            kind = e["type"]
            rule = kind.removeprefix("rule_") if kind.startswith("rule_") else None
            message = e["msg"].removeprefix("Value error, ")
            if kind == "extra_forbidden":
                message = "unknown field"
            issues.append(Issue(field, message, rule))
        return cls(issues)

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "kind": self.kind,
            "message": str(self),
            "issues": [i.as_dict() for i in self.issues],
        }
        if self.hint:
            out["hint"] = self.hint
        return out


class NotFound(InputError):
    """The command names a card (or certificate) that does not exist."""

    kind = "not_found"


class CommandIdReused(Exception):
    """The command id was already used by a different command: idempotency keys are not reused."""

    kind = "command_id_reused"

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "message": str(self), "hint": "send a new command id for a new command"}


class ConcurrencyConflict(Exception):
    """Other writers kept changing the same card; the command was retried and gave up."""

    kind = "concurrency_conflict"

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "message": str(self), "hint": "send the same command again"}
