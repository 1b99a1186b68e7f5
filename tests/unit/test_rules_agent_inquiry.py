"""An agent's certificate request (R34) and PIN reset (R56) go through an inquiry letter (照会書)
and a second visit (seeds 001, 002: 代理人手続等の場合は後日再来庁), instead of being refused."""

from __future__ import annotations

import pytest

from commands import certificate_models as cm
from tests.helpers.support import Story, refused_by_the_service

AGENT = {"role": "agent", "letter_of_delegation": True}


@pytest.fixture
def active(story: Story) -> Story:
    story.to_active(wants_user_certificate=False, wants_signature_certificate=False)
    return story


def test_R34_an_agents_AUTH_request_goes_through_an_inquiry_letter_and_a_later_visit(active: Story) -> None:
    error = refused_by_the_service(
        active, "R34", cm.IssueCertificates, "2021-01-10T10:00", kinds=["AUTH"], filed_by=AGENT
    )
    assert "send-inquiry" in (error.hint or "")
    sent = active.run(
        cm.SendAgentInquiry, "2021-01-10T10:05", procedure="certificates", subject="AUTH", filed_by=AGENT
    )
    assert [e.type for e in sent.events] == ["AgentInquiryLetterSent"]
    # Not the same day.
    refused_by_the_service(
        active,
        "R34",
        cm.IssueCertificates,
        "2021-01-10T15:00",
        kinds=["AUTH"],
        filed_by=AGENT,
        inquiry_answered=True,
        juki_pin_confirmed=True,
        auth_pin="1234",
    )
    done = active.run(
        cm.IssueCertificates,
        "2021-01-20T10:00",
        kinds=["AUTH"],
        filed_by=AGENT,
        inquiry_answered=True,
        juki_pin_confirmed=True,
        auth_pin="1234",
    )
    types = [e.type for e in done.events]
    assert {"CertificateIssued", "AgentInquiryAnswered"} <= set(types)
    assert active.card.agent_inquiries == ()


def test_R41_no_inquiry_letter_makes_an_agents_SIG_request_possible(active: Story) -> None:
    refused_by_the_service(
        active,
        "R41",
        cm.SendAgentInquiry,
        "2021-01-10T10:05",
        procedure="certificates",
        subject="SIG",
        filed_by=AGENT,
    )


def test_R56_an_agents_PIN_reset_goes_through_an_inquiry_letter(story: Story) -> None:
    story.to_active()
    refused_by_the_service(
        story, "R56", cm.ResetPin, "2021-01-10T10:00", pin="auth", new_pin="5678", filed_by=AGENT
    )
    refused_by_the_service(  # the answer without a letter sent
        story,
        "R56",
        cm.ResetPin,
        "2021-01-10T10:00",
        pin="auth",
        new_pin="5678",
        filed_by=AGENT,
        inquiry_answered=True,
    )
    story.run(cm.SendAgentInquiry, "2021-01-10T10:05", procedure="pin_reset", subject="auth", filed_by=AGENT)
    done = story.run(
        cm.ResetPin, "2021-01-18T10:00", pin="auth", new_pin="5678", filed_by=AGENT, inquiry_answered=True
    )
    assert [e.type for e in done.events] == ["PinReset", "AgentInquiryAnswered"]
    assert story.card.agent_inquiries == ()


def test_R34_the_holder_needs_no_inquiry_letter(active: Story) -> None:
    refused_by_the_service(
        active,
        "R34",
        cm.SendAgentInquiry,
        "2021-01-10T10:05",
        procedure="certificates",
        subject="AUTH",
        filed_by={},
    )
