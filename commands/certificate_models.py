"""Command models of the certificates and PINs (R34–R48, R54–R58).

PIN values arrive as secrets, are checked for format (R54) here and never go further: the
domain learns only which PINs were set.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, model_validator
from pydantic_core import PydanticCustomError

from commands.fields import Choices
from commands.models import CardCommand, PinValues
from commands.parts import FilerModel
from lifecycle.certificate_rules import CARD_KINDS
from lifecycle.errors import RuleViolation
from lifecycle.pins import PIN_CHANGE_CHANNELS, PIN_KINDS, PIN_RESET_CHANNELS, check_pin_format

CertificateKindField = Annotated[str, Choices(CARD_KINDS, "R34")]
PinKindField = Annotated[str, Choices(PIN_KINDS, "R54")]


class IssueCertificates(PinValues):
    COMMAND = "issue-certificates"
    SUMMARY = "issue SIG/AUTH onto an existing card, free (R34, R10, R40, R58)"

    kinds: list[CertificateKindField] = Field(min_length=1, description="SIG and/or AUTH")
    filed_by: FilerModel = Field(default_factory=FilerModel)
    juki_pin_confirmed: bool = Field(False, description="the 住基 4-digit PIN was entered (R34)")
    inquiry_answered: bool = Field(
        False, description="an agent brings the holder's answer to the inquiry letter (照会書, send-inquiry)"
    )


class RenewCertificates(PinValues):
    COMMAND = "renew-certificates"
    SUMMARY = "renew SIG/AUTH from 3 months before expiry, or after it (R38, R39, R46)"

    kinds: list[CertificateKindField] = Field(min_length=1, description="SIG and/or AUTH")
    filed_by: FilerModel = Field(default_factory=FilerModel)


class RevokeCertificate(CardCommand):
    COMMAND = "revoke-certificate"
    SUMMARY = "revoke a certificate on the holder's request (失効申請, R42; SIG takes SP with it, R47)"

    kind: Annotated[str, Choices(("SIG", "AUTH", "SP-SIG", "SP-AUTH"), "R42")]
    filed_by: FilerModel = Field(default_factory=FilerModel)


class IssueSmartphoneCertificates(CardCommand):
    COMMAND = "issue-smartphone"
    SUMMARY = "issue smartphone certificates to a phone; one phone at a time (R45, R46)"

    device: str = Field(min_length=1, max_length=120, description="the phone's registration id")
    sig_pin_confirmed: bool = Field(False, description="the card's SIG PIN was entered (R45)")


class SuspendSmartphone(CardCommand):
    COMMAND = "suspend-smartphone"
    SUMMARY = "suspend the smartphone certificates of a lost phone (R48)"


class LiftSmartphoneSuspension(CardCommand):
    COMMAND = "lift-smartphone"
    SUMMARY = "phone found: SP-AUTH restored, SP-SIG reissued (R48)"


class RenewSmartphoneCertificates(CardCommand):
    COMMAND = "renew-smartphone"
    SUMMARY = "renew the smartphone certificates after the card's were renewed (R46)"

    sig_pin_confirmed: bool = Field(False, description="the card's SIG PIN was entered (R45)")


class SetFaceRecognitionMode(PinValues):
    COMMAND = "face-mode"
    SUMMARY = "switch to a face-recognition card, or back with new PINs (R58)"

    enabled: bool = Field(description="--enabled: to a face card; --no-enabled: back to PINs")


class RecordPinAttempt(CardCommand):
    COMMAND = "pin-attempt"
    SUMMARY = "record a terminal's report of a PIN entry; wrong entries lock it (R55)"

    pin: PinKindField
    success: bool = Field(description="--success: correct entry; --no-success: wrong entry")


class ResetPin(CardCommand):
    COMMAND = "reset-pin"
    SUMMARY = "reset (unlock and set anew) a PIN at the counter or a kiosk (R56)"

    pin: PinKindField
    channel: Annotated[str, Choices(PIN_RESET_CHANNELS, "R56")] = "counter"
    new_pin: SecretStr = Field(description="the new PIN (never stored or echoed)")
    forgotten: bool = Field(False, description="the PIN was forgotten (needs one more ID at the counter)")
    additional_id: bool = Field(False, description="one more identity document besides the card (R56)")
    other_certificate_pin_known: bool = Field(False, description="kiosk: the holder knows the other PIN")
    filed_by: FilerModel = Field(default_factory=FilerModel)
    inquiry_answered: bool = Field(
        False, description="an agent brings the holder's answer to the inquiry letter (照会書, send-inquiry)"
    )

    @model_validator(mode="after")
    def _format(self) -> ResetPin:
        _check_new_pin(self.pin, self.new_pin)
        return self


class ChangePin(CardCommand):
    COMMAND = "change-pin"
    SUMMARY = "change a PIN at the counter (all four) or at home (not the 住基 PIN) (R57)"

    pin: PinKindField
    channel: Annotated[str, Choices(PIN_CHANGE_CHANNELS, "R57")] = "counter"
    new_pin: SecretStr = Field(description="the new PIN (never stored or echoed)")

    @model_validator(mode="after")
    def _format(self) -> ChangePin:
        _check_new_pin(self.pin, self.new_pin)
        return self


def _check_new_pin(kind: str, value: SecretStr) -> None:
    try:
        check_pin_format(kind, value.get_secret_value())
    except RuleViolation as e:
        raise PydanticCustomError("rule_R54", f"new_pin: {e.message}") from None


class SendAgentInquiry(CardCommand):
    COMMAND = "send-inquiry"
    SUMMARY = "send the holder an inquiry letter for an agent's AUTH request or PIN reset (照会書; R34, R56)"

    procedure: Annotated[str, Choices(("certificates", "pin_reset"), "R34")]
    subject: str = Field(
        min_length=1, max_length=20, description="AUTH (certificates), or the PIN (pin_reset)"
    )
    filed_by: FilerModel = Field(description="the agent or household member asking (--filed-by agent …)")


CERTIFICATE_COMMANDS = (
    SendAgentInquiry,
    IssueCertificates,
    RenewCertificates,
    RevokeCertificate,
    IssueSmartphoneCertificates,
    SuspendSmartphone,
    LiftSmartphoneSuspension,
    RenewSmartphoneCertificates,
    SetFaceRecognitionMode,
    RecordPinAttempt,
    ResetPin,
    ChangePin,
)
