"""Errors of the SIP stack."""

from __future__ import annotations

from typing import Any


class SipParseError(ValueError):
    """A message (or a part of one) does not follow the grammar.

    `status` is the response a request gets (400, or 505 for the version); `partial` is the message
    with its headers when they were readable, so that the error can still be answered.
    """

    def __init__(self, reason: str, *, status: int = 400, partial: Any = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.partial = partial
