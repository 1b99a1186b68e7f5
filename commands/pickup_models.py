"""Command models of what reaches the holder (spec R03, R13, R44, R59; seeds 000, 002, 003): the
pickup notice sent again, a pickup reservation, mail delivery with its steps, and the expiry
notices mailed or returned undelivered.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from commands.fields import Choices, InputDate
from commands.models import CardCommand


class ReservePickup(CardCommand):
    COMMAND = "reserve-pickup"
    SUMMARY = "book the day (and office) the holder collects the card (予約; R59 municipal rules)"

    reserved_for: InputDate = Field(description="the booked day (ISO or 和暦)")
    office: str | None = Field(None, min_length=1, max_length=40, description="the office's code or name")


class MailCard(CardCommand):
    COMMAND = "mail-card"
    SUMMARY = "mail a first card applied for in person to the holder (R03; 本人限定受取郵便 or 簡易書留)"

    face_details_current: bool = Field(
        True,
        description="the card's face still matches the resident record (no move or register change since "
        "applying); if not, the card is handed over at the counter",
    )


class RecordArrivalNotice(CardCommand):
    COMMAND = "arrival-notice"
    SUMMARY = "record the post office's arrival notice for a mailed card (到着通知)"


class RecordMailReturned(CardCommand):
    COMMAND = "mail-returned"
    SUMMARY = "record a mailed card returned to the city undelivered (返戻): counter pickup from now on"


class ResendPickupNotice(CardCommand):
    COMMAND = "resend-notice"
    SUMMARY = "send a lost pickup notice again (003 Q8; the R13 deadline does not move)"


NoticeSubject = Annotated[str, Choices(("card", "SIG", "AUTH"), "R44")]


class RecordExpiryNoticeSent(CardCommand):
    COMMAND = "notice-sent"
    SUMMARY = "record that J-LIS mailed the expiry notice of the card or its SIG/AUTH (有効期限通知書, R44)"

    subject: NoticeSubject = Field("card", description="card, SIG or AUTH")


class RecordExpiryNoticeUndelivered(CardCommand):
    COMMAND = "notice-undelivered"
    SUMMARY = "record an expiry notice that came back undelivered (R44; 003 Q10)"

    subject: NoticeSubject = Field("card", description="card, SIG or AUTH")


PICKUP_COMMANDS: tuple[type[CardCommand], ...] = (
    ResendPickupNotice,
    ReservePickup,
    MailCard,
    RecordArrivalNotice,
    RecordMailReturned,
    RecordExpiryNoticeSent,
    RecordExpiryNoticeUndelivered,
)
