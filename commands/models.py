"""Command models of the card: one pydantic model per command.

Shape, identifiers, dates and closed choices are checked here, at the boundary; the rules are
checked by the aggregate. Unknown fields are refused. ``COMMAND`` is the command's name (CLI
subcommand, HTTP route, idempotency record).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID, uuid4

from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
    field_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from commands.fields import ApplicationId, CardRef, Choices, InputDate, InputDateTime, MyNumber
from commands.parts import Document, FilerModel, LegalRepresentativeModel, Model
from lifecycle import card as card_rules
from lifecycle.errors import RuleViolation
from lifecycle.fees import REISSUE_REASONS
from lifecycle.pins import check_pin_format

SECRET_FIELDS = frozenset(
    {"my_number", "new_my_number", "sig_pin", "auth_pin", "juki_pin", "card_details_pin", "new_pin"}
)
"""Fields wrapped as secrets before validation, so no error (str, JSON) can ever echo them."""


class Command(Model):
    """Fields every command has."""

    COMMAND: ClassVar[str] = ""
    SUMMARY: ClassVar[str] = ""

    @model_validator(mode="before")
    @classmethod
    def _hide_secrets(cls, data: Any) -> Any:
        if isinstance(data, dict) and SECRET_FIELDS & data.keys():
            return {
                k: SecretStr(v) if k in SECRET_FIELDS and isinstance(v, str) else v for k, v in data.items()
            }
        return data

    command_id: UUID = Field(
        default_factory=uuid4,
        description="idempotency key: the same id sent twice has one effect and returns the first result",
    )
    actor: str = Field(min_length=1, max_length=120, description="who records this (clerk id)")
    effective_at: InputDateTime | None = Field(
        None,
        description="when it happened (JST); a date means 00:00; default: now",
    )


class CardCommand(Command):
    card: CardRef = Field(description="the card: its application id (23 digits) or card id")


def pin_checker(kind: str) -> Any:
    def check(value: Any) -> Any:
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if not isinstance(raw, str):
            raise PydanticCustomError("rule_R54", "a PIN is given as text")
        try:
            check_pin_format(kind, raw)
        except RuleViolation as e:
            raise PydanticCustomError("rule_R54", e.message) from None
        return SecretStr(raw)

    return BeforeValidator(check)


SigPin = Annotated[SecretStr, pin_checker("sig")]
"""署名用電子証明書暗証番号: 6–16 of A–Z/0–9 with a letter and a digit (R54)."""
FourDigitPin = Annotated[SecretStr, pin_checker("auth")]
"""A 4-digit PIN (利用者証明用, 住基, 券面事項入力補助; R54)."""


class PinValues(CardCommand):
    """PIN fields shared by the commands that set PINs; only which were given leaves the model."""

    sig_pin: SigPin | None = Field(None, description="署名用 PIN (never stored or echoed)")
    auth_pin: FourDigitPin | None = Field(None, description="利用者証明用 PIN, 4 digits")
    juki_pin: FourDigitPin | None = Field(None, description="住基 PIN, 4 digits")
    card_details_pin: FourDigitPin | None = Field(None, description="券面事項入力補助 PIN, 4 digits")
    pins_set_by: Literal["holder", "legal_representative"] = Field(
        "holder", description="who set the PINs (a legal representative for an under-15, R40)"
    )

    def pins_given(self) -> frozenset[str]:
        return frozenset(
            kind
            for kind, value in (
                ("sig", self.sig_pin),
                ("auth", self.auth_pin),
                ("juki", self.juki_pin),
                ("card_details", self.card_details_pin),
            )
            if value is not None
        )


class SubmitApplication(Command):
    COMMAND = "apply"
    SUMMARY = "submit an application for a card (交付申請; R02–R04, R15, R25, fees R07–R10)"

    application_id: ApplicationId = Field(description="申請書ID, 23 digits (R02)")
    my_number: MyNumber = Field(description="個人番号, 12 digits (R01); stored only as a keyed hash")
    date_of_birth: InputDate = Field(description="date of birth (ISO or 和暦)")
    photo_taken_on: InputDate = Field(description="when the photo was taken (R04: within 6 months)")
    kind: Annotated[str, Choices(card_rules.APPLICATION_KINDS, "R07")] = "new"
    channel: Annotated[str, Choices(card_rules.APPLICATION_CHANNELS, "R02")] = "web"
    adult_ward: bool = Field(False, description="成年被後見人 (R03, R40)")
    residence_status: str | None = Field(
        None, max_length=80, description="foreign residents: 在留資格 (e.g. permanent_resident, student)"
    )
    stay_until: InputDate | None = Field(
        None, description="foreign residents: end of the period of stay (R22)"
    )
    wants_signature_certificate: bool = Field(True, description="署名用電子証明書 (decline with --no-…)")
    wants_user_certificate: bool = Field(True, description="利用者証明用電子証明書 (decline with --no-…)")
    face_recognition_card: bool = Field(False, description="顔認証マイナンバーカード (R58)")
    previous_card: CardRef | None = Field(None, description="renewal/reissue: the card it replaces")
    reissue_reason: Annotated[str | None, Choices(tuple(sorted(REISSUE_REASONS)), "R07")] = None
    disaster_certificate: bool = Field(False, description="罹災証明書 shown (R07, Noto earthquake)")
    form_printed_on: InputDate | None = Field(None, description="when the application form was printed (R02)")
    facts_changed_on: InputDate | None = Field(
        None, description="last change of name/address/sex/DOB/stay limit (R02)"
    )
    applicant_present: bool = Field(False, description="counter: the applicant attends (R03)")
    legal_representative_present: bool = Field(
        False,
        description="counter: the 法定代理人 (parent or guardian) attends, as an under-15 or an adult "
        "ward needs (R03); their papers: --legal-representative-… (R18)",
    )
    legal_representative: LegalRepresentativeModel | None = Field(
        None,
        description="counter: the 法定代理人 who attends, and the papers proving their authority (R18)",
    )
    identity_documents: list[Document] = Field(
        default_factory=list, description="counter: documents shown (R15), e.g. driving_licence"
    )
    juki_card_collected: bool = Field(False, description="住基カード collected at application (R17)")
    fee_paid: bool = Field(False, description="the assessed fee was paid at application (R08)")


class AcceptApplication(CardCommand):
    COMMAND = "accept"
    SUMMARY = "record that J-LIS accepted the application (受理; its date sets the adult line, R05)"


class ProduceCard(CardCommand):
    COMMAND = "produce"
    SUMMARY = "record that J-LIS produced the card (作成; the issue date fixes the expiry, R19–R22)"


class SendPickupNotice(CardCommand):
    COMMAND = "send-notice"
    SUMMARY = "record that the pickup notice (交付通知書) was sent (R13)"


class SendPickupReminder(CardCommand):
    COMMAND = "send-reminder"
    SUMMARY = "record a reminder to collect the card (R13, D11)"


class HandOverCard(PinValues):
    COMMAND = "hand-over"
    SUMMARY = "hand the card over (交付; R14–R18, fee R07/R08)"

    method: Annotated[str, Choices(card_rules.HANDOVER_METHODS, "R03")] = "counter"
    recipient: Literal["holder", "proxy"] = "holder"
    proxy_reason: Annotated[str | None, Choices(card_rules.PROXY_REASONS, "R14")] = None
    proxy: FilerModel | None = None
    identity_documents: list[Document] = Field(
        default_factory=list, description="holder's documents (R15/R16)"
    )
    proxy_identity_documents: list[Document] = Field(
        default_factory=list, description="proxy's documents (R16)"
    )
    notification_card: Annotated[str | None, Choices(card_rules.NOTIFICATION_CARD_OUTCOMES, "R17")] = Field(
        None,
        description="what became of the 通知カード (R17): required at a first card's handover "
        "(collected; lost; number_letter_returned: a 個人番号通知書 shown and handed back); "
        "left out for a renewal or reissue, it is not_applicable",
    )
    notification_card_lost_at_home: bool = Field(
        False, description="the 通知カード was lost at home: no police report needed (R17)"
    )
    police_report: bool = Field(False, description="a police 遺失届 was filed for the lost 通知カード (R17)")
    juki_card: Annotated[str, Choices(card_rules.JUKI_CARD_OUTCOMES, "R17")] = "not_held"
    old_card_brought: bool | None = Field(
        None,
        description="the person's card still in use was brought (R62: returned; not brought: handled as "
        "lost). Unsaid means brought, except for a no-fault reissue, which must say it (R07 fee)",
    )
    fee_paid_yen: int = Field(0, ge=0, description="fee collected at handover (R08)")
    office: str | None = Field(
        None,
        min_length=1,
        max_length=40,
        description="the office (窓口) handing it over; default: MYNACARD_OFFICE, else '(not recorded)'",
    )

    @field_serializer("notification_card")
    def _left_out_is_not_applicable(self, value: str | None) -> str:
        """Left out and ``not_applicable`` record the same handover (a renewal's or a reissue's; a
        first card's is refused either way), so they keep one idempotency digest: a retry of a
        handover recorded when the option defaulted to ``not_applicable`` is still the same command."""
        return value or "not_applicable"


class CancelApplication(CardCommand):
    COMMAND = "cancel"
    SUMMARY = "cancel the application before receipt (交付申請取消, R12)"

    filed_by: FilerModel = Field(default_factory=FilerModel)
    channel: Literal["counter", "phone"] = "counter"


class PayFee(CardCommand):
    COMMAND = "pay-fee"
    SUMMARY = "record payment of the assessed fee (R08)"

    amount_yen: int = Field(gt=0)


class SuspendCard(CardCommand):
    COMMAND = "suspend"
    SUMMARY = "suspend the card (一時停止, 24/7, R49)"

    channel: Annotated[str, Choices(card_rules.SUSPENSION_CHANNELS, "R49")] = "call_centre"


class LiftSuspension(CardCommand):
    COMMAND = "lift-suspension"
    SUMMARY = "lift a suspension; the holder in person only (一時停止解除, R50)"

    filed_by: FilerModel = Field(default_factory=FilerModel)
    in_person: bool = Field(True, description="the holder is at the counter with the card and ID")


class ChangeCardInformation(CardCommand):
    COMMAND = "change-info"
    SUMMARY = "change the card's information (券面記載事項変更; R53, R41)"

    facts: list[Annotated[str, Choices(card_rules.CARD_FACTS, "R53")]] = Field(
        min_length=1, description="address, name, date_of_birth, sex, former_surname"
    )
    filed_by: FilerModel = Field(default_factory=FilerModel)
    pin_confirmed: bool = Field(
        False, description="the card's 4-digit PIN was entered (the value is never sent)"
    )
    new_date_of_birth: InputDate | None = None
    former_surname_action: Annotated[str | None, Choices(card_rules.FORMER_SURNAME_ACTIONS, "R41")] = None


class AnswerInquiry(CardCommand):
    COMMAND = "answer-inquiry"
    SUMMARY = "record the holder's answer to an inquiry letter (照会書, R53)"

    pin_confirmed: bool = False


class RecordNotesFieldFull(CardCommand):
    COMMAND = "notes-full"
    SUMMARY = "record that the additional-notes field is full (追記欄満欄, R33)"


class RecordMoveOut(CardCommand):
    COMMAND = "move-out"
    SUMMARY = "record a move-out (転出; R11, R27, R30)"

    planned_move_out_on: InputDate = Field(description="転出予定日")
    overseas: bool = Field(False, description="moving abroad (国外転出, R27)")


class FileMoveIn(CardCommand):
    COMMAND = "move-in"
    SUMMARY = "record a move-in notification (転入届; R28, R29, starts R30)"

    planned_move_out_on: InputDate = Field(description="転出予定日 on the move-out certificate")
    moved_in_on: InputDate = Field(description="the day the holder started living at the new address")


class RegisterOverseasContinuedUse(CardCommand):
    COMMAND = "overseas-use"
    SUMMARY = "register overseas continued use (国外継続利用) by the day before moving abroad (R27)"

    planned_move_out_on: InputDate


class ExtendStay(CardCommand):
    COMMAND = "extend-stay"
    SUMMARY = "change the validity after a stay renewal (在留期間更新, R23)"

    new_stay_until: InputDate
    filed_by: FilerModel = Field(default_factory=FilerModel)
    pin_confirmed: bool = Field(False, description="the card's 4-digit PIN was entered (R23)")


class GrantSpecialExtension(CardCommand):
    COMMAND = "special-extension"
    SUMMARY = "extend by 2 months while a stay renewal is pending (特例期間, once, R24)"

    evidence: Annotated[str, Choices(card_rules.SPECIAL_EXTENSION_EVIDENCE, "R24")]


class ReportLoss(CardCommand):
    COMMAND = "report-loss"
    SUMMARY = "record a loss; the card is abolished (紛失・廃止届, R51)"

    lost_at_home: bool = False
    police_report: bool = Field(False, description="the police 遺失届 receipt was shown")
    filed_by: FilerModel = Field(default_factory=FilerModel)


class ReturnCard(CardCommand):
    COMMAND = "return"
    SUMMARY = "record a return; the card is abolished (返納, R52)"

    reason: Annotated[str, Choices(card_rules.RETURN_REASONS, "R52")] = "voluntary"
    filed_by: FilerModel = Field(default_factory=FilerModel)


class InvalidateCard(CardCommand):
    COMMAND = "invalidate"
    SUMMARY = "invalidate the card (death, record deleted, new resident code or My Number; R31, R32)"

    reason: Annotated[str, Choices(tuple(card_rules.INVALIDATION_REASONS), "R31")]
    new_my_number: MyNumber | None = Field(None, description="for my_number_changed: the new number (R01)")

    @model_validator(mode="after")
    def _new_number_only_for_change(self) -> InvalidateCard:
        if (self.reason == "my_number_changed") != (self.new_my_number is not None):
            raise ValueError("new_my_number is given exactly when the reason is my_number_changed (R31)")
        return self


class CollectPhysicalCard(CardCommand):
    COMMAND = "hand-in"
    SUMMARY = "record that an ended card was physically handed in (R32, R51)"

    reason: str = Field("found_after_loss", max_length=80)


class RecordLapses(CardCommand):
    COMMAND = "lapse"
    SUMMARY = "record what time made due on a card: expiries, R13, R27, R28, R30, expiry notices R44"

    until: InputDate | None = Field(None, description="record what was due by this day (default: today)")


class FileCardsUnderPerson(Command):
    """Internal (``mynacard migrate-holders``, never a subcommand of its own): file the cards of a
    store written before R62–R65 under their person. Idempotent: a card already filed is skipped."""

    COMMAND = "file-cards-under-person"
    SUMMARY = "file a person's cards recorded before R62–R65 under the person"

    holder_ref: str = Field(pattern=r"^[0-9a-f]{64}$", description="the person's holder reference")
    card_ids: list[UUID] = Field(min_length=1, description="the person's cards, in the order applied for")


class ForgetPerson(Command):
    """消去 (issue 13): erase a person's personal data (date of birth, masked My Number, identity
    documents, …) by destroying their data keys, once every card of theirs has ended and the
    retention period (``MYNACARD_POLICIES__FORGET_AFTER_DAYS``) is over. Lifecycle facts stay:
    status and validity still answer. Irreversible; supervisors and admins only."""

    COMMAND = "forget"
    SUMMARY = "erase a person's personal data for good, keeping the lifecycle facts (消去; issue 13)"

    my_number: MyNumber | None = Field(None, description="個人番号, 12 digits (R01): the person to forget")
    holder_ref: str | None = Field(
        None,
        pattern=r"^[0-9a-f]{64}$",
        description="or the person's holder reference (as `person` prints it)",
    )
    reason: str = Field(min_length=1, max_length=500, description="why the person is forgotten (recorded)")

    @model_validator(mode="after")
    def _one_person(self) -> ForgetPerson:
        if (self.my_number is None) == (self.holder_ref is None):
            raise PydanticCustomError(
                "person", "give the person's My Number or holder reference (one of them)"
            )
        return self


CARD_COMMANDS: tuple[type[Command], ...] = (
    SubmitApplication,
    AcceptApplication,
    ProduceCard,
    SendPickupNotice,
    SendPickupReminder,
    HandOverCard,
    CancelApplication,
    PayFee,
    SuspendCard,
    LiftSuspension,
    ChangeCardInformation,
    AnswerInquiry,
    RecordNotesFieldFull,
    RecordMoveOut,
    FileMoveIn,
    RegisterOverseasContinuedUse,
    ExtendStay,
    GrantSpecialExtension,
    ReportLoss,
    ReturnCard,
    InvalidateCard,
    CollectPhysicalCard,
    RecordLapses,
)
