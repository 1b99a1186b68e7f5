"""Clerk papercuts (issue 10 §3), tried as a new clerk would: the 通知カード at a first card's
handover (R17), help texts that print no ``PydanticUndefined``, the legal representative of an
application (R18), what to do after a card ended (R07, R25), and JST shown as +09:00 for every
date (D13). Through the real command path on the unit tier's in-memory store, and the command
line in process."""

from __future__ import annotations

import argparse
import io
import json
from contextlib import redirect_stderr, redirect_stdout
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from commands import models as m
from commands.application import CardLifecycle, CommandResult
from commands.dates import parse_datetime
from commands.errors import InputError
from commands.idempotency import payload_digest
from lifecycle.calendar import JST, start_of_day, to_jst, validity_ends_at
from lifecycle.card.rules.status import how_it_ended, refuse_if_ended, what_next
from lifecycle.card.vocabulary import Ending
from lifecycle.errors import RuleViolation
from mynacard import output
from mynacard.arguments import add_model_options, collect
from mynacard.cli import build_parser, main
from projections.event_json import jsonable
from storage.serialization import log_transcoder
from tests.helpers.support import KEY, PIN_VALUES_BY_KIND, Clock, Story, at

PROPERTY = settings(deadline=None, max_examples=300)


def hand_over(story: Story, when: str, **fields: Any) -> CommandResult:
    """A handover with ID and the PINs it needs, and only the given notification-card fields."""
    needed = story.card.pins_needed_at_handover(at(when).date())
    pins = {f"{kind}_pin": v for kind, v in PIN_VALUES_BY_KIND.items() if kind in needed}
    return story.run(m.HandOverCard, when, identity_documents=["driving_licence"], **pins, **fields)


def produced(story: Story, day: str, **application: Any) -> None:
    story.apply(f"{day}T09:00", photo_taken_on=day, **application)
    story.run(m.AcceptApplication, f"{day}T09:30")
    story.run(m.ProduceCard, f"{day}T09:45")


def recorded(story: Story, event_type: str) -> Any:
    (event,) = [e for e in story.app.events.get(story.card.id) if type(e).__name__ == event_type]
    return event


# ============================================================================= R17 通知カード


def test_R17_first_card_handover_without_the_notification_card_is_bad_input_naming_it(
    story: Story,
) -> None:
    produced(story, "2020-05-01")
    head = story.app.recorder.max_notification_id()
    with pytest.raises(InputError) as info:
        hand_over(story, "2020-06-20T10:00")
    (issue,) = info.value.issues
    assert (issue.field, issue.rule) == ("notification_card", "R17")
    assert "--notification-card" in (info.value.hint or "")
    assert story.app.recorder.max_notification_id() == head
    assert story.card.status == "produced"
    # Said explicitly, the same handover goes through.
    assert hand_over(story, "2020-06-20T10:00", notification_card="collected").status == "active"
    assert recorded(story, "Issued").notification_card == "collected"


def test_R17_first_card_handover_saying_not_applicable_is_still_refused_by_the_rule(story: Story) -> None:
    produced(story, "2020-05-01")
    with pytest.raises(RuleViolation) as info:
        hand_over(story, "2020-06-20T10:00", notification_card="not_applicable")
    assert info.value.rule == "R17"


def test_R61_a_person_numbered_after_the_notification_card_shows_the_number_letter_and_keeps_it(
    story: Story,
) -> None:
    """R61: the 通知カード scheme has ended; a 個人番号通知書 is shown and handed back (R17), and it
    counts as the first card's notification document (nothing is collected)."""
    produced(story, "2020-05-01")
    assert hand_over(story, "2020-06-20T10:00", notification_card="number_letter_returned").status == "active"
    assert recorded(story, "Issued").notification_card == "number_letter_returned"


def test_R17_a_renewal_handover_leaves_out_the_notification_card(app: CardLifecycle, clock: Clock) -> None:
    old = Story(app, clock)
    old.to_active()  # DOB 1980-10-10, issued 2020-05-15: valid until 2029-10-10 (R19)
    old.run(m.RecordLapses, "2029-10-11T09:00")
    assert old.card.status == "expired"
    new = Story(app, clock, my_number_=old.my_number)
    produced(new, "2029-11-01", kind="renewal", previous_card=old.application_id)
    assert hand_over(new, "2029-12-01T10:00").status == "active"
    assert recorded(new, "Issued").notification_card == "not_applicable"


def test_R17_left_out_and_not_applicable_keep_one_idempotency_digest() -> None:
    """A handover recorded when the option defaulted to not_applicable answers a retry with the
    same command id as before (the digest is stored in the command log)."""
    common: dict[str, Any] = {
        "card": "0" * 23,
        "actor": "clerk-1",
        "command_id": "6d2f0a4e-0000-4000-8000-000000000004",
    }
    left_out = m.HandOverCard.model_validate(common)
    said = m.HandOverCard.model_validate({**common, "notification_card": "not_applicable"})
    collected = m.HandOverCard.model_validate({**common, "notification_card": "collected"})
    assert left_out.notification_card is None
    assert payload_digest(KEY, left_out) == payload_digest(KEY, said)
    assert payload_digest(KEY, left_out) != payload_digest(KEY, collected)


