"""Caller identification: the calling number in E.164, read in the tenant's country."""

from __future__ import annotations

import phonenumbers


def e164(number: str, region: str) -> str | None:
    """`number` as dialled in `region` (e.g. "0912345678" in VN -> "+84912345678"); None when it is not
    a possible phone number (an extension, "anonymous")."""
    if not number or not any(c.isdigit() for c in number):
        return None
    try:
        parsed = phonenumbers.parse(number, region.upper() or None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
