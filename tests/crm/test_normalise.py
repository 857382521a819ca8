"""Contact points in one form: phones in E.164 read in the tenant's country (as the call path reads the
caller), e-mails in lower case."""

from __future__ import annotations

from tongdai.calls.caller_id import e164
from tongdai.crm import normalise


def test_given_vietnamese_local_numbers_then_e164_with_84():
    assert normalise.phone("0918000888", "VN") == "+84918000888"
    assert normalise.phone(" 0918 000 888 ", "VN") == "+84918000888"
    assert normalise.phone("028 3822 1234", "VN") == "+842838221234"
    assert normalise.phone("+84 918 000 888", "US") == "+84918000888"


def test_given_other_region_then_the_same_digits_are_another_number():
    assert normalise.phone("4155550100", "US") == "+14155550100"
    assert normalise.phone("0918000888", "VN") != normalise.phone("0918000888", "GB")


def test_given_not_a_number_then_none():
    for value in ("", "12", "anonymous", "abc", "1001x"):
        assert normalise.phone(value, "VN") is None, value


def test_crm_reads_numbers_exactly_as_the_call_path_does():
    for raw in ("0918000888", "+14155550100", "0283822 1234", "84918000888"):
        assert normalise.phone(raw, "VN") == e164(raw, "VN")


def test_emails_are_lower_case_and_checked():
    assert normalise.email(" Ha.Do@Example.VN ") == "ha.do@example.vn"
    assert normalise.email("no-at-sign") is None
    assert normalise.email("a@b") is None
    assert normalise.contact("email", "X@Y.COM", "VN") == "x@y.com"
    assert normalise.contact("phone", "0918000888", "VN") == "+84918000888"
