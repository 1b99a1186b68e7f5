"""Rule errors: every refusal by the domain names the spec rule that refuses it.

A guard raises before any event is triggered, so a refused command records nothing.
Messages never contain a My Number or a PIN (design.md, "Identity and privacy").
"""

from __future__ import annotations


class RuleViolation(Exception):
    """A command is refused because a rule of the spec forbids it.

    ``rule`` is the spec id (``R29``) or decision id (``D11``); ``hint`` tells the
    clerk what to do next.
    """

    def __init__(self, rule: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule
        self.message = message
        self.hint = hint

    def as_dict(self) -> dict[str, str]:
        out = {"kind": "rule_violation", "rule": self.rule, "message": self.message}
        if self.hint:
            out["hint"] = self.hint
        return out


class UncoveredCase(RuleViolation):
    """The rules do not cover this case; the service refuses rather than guessing (spec §Decisions)."""


class TerminalState(RuleViolation):
    """The aggregate has reached a terminal state; it refuses every change (spec §2.3, §3)."""
