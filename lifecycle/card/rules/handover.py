"""Rules from production to handover (交付): the pickup notice and reminder (R13, D11), who may
collect the card and with which documents (R14–R16, R18, R03), the notification and Juki
cards (R17), and the fee settled by then (R07, R08).

May import: the standard library, ``lifecycle`` leaf modules (documents, errors, fees, filers)
and ``lifecycle.card.vocabulary``.
"""

from __future__ import annotations

from datetime import date

from lifecycle.card.vocabulary import (
    HANDOVER_METHODS,
    JUKI_CARD_OUTCOMES,
    MAIL_SERVICES,
    NOTIFICATION_CARD_OUTCOMES,
    PROXY_REASONS,
    Handover,
)
from lifecycle.documents import check_identity_documents, check_proxy_handover_documents
from lifecycle.errors import RuleViolation, UncoveredCase
from lifecycle.fees import Fee, assess_handover_fee
from lifecycle.filers import check_legal_representative_authority


def check_pickup_notice(status: str, issue_date: date | None, sent_on: date | None, on: date) -> None:
    """交付通知書 (R13): the pickup notice follows production, once."""
    if status != "produced" or issue_date is None:
        raise RuleViolation("R13", f"a pickup notice follows production (status {status})")
    if sent_on is not None:
        raise RuleViolation("R13", "the pickup notice was already sent; send a reminder instead")
    if on < issue_date:
        raise RuleViolation("R13", "the pickup notice cannot precede the issue date")


def check_pickup_notice_reissue(status: str, notice_sent_on: date | None, on: date) -> None:
    """A lost pickup notice is sent again (003 Q8): only a card waiting for collection, after its
    notice; the R13 deadline stays the first notice's (a reminder is what moves it, D11)."""
    if status != "produced" or notice_sent_on is None:
        raise RuleViolation(
            "R13", "only a pickup notice already sent for a card waiting for collection is sent again"
        )
    if on < notice_sent_on:
        raise RuleViolation("R13", "the notice cannot be sent again before it was first sent")


def check_pickup_reminder(status: str, notice_sent_on: date | None, on: date) -> None:
    """督促 (R13, D11): a reminder follows the pickup notice."""
    if status != "produced" or notice_sent_on is None:
        raise RuleViolation("R13", "a reminder follows the pickup notice")
    if on < notice_sent_on:
        raise RuleViolation("R13", "the reminder cannot precede the pickup notice")


def check_collectable(
    status: str, issue_date: date | None, expires_on: date | None, last_collection_day: date | None, on: date
) -> None:
    """R20, R13: a produced card, from its issue date, while it can still be collected."""
    if status != "produced" or issue_date is None or expires_on is None:
        raise RuleViolation("R20", f"only a produced card can be handed over (status {status})")
    if on < issue_date:
        raise RuleViolation("R20", "the card cannot be handed over before its issue date")
    if on > expires_on:
        raise RuleViolation(
            "R13",
            "the card expired before it was collected: it is destroyed",
            hint="record the lapse; the holder applies again",
        )
    if last_collection_day is not None and on > last_collection_day:
        raise RuleViolation(
            "R13",
            f"the card could be collected until {last_collection_day.isoformat()}",
            hint="record the lapse; the holder applies again",
        )


def check_recipient(h: Handover, channel: str, on: date, *, holder_age: int, holder_adult_ward: bool) -> None:
    """R03: only a counter application is mailed (本人限定受取郵便), to the holder; R15 the
    holder's documents, or R14/R16/R18 a proxy's."""
    if h.method not in HANDOVER_METHODS:
        raise UncoveredCase("R14", f"unknown handover method {h.method!r}")
    if h.method == "mail":
        if channel not in MAIL_SERVICES:
            raise RuleViolation(
                "R03",
                "only a card applied for in person (counter, assisted, outreach) is mailed",
                hint="hand it over at the counter",
            )
        if h.recipient != "holder":
            raise RuleViolation("R03", "本人限定受取郵便 is delivered to the holder only")
    elif h.recipient == "holder":
        check_identity_documents(h.identity_documents, on)
    else:
        check_proxy(h, on, holder_age=holder_age, holder_adult_ward=holder_adult_ward)


