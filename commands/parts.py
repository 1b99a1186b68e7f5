"""The parts the command models are made of: the base model (the shape checks every command
shares), who files a procedure and the legal representative at an application (R12, R18,
R51–R53), and the identity documents shown at the counter (R15, R16).

May import: ``commands.fields`` and ``lifecycle``.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from commands.fields import Choices, InputDate
from lifecycle.documents import CATALOGUE, IdentityDocument
from lifecycle.filers import FILER_ROLES, Filer


class Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, hide_input_in_errors=True
    )

    @field_validator("*", mode="before")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        """Text with a control character inside (NUL, escape, a line break) is refused: PostgreSQL
        cannot store NUL, and none of it belongs in an id, a name of a clerk or a choice."""
        texts = value if isinstance(value, list | tuple) else [value]
        for text in texts:
            if isinstance(text, str) and any(unicodedata.category(ch) == "Cc" for ch in text.strip()):
                raise PydanticCustomError(
                    "control_character", "contains a control character (NUL, escape, line break…)"
                )
        return value


class FilerModel(Model):
    """Who files the procedure and which papers they bring (R12, R18, R51–R53)."""

    role: Annotated[str, Choices(FILER_ROLES, "R18")] = Field(
        "holder", description="the person's relation to the holder"
    )
    same_household: bool = Field(False, description="registered in the holder's household (同一世帯)")
    letter_of_delegation: bool = Field(False, description="an agent's 委任状")
    family_register_copy: bool = Field(False, description="戸籍謄本 (legal representative, R18)")
    registry_certificate: bool = Field(False, description="登記事項証明書 (guardian, R18)")
    parent_child_on_resident_record: bool = Field(
        False, description="parent–child relation on the resident record (R18 waiver)"
    )
    domicile_in_municipality: bool = Field(False, description="本籍 in this municipality (R18 waiver)")

    def to_domain(self) -> Filer:
        return Filer(**self.model_dump())


class LegalRepresentativeModel(Model):
    """The 法定代理人 (a parent, or an adult ward's guardian) who attends a counter application
    with the applicant, and the papers that prove their authority (R03, R18). Who they are is
    not a choice: ``role`` is always ``legal_representative`` (the command line has no option for it)."""

    role: Literal["legal_representative"] = "legal_representative"
    same_household: bool = Field(
        False, description="the legal representative is registered in the applicant's household (同一世帯)"
    )
    family_register_copy: bool = Field(
        False, description="the legal representative brought a 戸籍謄本 (a parent's authority, R18)"
    )
    registry_certificate: bool = Field(
        False,
        description="the legal representative brought a 登記事項証明書 (a guardian's authority; "
        "an adult ward's guardian always needs it, R18)",
    )
    parent_child_on_resident_record: bool = Field(
        False,
        description="the parent–child relation shows on the resident record (with the same household: "
        "no 戸籍謄本 for an under-15, R18)",
    )
    domicile_in_municipality: bool = Field(
        False, description="the 本籍 is in this municipality (no 戸籍謄本 for an under-15, R18)"
    )

    def to_domain(self) -> Filer:
        return Filer(**self.model_dump())


def _document(value: Any) -> Any:
    """``passport`` or ``passport:expires=2030-01-01:copy:shows=name_only:photo`` (and
    ``issued=2015-06-01`` for a 運転経歴証明書) as well as a mapping."""
    if not isinstance(value, str):
        return value
    kind, *opts = [p.strip() for p in value.split(":")]
    out: dict[str, Any] = {"kind": kind}
    for opt in opts:
        key, _, val = opt.partition("=")
        if key == "copy":
            out["original"] = False
        elif key == "photo":
            out["photo"] = True
        elif key in {"expires", "expires_on"}:
            out["expires_on"] = val
        elif key in {"issued", "issued_on"}:
            out["issued_on"] = val
        elif key == "shows":
            out["shows"] = val
        else:
            out[key] = val
    return out


class IdentityDocumentModel(Model):
    """An identity document shown at the counter (R15, R16). Only the kind and dates are kept."""

    kind: Annotated[str, Choices(tuple(CATALOGUE), "R15")]
    original: bool = True
    expires_on: InputDate | None = None
    shows: Literal["name_address", "name_dob", "name_only"] = "name_dob"
    photo: bool | None = None
    issued_on: InputDate | None = None

    def to_domain(self) -> IdentityDocument:
        return IdentityDocument(
            kind=self.kind,
            original=self.original,
            expires_on=self.expires_on,
            shows=self.shows,
            photo=self.photo,
            issued_on=self.issued_on,
        )


Document = Annotated[IdentityDocumentModel, BeforeValidator(_document)]
