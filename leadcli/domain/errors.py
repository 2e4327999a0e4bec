"""Errors that carry the contract's exit codes; the CLI's one error boundary turns them into
`error: …` lines on stderr."""

from __future__ import annotations


class LeadError(Exception):
    """Base of every error a user may see; `exit_code` follows the contract."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(LeadError):
    """Bad usage or invalid input (exit 2)."""

    exit_code = 2


class NotFound(LeadError):
    """The lead (or other thing) asked for does not exist (exit 3)."""

    exit_code = 3


class Conflict(LeadError):
    """Duplicate email, or the lead changed under a concurrent write (exit 4)."""

    exit_code = 4


class StoreUnavailable(LeadError):
    """The store is unreachable or timed out (exit 5)."""

    exit_code = 5


class VersionConflict(Conflict):
    """A compare-and-set write lost its race; services retry these before giving up."""


class Failed(LeadError):
    """The command ran but did not fully succeed (exit 1), e.g. an import rejected rows."""

    exit_code = 1
