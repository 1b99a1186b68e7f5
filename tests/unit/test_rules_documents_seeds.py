"""R15 with the identity documents the seed pages list (000, 002) besides the spec's examples:
マイナンバーカード, 一時庇護許可書 and 仮滞在許可書 in list A; 母子健康手帳, 生活保護受給者証 and
共済組合員証 in list B; a 運転経歴証明書 counts only if issued on or after 2012-04-01 (平成24年4月1日)."""

from __future__ import annotations

from datetime import date

import pytest

from commands import models as m
from commands import pickup_models as pm
from lifecycle.decisions import DEFAULT_POLICIES
from lifecycle.documents import CATALOGUE, IdentityDocument, check_identity_documents
from lifecycle.errors import RuleViolation
from tests.helpers.support import Story

ON = date(2025, 4, 1)


@pytest.mark.parametrize("kind", ["my_number_card", "temporary_refuge_permit", "provisional_stay_permit"])
def test_R15_seed_list_A_documents_count_alone(kind: str) -> None:
    assert CATALOGUE[kind].list == "A"
    check_identity_documents([IdentityDocument(kind)], ON)


@pytest.mark.parametrize(
    "kinds",
    [
        ("maternal_and_child_health_handbook", "public_assistance_certificate"),
        ("mutual_aid_association_card", "pension_book"),
    ],
)
def test_R15_seed_list_B_documents_count_two_together_never_one(kinds: tuple[str, str]) -> None:
    assert {CATALOGUE[k].list for k in kinds} == {"B"}
    check_identity_documents([IdentityDocument(k) for k in kinds], ON)
    with pytest.raises(RuleViolation) as info:
        check_identity_documents([IdentityDocument(kinds[0])], ON)
    assert info.value.rule == "R15"


@pytest.mark.parametrize(
    ("issued_on", "counts"),
    [(date(2012, 4, 1), True), (date(2019, 6, 3), True), (date(2012, 3, 31), False), (None, False)],
)
def test_R15_a_driving_history_certificate_counts_only_if_issued_from_2012_04_01(
    issued_on: date | None, counts: bool
) -> None:
    doc = IdentityDocument("driving_history_certificate", issued_on=issued_on)
    if counts:
        check_identity_documents([doc], ON)
        return
    with pytest.raises(RuleViolation) as info:
        check_identity_documents([doc], ON)
    assert info.value.rule == "R15"
    assert "2012-04-01" in info.value.message and "平成24年4月1日" in info.value.message


@pytest.mark.parametrize("issued", ["2015-06-01", "平成27年6月1日"])
def test_R15_the_issue_date_is_typed_as_offices_type_it(issued: str) -> None:
    handover = m.HandOverCard.model_validate(
        {
            "card": "12345678901234567890123",
            "actor": "clerk-1",
            "identity_documents": [f"driving_history_certificate:issued={issued}"],
            "notification_card": "collected",
        }
    )
    doc = handover.identity_documents[0].to_domain()
    assert doc.issued_on == date(2015, 6, 1)
    check_identity_documents([doc], ON)


# ----------------------------------------------------------------------------- 003 Q8


def test_R13_a_lost_pickup_notice_is_sent_again_without_moving_the_deadline(story: Story) -> None:
    """003 Q8: the holder lost the 交付通知書; it is sent again. R13 still counts from the first."""
    story.apply("2025-01-10T09:00", photo_taken_on="2025-01-01")
    story.run(m.AcceptApplication, "2025-01-20T09:00")
    story.run(m.ProduceCard, "2025-02-01T09:00")
    with pytest.raises(RuleViolation) as info:  # nothing to send again yet
        story.run(pm.ResendPickupNotice, "2025-02-02T09:00")
    assert info.value.rule == "R13"
    story.run(m.SendPickupNotice, "2025-02-03T09:00")
    last_day = story.card.uncollected_lapse_day(DEFAULT_POLICIES)

    result = story.run(pm.ResendPickupNotice, "2025-03-01T09:00")

    assert [e.type for e in result.events] == ["PickupNoticeResent"]
    assert story.card.uncollected_lapse_day(DEFAULT_POLICIES) == last_day
    assert story.card.pickup_notice_sent_on == date(2025, 2, 3)