# ============================================================================= help texts


def subcommands() -> list[str]:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sorted(sub.choices)


def help_of(subcommand: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err), pytest.raises(SystemExit) as done:
        main([subcommand, "--help"])
    assert done.value.code == 0, err.getvalue()
    return out.getvalue()


def test_the_help_of_every_subcommand_never_shows_PydanticUndefined() -> None:
    names = subcommands()
    assert {"apply", "hand-over", "return", "status", "issue-certificates"} <= set(names)
    for name in names:
        text = help_of(name)
        assert "PydanticUndefined" not in text, name
        assert "Undefined" not in text, name
    hand_over_help = " ".join(help_of("hand-over").split())
    assert "--identity-document VALUE holder's documents (R15/R16) (repeat)" in hand_over_help
    assert "required at a first card's handover" in hand_over_help


# ============================================================================= R18 legal representative


def test_R18_apply_offers_the_legal_representatives_papers_and_no_role() -> None:
    text = " ".join(help_of("apply").split())
    assert "--legal-representative ROLE" not in text
    assert "--legal-representative-letter-of-delegation" not in text  # an agent's paper
    assert "--legal-representative-family-register-copy" in text
    assert "household_member" not in text
    assert "(default: holder)" not in text
    # The flags alone make the legal representative, whose role is fixed.
    parser = build_parser()
    ns = parser.parse_args(
        [
            "apply",
            "--legal-representative-same-household",
            "--legal-representative-parent-child-on-resident-record",
        ]
    )
    assert {k: v for k, v in vars(ns).items() if k.startswith("f_legal_representative__")} == {
        "f_legal_representative__same_household": True,
        "f_legal_representative__family_register_copy": None,
        "f_legal_representative__registry_certificate": None,
        "f_legal_representative__parent_child_on_resident_record": True,
        "f_legal_representative__domicile_in_municipality": None,
    }
    # A role cannot be chosen: over JSON only legal_representative is accepted.
    with pytest.raises(ValidationError):
        m.SubmitApplication.model_validate(
            {
                "actor": "clerk-1",
                "application_id": "0" * 23,
                "my_number": "123456789018",
                "date_of_birth": "2012-03-01",
                "photo_taken_on": "2026-02-01",
                "legal_representative": {"role": "holder"},
            }
        )


def test_R03_R18_child_applies_at_the_counter_with_a_parent_given_by_papers_only(story: Story) -> None:
    child: dict[str, Any] = {
        "channel": "counter",
        "date_of_birth": "2012-03-01",
        "photo_taken_on": "2026-02-01",
        "applicant_present": True,
        "legal_representative_present": True,
        "identity_documents": ["health_insurance_card", "student_id"],
    }
    with pytest.raises(RuleViolation) as info:
        story.apply("2026-02-27T10:00", **child)
    assert info.value.rule == "R18"
    papers = {"same_household": True, "parent_child_on_resident_record": True}
    result = story.apply("2026-02-27T10:00", **child, legal_representative=papers)
    assert result.status == "applied"


def test_R18_the_legal_representative_model_names_its_role() -> None:
    papers = m.SubmitApplication.model_fields["legal_representative"]
    assert papers.description and "法定代理人" in papers.description
    filer = m.LegalRepresentativeModel(family_register_copy=True).to_domain()
    assert (filer.role, filer.family_register_copy, filer.letter_of_delegation) == (
        "legal_representative",
        True,
        False,
    )


# ============================================================================= R07/R25 after the end


def test_R07_R25_return_of_an_expired_card_hints_the_free_renewal_and_the_hand_in(story: Story) -> None:
    story.to_active()  # valid until 2029-10-10 (R19)
    story.run(m.RecordLapses, "2029-10-11T09:00")
    with pytest.raises(RuleViolation) as info:
        story.run(m.ReturnCard, "2029-10-12T10:00")
    error = info.value
    assert error.rule == "R19"
    assert "was expired" not in error.message
    assert "expired on 2029-10-11 (valid until 2029-10-10)" in error.message
    hint = error.hint or ""
    assert "renew" in hint and "free" in hint and "--kind renewal" in hint
    assert "reissue" not in hint
    assert "mynacard hand-in CARD --reason expired" in hint


def test_R07_R25_return_of_a_card_whose_expiry_is_not_recorded_yet_hints_the_renewal(story: Story) -> None:
    story.to_active()
    with pytest.raises(RuleViolation) as info:
        story.run(m.ReturnCard, "2029-10-12T10:00")
    assert info.value.rule == "R19"
    hint = info.value.hint or ""
    assert "mynacard lapse CARD" in hint and "renews" in hint and "reissue" not in hint


