"""Who may file a procedure (届出人): the holder, a household member, a legal representative
(法定代理人) or an agent (任意代理人), and what each must bring. R12, R14, R18, R23, R51–R53.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from lifecycle.errors import RuleViolation

FilerRole = Literal["holder", "household_member", "legal_representative", "agent"]
FILER_ROLES: tuple[FilerRole, ...] = ("holder", "household_member", "legal_representative", "agent")


@dataclass(frozen=True, slots=True)
class Filer:
    """The person at the counter (or on the phone) and the papers they bring."""

    role: FilerRole = "holder"
    same_household: bool = False
    """Registered in the holder's household (同一世帯)."""
    letter_of_delegation: bool = False
    """委任状, needed by an agent."""
    family_register_copy: bool = False
    """戸籍謄本, proves a parent's legal representation."""
    registry_certificate: bool = False
    """登記事項証明書, proves a guardian's legal representation."""
    parent_child_on_resident_record: bool = False
    """The parent–child relation shows on the resident record (R18 waiver)."""
    domicile_in_municipality: bool = False
    """The 本籍 is in this municipality (R18 waiver)."""

    def as_dict(self) -> dict[str, object]:
        return {
            "role": self.role,
            "same_household": self.same_household,
            "letter_of_delegation": self.letter_of_delegation,
            "family_register_copy": self.family_register_copy,
            "registry_certificate": self.registry_certificate,
            "parent_child_on_resident_record": self.parent_child_on_resident_record,
            "domicile_in_municipality": self.domicile_in_municipality,
        }


HOLDER = Filer()


def check_legal_representative_authority(
    filer: Filer, *, holder_under_15: bool, holder_adult_ward: bool
) -> None:
    """R18: a legal representative proves authority with a 戸籍謄本 or 登記事項証明書.

    A guardian of an adult ward needs the 登記事項証明書. The proof is waived for the parent
    of an under-15 in the same household when the parent–child relation is on the resident
    record, or when the 本籍 is in this municipality.
    """
    if holder_adult_ward:
        if not filer.registry_certificate:
            raise RuleViolation(
                "R18",
                "the guardian of an adult ward proves authority with a 登記事項証明書",
                hint="ask for the 登記事項証明書 (certificate of registered matters)",
            )
        return
    if holder_under_15 and (
        (filer.same_household and filer.parent_child_on_resident_record) or filer.domicile_in_municipality
    ):
        return
    if not (filer.family_register_copy or filer.registry_certificate):
        raise RuleViolation(
            "R18",
            "a legal representative proves authority with a 戸籍謄本 or 登記事項証明書",
            hint="ask for the 戸籍謄本, or record that the waiver conditions hold",
        )


def check_filer(
    filer: Filer,
    *,
    allowed: Collection[FilerRole],
    rule: str,
    procedure: str,
    holder_under_15: bool,
    holder_adult_ward: bool,
) -> None:
    """The filer's role is allowed for the procedure, an agent has a 委任状, and a legal
    representative proves authority (R18)."""
    if filer.role not in allowed:
        raise RuleViolation(
            rule,
            f"{procedure} cannot be filed by a {filer.role.replace('_', ' ')}",
            hint=f"it may be filed by: {', '.join(r.replace('_', ' ') for r in allowed)}",
        )
    if filer.role == "household_member" and not filer.same_household:
        raise RuleViolation(rule, "a household member must be registered in the holder's household")
    if filer.role == "agent" and not filer.letter_of_delegation:
        raise RuleViolation(
            rule,
            f"an agent filing {procedure} needs a letter of delegation (委任状)",
            hint="ask the holder for a 委任状",
        )
    if filer.role == "legal_representative":
        check_legal_representative_authority(
            filer, holder_under_15=holder_under_15, holder_adult_ward=holder_adult_ward
        )
