"""Contact points in one form, so that a look-up is one equality on an index: phones in E.164 read in the
tenant's country (the same reading as the call path's caller identification), e-mails in lower case."""

from __future__ import annotations

import re

from tongdai.calls.caller_id import e164

_EMAIL = re.compile(r"^[^@\s\x00-\x1f]{1,64}@[^@\s\x00-\x1f]+\.[^@\s\x00-\x1f]{2,}$")


def phone(value: str, region: str) -> str | None:
    """`value` in E.164, read as dialled in `region`; None when it is not a phone number."""
    return e164(value.strip(), region)


def email(value: str) -> str | None:
    """`value` trimmed and in lower case; None when it is not an e-mail address."""
    v = value.strip().lower()
    return v if len(v) <= 254 and _EMAIL.match(v) else None


def contact(kind: str, value: str, region: str) -> str | None:
    """The stored form of a contact point of this kind, or None when the value is not one."""
    return phone(value, region) if kind == "phone" else email(value)
