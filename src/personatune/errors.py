"""Errors a user can fix. The CLI prints them as one line and exits non-zero; bugs still raise."""


class UserError(Exception):
    """A mistake in input or configuration: what went wrong, where, and how to fix it."""

    exit_code = 2


class SkippedInput(Exception):
    """One input file cannot be used; the stage skips it, names it and counts it."""
