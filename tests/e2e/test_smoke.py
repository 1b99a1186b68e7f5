from commands import models as m
from tests.helpers.support import Story, active_card


def test_domain_builder_reaches_active() -> None:
    card = active_card()
    assert card.status == "active"


def test_story_reaches_active(story: Story) -> None:
    story.to_active()
    assert story.card.status == "active"
    story.run(m.SuspendCard, "2020-07-01T03:15")
    assert story.card.status == "suspended"
