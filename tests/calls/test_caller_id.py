"""Callers' numbers in E.164, read in the tenant's country."""

from __future__ import annotations

import pytest

from tongdai.calls.caller_id import e164


@pytest.mark.parametrize(("dialled", "region", "expected"), [
    ("0912345678", "VN", "+84912345678"),       # a Vietnamese mobile as dialled at home
    ("+84912345678", "VN", "+84912345678"),
    ("84912345678", "US", None),                # without + it is not a US number
    ("02838123456", "vn", "+842838123456"),     # a Ho Chi Minh City landline
    ("(415) 555-0100", "US", "+14155550100"),
    ("1001", "VN", None),                       # an extension
    ("anonymous", "VN", None),
    ("", "VN", None),
])
def test_given_dialled_number_then_e164_or_none(dialled, region, expected):
    assert e164(dialled, region) == expected
