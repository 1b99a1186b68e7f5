"""R44 expiry notices as sent and as returned undelivered (seed 003 Q10), besides "due"."""

from __future__ import annotations

import pytest

from commands import pickup_models as pm
from commands.errors import InputError
from lifecycle.errors import RuleViolation
from tests.helpers.support import Story


@pytest.fixture
def active(story: Story) -> Story:
    story.to_active()  # DOB 1980-10-10, issued 2020-05-15: the card expires on 2029-10-10 (R19)
    return story


def test_R44_the_notice_mailed_about_three_months_before_and_once(active: Story) -> None:
    with pytest.raises(RuleViolation) as info:
        active.run(pm.RecordExpiryNoticeSent, "2029-04-01T09:00")  # 6 months early
    assert info.value.rule == "R44"
    result = active.run(pm.RecordExpiryNoticeSent, "2029-07-05T09:00")
    assert [e.type for e in result.events] == ["ExpiryNoticeSent"]
    assert active.card.expiry_notices_sent == ("card:2029-10-10",)
    with pytest.raises(RuleViolation) as info:
        active.run(pm.RecordExpiryNoticeSent, "2029-07-06T09:00")
    assert info.value.rule == "R44"


def test_R44_a_notice_comes_back_undelivered_only_after_it_was_mailed(active: Story) -> None:
    with pytest.raises(InputError):
        active.run(pm.RecordExpiryNoticeUndelivered, "2029-07-05T09:00")
    active.run(pm.RecordExpiryNoticeSent, "2029-07-05T09:00")
    active.run(pm.RecordExpiryNoticeUndelivered, "2029-07-20T09:00")
    assert active.card.expiry_notices_undelivered == ("card:2029-10-10",)
    with pytest.raises(RuleViolation):
        active.run(pm.RecordExpiryNoticeUndelivered, "2029-07-21T09:00")


def test_R44_a_certificate_notice_names_the_certificates_expiry(active: Story) -> None:
    """The AUTH of 2020 ends on the 5th birthday after issue, 2024-10-10 (R35)."""
    active.run(pm.RecordExpiryNoticeSent, "2024-07-10T09:00", subject="AUTH")
    assert active.card.expiry_notices_sent == ("AUTH:2024-10-10",)
