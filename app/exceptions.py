"""The one base class of errors whose message is meant for the user (Chinese, through gettext)."""

from __future__ import annotations


class UserError(ValueError):
    """A refusal the user can act on: `message` is shown as it is, `status` is the HTTP answer.

    A ValueError, so that code (and FAB's forms) catching ValueError keep working.
    """

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
