"""Identity documents (本人確認書類) at application and handover: R15, R16.

The catalogue maps the document kinds a clerk sees to list A (one suffices) or list B (two
needed). Only kinds and dates are recorded: never a document number.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

from lifecycle.errors import RuleViolation

DocumentList = Literal["A", "B"]
Shows = Literal["name_address", "name_dob", "name_only"]


@dataclass(frozen=True, slots=True)
class DocumentKind:
    name: str
    list: DocumentList
    photo: bool
    japanese: str


CATALOGUE: dict[str, DocumentKind] = {
    k.name: k
    for k in (
        # List A: photo identification issued by a public body (R15).
        DocumentKind("my_number_card", "A", True, "マイナンバーカード"),
        DocumentKind("driving_licence", "A", True, "運転免許証"),
        DocumentKind("driving_history_certificate", "A", True, "運転経歴証明書"),
        DocumentKind("passport", "A", True, "旅券"),
        DocumentKind("residence_card", "A", True, "在留カード"),
        DocumentKind("special_permanent_resident_certificate", "A", True, "特別永住者証明書"),
        DocumentKind("physical_disability_handbook", "A", True, "身体障害者手帳"),
        DocumentKind("mental_disability_handbook", "A", True, "精神障害者保健福祉手帳"),
        DocumentKind("rehabilitation_handbook", "A", True, "療育手帳"),
        DocumentKind("juki_card_with_photo", "A", True, "写真付き住民基本台帳カード"),
        DocumentKind("seafarer_pocket_ledger", "A", True, "船員手帳"),
        DocumentKind("temporary_refuge_permit", "A", True, "一時庇護許可書"),
        DocumentKind("provisional_stay_permit", "A", True, "仮滞在許可書"),
        # List B (R15).
        DocumentKind("health_insurance_card", "B", False, "健康保険証"),
        DocumentKind("qualification_certificate", "B", False, "資格確認書"),
        DocumentKind("pension_book", "B", False, "年金手帳"),
        DocumentKind("pension_certificate", "B", False, "年金証書"),
        DocumentKind("long_term_care_insurance_card", "B", False, "介護保険被保険者証"),
        DocumentKind("medical_recipient_certificate", "B", False, "医療受給者証"),
        DocumentKind("mutual_aid_association_card", "B", False, "共済組合員証"),
        DocumentKind("maternal_and_child_health_handbook", "B", False, "母子健康手帳"),
        DocumentKind("public_assistance_certificate", "B", False, "生活保護受給者証"),
        DocumentKind("face_photo_certificate", "B", True, "個人番号カード顔写真証明書"),
        # R15: a second B item may be a company or student ID, or a clinic card, showing
        # name + address or name + DOB.
        DocumentKind("student_id", "B", True, "学生証"),
        DocumentKind("employee_id", "B", True, "社員証"),
        DocumentKind("clinic_card", "B", False, "診察券"),
        DocumentKind("bank_book", "B", False, "預金通帳"),
    )
}


ISSUED_FROM: dict[str, date] = {"driving_history_certificate": date(2012, 4, 1)}
"""Kinds that count only when issued on or after a day (000, 002: 運転経歴証明書, 交付年月日が平成24年4月1日
以降のものに限る): the document's issue date must be given."""


@dataclass(frozen=True, slots=True)
class IdentityDocument:
    """One document shown at the counter."""

    kind: str
    original: bool = True
    expires_on: date | None = None
    shows: Shows = "name_dob"
    photo: bool | None = None
    issued_on: date | None = None
    """When the document was issued (needed for a 運転経歴証明書, ``ISSUED_FROM``)."""

    @property
    def catalogue_entry(self) -> DocumentKind:
        try:
            return CATALOGUE[self.kind]
        except KeyError:
            raise RuleViolation(
                "R15",
                f"unknown identity document kind {self.kind!r}",
                hint=f"use one of: {', '.join(sorted(CATALOGUE))}",
            ) from None

    @property
    def list(self) -> DocumentList:
        return self.catalogue_entry.list

    @property
    def has_photo(self) -> bool:
        return self.catalogue_entry.photo if self.photo is None else self.photo

    def refusal(self, on: date) -> str | None:
        """Why this document does not count on ``on`` (R15), or None if it counts."""
        if not self.original:
            return f"{self.kind}: only originals count, not copies"
        if self.expires_on is not None and self.expires_on < on:
            return f"{self.kind}: expired on {self.expires_on.isoformat()}"
        if self.shows == "name_only":
            return f"{self.kind}: a document showing only the name does not count"
        first_day = ISSUED_FROM.get(self.kind)
        if first_day is not None and (self.issued_on is None or self.issued_on < first_day):
            issued = self.issued_on.isoformat() if self.issued_on else "not given"
            return (
                f"{self.kind}: counts only if issued on or after {first_day.isoformat()} "
                f"(平成24年4月1日; issued: {issued})"
            )
        return None


def _counting(docs: Iterable[IdentityDocument], on: date) -> tuple[list[IdentityDocument], list[str]]:
    counted: list[IdentityDocument] = []
    refused: list[str] = []
    for doc in docs:
        reason = doc.refusal(on)
        if reason is None:
            counted.append(doc)
        else:
            refused.append(reason)
    return counted, refused


def _fail(rule: str, need: str, refused: list[str]) -> RuleViolation:
    detail = f" ({'; '.join(refused)})" if refused else ""
    return RuleViolation(
        rule,
        f"identity documents insufficient: {need}{detail}",
        hint="ask for another original document from list A or B",
    )


def check_identity_documents(docs: Sequence[IdentityDocument], on: date) -> None:
    """R15: one original, unexpired document from list A, or two from list B."""
    counted, refused = _counting(docs, on)
    a = sum(1 for d in counted if d.list == "A")
    b = sum(1 for d in counted if d.list == "B")
    if a >= 1 or b >= 2:
        return
    raise _fail("R15", "1 document from list A or 2 from list B", refused)


def check_proxy_handover_documents(
    holder_docs: Sequence[IdentityDocument], proxy_docs: Sequence[IdentityDocument], on: date
) -> None:
    """R16: the holder's documents A+A, A+B or B+B+B (one with a photo); the proxy's A+A or A+B."""
    counted, refused = _counting(holder_docs, on)
    a = sum(1 for d in counted if d.list == "A")
    b_docs = [d for d in counted if d.list == "B"]
    holder_ok = (
        a >= 2 or (a >= 1 and len(b_docs) >= 1) or (len(b_docs) >= 3 and any(d.has_photo for d in b_docs))
    )
    if not holder_ok:
        raise _fail("R16", "the holder's documents must be A+A, A+B or B+B+B with a photo", refused)
    counted, refused = _counting(proxy_docs, on)
    a = sum(1 for d in counted if d.list == "A")
    b = sum(1 for d in counted if d.list == "B")
    if not (a >= 2 or (a >= 1 and b >= 1)):
        raise _fail("R16", "the proxy's documents must be A+A or A+B", refused)
