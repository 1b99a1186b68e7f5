"""Rules of the application (交付申請) until the card is produced, and of its fee and
cancellation (spec §2.1: R02–R05, R07–R10, R12; R22 and R25 on an application; R58).

May import: the standard library, ``lifecycle`` leaf modules (calendar, documents, errors,
fees, filers, validity, decisions) and ``lifecycle.card.vocabulary``.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from lifecycle.calendar import add_months, age_on, renewal_window_opens
from lifecycle.card.vocabulary import (
    APPLICATION_CHANNELS,
    APPLICATION_KINDS,
    IN_PERSON_CHANNELS,
    LIVE,
    PHOTO_MAX_AGE_MONTHS,
    PRE_HANDOVER,
    Application,
    PreviousCard,
)
from lifecycle.decisions import FeeDueBy
from lifecycle.documents import check_identity_documents
from lifecycle.errors import RuleViolation, UncoveredCase
from lifecycle.fees import Fee, assess_application_fee
from lifecycle.filers import Filer, check_filer, check_legal_representative_authority
from lifecycle.validity import STAY_CAP_EXEMPT_STATUSES


def check_application(a: Application, on: date, previous: PreviousCard | None) -> date | None:
    """交付申請 (R02–R05, R07, R15, R18, R22, R25, R58). Answers the expiry of the card a
    renewal renews (R26), or None."""
    if a.kind not in APPLICATION_KINDS:
        raise UncoveredCase("R07", f"unknown application kind {a.kind!r}")
    if a.channel not in APPLICATION_CHANNELS:
        raise UncoveredCase("R02", f"unknown application channel {a.channel!r}")
    if a.form_printed_on and a.facts_changed_on and a.facts_changed_on > a.form_printed_on:
        raise RuleViolation(
            "R02",
            "the application form predates a change of name, address, sex, date of birth or "
            "stay limit: its application id cannot be used",
            hint="issue a new application form (new 申請書ID) and apply with it",
        )
    if a.date_of_birth > on:
        raise RuleViolation("R05", "the date of birth lies after the application date")
    if a.photo_taken_on > on or a.photo_taken_on < add_months(on, -PHOTO_MAX_AGE_MONTHS):
        raise RuleViolation(
            "R04",
            f"the photo must be taken within {PHOTO_MAX_AGE_MONTHS} months before the "
            f"application (on or after {add_months(on, -PHOTO_MAX_AGE_MONTHS).isoformat()})",
            hint="take a new photo (4.5×3.5 cm, front-facing, no hat, plain background)",
        )
    if a.channel in IN_PERSON_CHANNELS:
        _check_counter_attendance(a, on)
    if a.face_recognition_card and a.wants_signature_certificate:
        raise RuleViolation(
            "R58",
            "a face-recognition card carries no signature certificate",
            hint="decline the signature certificate, or apply for a card with PINs",
        )
    if (
        a.residence_status is not None
        and a.residence_status not in STAY_CAP_EXEMPT_STATUSES
        and a.stay_until is None
    ):
        raise RuleViolation(
            "R22", "a foreign resident with a period of stay states when it ends (stay_until)"
        )
    if a.kind == "new" and previous is not None:
        raise UncoveredCase("R07", "a first card (kind new) does not replace another card")
    if a.kind != "new" and previous is None:
        raise RuleViolation("R07", f"a {a.kind} names the card it replaces", hint="give --previous-card")
    renews_expiring_on: date | None = None
    if a.kind == "renewal" and previous is not None:
        renews_expiring_on = check_renewal(previous, on)
    if a.kind == "reissue" and a.reissue_reason is None:
        raise UncoveredCase("R07", "a reissue states its reason (loss, damage, …)")
    if (
        a.kind == "reissue"
        and a.reissue_reason == "loss"
        and previous is not None
        and previous.status != "abolished"
    ):
        raise RuleViolation(
            "R63",
            "a reissue for loss needs the loss of the previous card reported first "
            f"(it is {previous.status})",
            hint="record the loss (mynacard report-loss, 紛失・廃止届, R51), then apply for the reissue",
        )
    return renews_expiring_on


def _check_counter_attendance(a: Application, on: date) -> None:
    """R03: at a counter application the applicant attends, with the legal representative for
    an under-15 or an adult ward (R18); R15: identity documents."""
    if not a.applicant_present:
        raise RuleViolation(
            "R03", "at an in-person application (counter, assisted, outreach) the applicant must attend"
        )
    under_15 = age_on(a.date_of_birth, on) < 15
    if (under_15 or a.adult_ward) and not a.legal_representative_present:
        raise RuleViolation(
            "R03",
            "an applicant under 15 or an adult ward attends together with the legal representative",
        )
    if a.legal_representative_present:
        check_legal_representative_authority(
            a.legal_representative or Filer(role="legal_representative"),
            holder_under_15=under_15,
            holder_adult_ward=a.adult_ward,
        )
    check_identity_documents(a.identity_documents, on)


def check_renewal(previous: PreviousCard, on: date) -> date:
    """R25: a renewal is possible from the day the remaining validity falls below 3 months,
    and after expiry (R07); a card that ended otherwise is replaced by a reissue. Answers the
    renewed card's expiry."""
    if previous.expires_on is None:
        raise RuleViolation("R25", "the previous card was never produced: nothing to renew")
    if previous.status not in LIVE | {"expired"}:
        raise RuleViolation(
            "R25",
            f"the previous card is {previous.status}: it is replaced by a reissue, not renewed",
            hint="apply with kind reissue",
        )
    opens = renewal_window_opens(previous.expires_on)
    if on < opens:
        raise RuleViolation(
            "R25",
            f"the renewal window opens on {opens.isoformat()} (expiry "
            f"{previous.expires_on.isoformat()} less 3 months, plus a day)",
            hint="apply on or after that day, or apply as a reissue",
        )
    return previous.expires_on


