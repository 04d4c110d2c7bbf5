"""Domain errors: raised by pure code, mapped to HTTP statuses at the edge."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""


class InvalidTransition(DomainError):
    """A command that makes no sense in the current state (e.g. cancelling a finished job)."""


class NotFound(DomainError):
    """The entity a command names does not exist."""