def test_R09_R22_R51_R62_what_to_do_after_each_end_is_said_truthfully() -> None:
    ended_at = validity_ends_at(date(2026, 8, 31))
    by_stay = Ending("expired", "R22", ended_at, "stay")
    assert how_it_ended(by_stay) == "expired on 2026-09-01 (valid until 2026-08-31)"
    assert "charged, R09" in what_next(by_stay)
    lost = Ending("abolished", "R51", at("2025-02-12T10:00"), "lost")
    assert how_it_ended(lost) == "was abolished on 2025-02-12 (lost)"
    assert "--kind reissue" in what_next(lost)
    for replaced in (
        Ending("returned", "R62", at("2030-02-01T10:00"), "replaced"),
        Ending("abolished", "R62", at("2030-02-01T10:00"), "not_brought"),  # handled as lost
    ):
        assert "reissue" not in what_next(replaced) and "card in use" in what_next(replaced)
    assert "reissue" not in what_next(Ending("invalidated", "R32", at("2025-07-03"), "death"))
    # A return takes the plastic card: after a return nothing is left to hand in; after a loss
    # the card found later is (hand-in's default reason: found_after_loss).
    returned = Ending("returned", "R52", at("2025-04-01T10:00"), "voluntary")
    with pytest.raises(RuleViolation) as info:
        refuse_if_ended(returned, "a return", hand_in=True)
    assert "hand-in" not in (info.value.hint or "")
    with pytest.raises(RuleViolation) as info:
        refuse_if_ended(lost, "a return", hand_in=True)
    assert (info.value.hint or "").endswith("mynacard hand-in CARD")


def test_R50_lifting_a_suspension_of_an_expired_card_says_expired_on(story: Story) -> None:
    story.to_active()
    story.run(m.RecordLapses, "2029-10-11T09:00")
    with pytest.raises(RuleViolation) as info:
        story.run(m.LiftSuspension, "2029-10-12T10:00")
    assert "was expired" not in info.value.message
    assert "expired on 2029-10-11" in info.value.message


# ============================================================================= D13 JST is +09:00

DAYS = st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31))


def in_utc(moment: datetime) -> datetime | None:
    """The instant in UTC, where it is a datetime at all (not before 0001-01-01 00:00 UTC)."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return None


@PROPERTY
@given(day=DAYS, moment=st.times())
@example(day=date(1887, 12, 31), moment=time(23, 59, 59))  # Asia/Tokyo's LMT: +09:18:59
@example(day=date(1949, 6, 1), moment=time(0, 0))  # Asia/Tokyo's summer time: +10:00
@example(day=date(1, 1, 1), moment=time(0, 0))
@example(day=date(9999, 12, 31), moment=time(23, 59, 59, 999999))
def test_D13_every_moment_from_year_1_to_9999_is_shown_and_stored_at_plus_09_00(
    day: date, moment: time
) -> None:
    jst = datetime.combine(day, moment, tzinfo=JST)
    values = [
        jst,
        start_of_day(day),
        to_jst(datetime.combine(day, moment)),  # naive: read as JST
        parse_datetime(f"{day.isoformat()}T{moment.strftime('%H:%M:%S')}"),  # as typed at --at
    ]
    utc = in_utc(jst)
    if utc is not None:
        values.append(to_jst(utc))  # the same instant given in UTC
    for value in values:
        assert value.utcoffset() == timedelta(hours=9)
        assert jsonable(value).endswith("+09:00")  # --json, the event stream
        assert output.show(value).endswith("+09:00")  # tables
        assert json.loads(json.dumps(jsonable({"at": value})))["at"][-6:] == "+09:00"
    # Stored as ISO text with its offset, read back as the same instant (and equal to it).
    transcoder = log_transcoder()
    stored = transcoder.encode({"effective_at": jst})
    assert b"+09:00" in stored
    back = transcoder.decode(stored)["effective_at"]
    assert back.isoformat() == jst.isoformat()
    assert jsonable(back).endswith("+09:00") and output.show(back).endswith("+09:00")
    if utc is not None:
        assert back == jst and hash(back) == hash(jst)


def test_D13_an_application_dated_before_1888_shows_plus_09_00(story: Story) -> None:
    result = story.apply("1887-06-01T10:00", date_of_birth="1870-01-01", photo_taken_on="1887-05-01")
    assert [jsonable(e.effective_at) for e in result.events] == ["1887-06-01T10:00:00+09:00"] * 4
    dumped = result.model_dump(mode="json")  # the stored and printed command result
    assert {e["effective_at"] for e in dumped["events"]} == {"1887-06-01T10:00:00+09:00"}


def test_the_collected_options_give_the_legal_representative_without_a_role() -> None:
    """``collect`` nests the flags under the field; the model fills in the fixed role."""
    parser = build_parser()
    ns = parser.parse_args(["apply", "--legal-representative-family-register-copy"])
    options = add_model_options(argparse.ArgumentParser(), m.SubmitApplication)
    payload = {k: v for k, v in collect(ns, options).items() if k == "legal_representative"}
    assert payload == {"legal_representative": {"family_register_copy": True}}
    assert m.LegalRepresentativeModel.model_validate(payload["legal_representative"]).role == (
        "legal_representative"
    )
