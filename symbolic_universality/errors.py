"""The one error a user's bad request raises: one sentence, what is wrong and how to fix it.

Every stage raises a ``ValueError`` subclass for bad input; the public API lets it
through unchanged and the CLI prints it as one line with exit code 2.
"""

from __future__ import annotations


class UsageError(ValueError):
    """A request that names something unknown or inconsistent (one sentence, with the fix)."""


class OutputError(UsageError):
    """A file the toolkit was asked to write cannot be written (path, reason, fix)."""
