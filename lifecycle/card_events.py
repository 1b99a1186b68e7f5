"""Deprecated name of ``lifecycle.card.events`` (the card's events): a re-export shim, kept until every
import is rewritten; then deleted."""

from lifecycle.card.events import *  # noqa: F403