def application_fee(a: Application, on: date, previous: PreviousCard | None, fee_due_by: FeeDueBy) -> Fee:
    """手数料 (R07–R10): the fee of the application; R08 with D07: collected with the
    application when the policy says so."""
    fee = assess_application_fee(
        a.kind,  # type: ignore[arg-type]
        reissue_reason=a.reissue_reason,
        with_certificates=a.wants_signature_certificate or a.wants_user_certificate,
        previous_card_expired_by_stay=previous.lapsed_by_stay(on) if previous else False,
        disaster_certificate=a.disaster_certificate,
    )
    if fee.amount_yen and fee_due_by == "application" and not a.fee_paid:
        raise RuleViolation(
            "R08",
            f"the fee of ¥{fee.amount_yen} is collected at application (policy D07)",
            hint="collect the fee and record it as paid with the application",
        )
    return fee


def check_fee_payment(outstanding_yen: int, amount_yen: int) -> None:
    """手数料納付 (R08): settle what was assessed; never more."""
    if outstanding_yen <= 0:
        raise RuleViolation("R08", "no fee is outstanding on this card")
    if amount_yen <= 0 or amount_yen > outstanding_yen:
        raise RuleViolation(
            "R08", f"¥{outstanding_yen} is outstanding; a payment of ¥{amount_yen} does not settle it"
        )


def check_acceptance(status: str, applied_on: date, on: date) -> None:
    """J-LIS 受理 (R05): a submitted application, not before it was submitted."""
    if status != "applied":
        raise RuleViolation("R05", f"only a submitted application is accepted (status {status})")
    if on < applied_on:
        raise RuleViolation("R05", "J-LIS cannot accept an application before it was submitted")


def check_production(status: str, accepted_on: date | None, on: date) -> date:
    """J-LIS 作成 (R20): after acceptance, not before it. Answers the acceptance date."""
    if status != "accepted" or accepted_on is None:
        raise RuleViolation("R20", f"J-LIS produces a card after accepting it (status {status})")
    if on < accepted_on:
        raise RuleViolation("R20", "the issue date cannot precede the acceptance date")
    return accepted_on


def check_expiry_after_issue(expires_on: date, on: date) -> None:
    """R22: a card whose period of stay ends by the issue date cannot be produced."""
    if expires_on <= on:
        raise RuleViolation(
            "R22",
            f"the period of stay ends on {expires_on.isoformat()}, on or before the issue date",
            hint="extend the period of stay before producing the card",
        )


def check_cancellation(
    status: str,
    filer: Filer,
    channel: Literal["counter", "phone"],
    *,
    holder_under_15: bool,
    holder_adult_ward: bool,
) -> None:
    """交付申請取消 (R12): only before receipt; by phone only the applicant, or a same-household
    legal representative of an under-15; at the counter an agent with a 委任状 too (R18)."""
    if status not in PRE_HANDOVER:
        raise RuleViolation(
            "R12",
            "an application can be cancelled only before the card is received",
            hint="the holder returns the card instead (返納, R52)",
        )
    if channel == "phone":
        allowed = filer.role == "holder" or (
            filer.role == "legal_representative" and filer.same_household and holder_under_15
        )
        if not allowed:
            raise RuleViolation(
                "R12",
                "by phone only the applicant, or a same-household legal representative of an "
                "applicant under 15, can cancel",
                hint="the agent comes to the counter with a letter of delegation (委任状)",
            )
        return
    check_filer(
        filer,
        allowed=("holder", "legal_representative", "agent"),
        rule="R12",
        procedure="a cancellation",
        holder_under_15=holder_under_15,
        holder_adult_ward=holder_adult_ward,
    )
