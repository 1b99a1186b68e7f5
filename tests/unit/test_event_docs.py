"""docs/events.md documents every event's JSON shape; it must match the event classes."""

from pathlib import Path

from projections.event_docs import document


def test_event_docs_are_current() -> None:
    path = Path(__file__).parents[2] / "docs" / "events.md"
    assert path.read_text() == document(), "regenerate: python -m projections.event_docs > docs/events.md"