def check_mail_delivery(
    status: str, channel: str, kind: str, mail_returned: bool, *, face_details_current: bool = True
) -> None:
    """Mail delivery (R03; 000, 002): a produced card applied for in person is mailed, unless the
    counter is required: a card that is not a first card (a renewal, a reissue after a loss, …), a
    card whose face no longer matches the resident record (a move or a family-register change
    after the application), or a card that came back to the city undelivered (返戻)."""
    if status != "produced":
        raise RuleViolation("R03", f"only a produced card waiting for its holder is mailed (status {status})")
    counter = "hand the card over at the counter (send the pickup notice)"
    if channel not in MAIL_SERVICES:
        raise RuleViolation(
            "R03", f"a card applied for by {channel} is collected at the counter", hint=counter
        )
    if kind != "new":
        raise RuleViolation("R03", f"a {kind} card is handed over at the counter, not mailed", hint=counter)
    if mail_returned:
        raise RuleViolation("R03", "the card came back to the city undelivered (返戻)", hint=counter)
    if not face_details_current:
        raise RuleViolation(
            "R03",
            "the card's face no longer matches the resident record (a move or a register change)",
            hint=counter,
        )


def check_proxy(h: Handover, on: date, *, holder_age: int, holder_adult_ward: bool) -> None:
    """R14: a proxy only for an unavoidable reason the facts bear out; R16 documents; R18."""
    if h.proxy is None or h.proxy_reason is None:
        raise RuleViolation("R14", "a proxy handover names the proxy and the reason")
    if h.proxy_reason not in PROXY_REASONS:
        raise RuleViolation(
            "R14",
            f"{h.proxy_reason!r} is not an unavoidable reason for a proxy to collect the card",
            hint=f"reasons: {', '.join(PROXY_REASONS)}; otherwise the holder comes in person",
        )
    age = holder_age
    if h.proxy_reason == "under_15" and age >= 15:
        raise RuleViolation("R14", f"the holder is {age}, not under 15")
    if h.proxy_reason == "age_75_or_over" and age < 75:
        raise RuleViolation("R14", f"the holder is {age}, not 75 or over")
    if h.proxy_reason == "adult_ward" and not holder_adult_ward:
        raise RuleViolation("R14", "the holder is not recorded as an adult ward")
    if h.proxy.role == "holder":
        raise RuleViolation("R14", "a proxy is someone other than the holder")
    if h.proxy.role == "household_member" and not h.proxy.same_household:
        raise RuleViolation("R14", "a household member must be registered in the holder's household")
    if h.proxy.role == "legal_representative":
        check_legal_representative_authority(
            h.proxy, holder_under_15=age < 15, holder_adult_ward=holder_adult_ward
        )
    check_proxy_handover_documents(h.identity_documents, h.proxy_identity_documents, on)


def check_notification_documents(h: Handover, application_kind: str) -> None:
    """R17: at the first card's handover the 通知カード is collected (or its loss reported,
    with a police report if lost outside the home); a 個人番号通知書 is shown and handed back;
    a Juki card is collected."""
    if h.notification_card not in NOTIFICATION_CARD_OUTCOMES:
        raise UncoveredCase("R17", f"unknown notification card outcome {h.notification_card!r}")
    if h.juki_card not in JUKI_CARD_OUTCOMES:
        raise UncoveredCase("R17", f"unknown Juki card outcome {h.juki_card!r}")
    if application_kind == "new" and h.notification_card == "not_applicable":
        raise RuleViolation(
            "R17",
            "at the first card's handover the 通知カード is collected, its loss reported, or "
            "the 個人番号通知書 shown",
        )
    if h.notification_card == "lost" and not h.notification_card_lost_at_home and not h.police_report:
        raise RuleViolation(
            "R17",
            "a 通知カード lost outside the home needs a police lost-property report (遺失届) first",
            hint="the holder files a 遺失届 at the police, then the loss is reported here",
        )


def handover_fee(
    h: Handover, application_kind: str, application_fee: Fee, *, with_certificates: bool
) -> Fee | None:
    """R07: a no-fault reissue is free only if the old card is brought at receipt; answers the
    extra fee assessed at handover, if any."""
    if application_kind != "reissue":
        return None
    if not application_fee.fault and h.old_card_brought is None:
        raise RuleViolation(
            "R07",
            "a no-fault reissue is free only if the old card is brought at receipt: say whether it was",
            hint="pass old_card_brought (--old-card-brought / --no-old-card-brought)",
        )
    if h.old_card_brought is None:
        return None
    return assess_handover_fee(
        application_fee=application_fee,
        old_card_brought=h.old_card_brought,
        with_certificates=with_certificates,
    )


def check_fee_settled(outstanding_yen: int, paid_yen: int) -> None:
    """R08 with D07: the fee is settled at the latest at handover, never overpaid."""
    if paid_yen < 0 or paid_yen > outstanding_yen:
        raise RuleViolation("R08", f"¥{outstanding_yen} is due; ¥{paid_yen} is not a settlement")
    if outstanding_yen - paid_yen > 0:
        raise RuleViolation(
            "R08",
            f"¥{outstanding_yen} is still due: the fee is settled at the latest at handover (D07)",
            hint="collect the fee and pass it as paid at handover",
        )
