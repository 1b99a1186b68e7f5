"""Deprecated name of ``lifecycle.decisions`` (the spec's D-decisions): a re-export shim, kept until every
import is rewritten; then deleted."""

from lifecycle.decisions import *  # noqa: F403
