"""Dialogs and the 100rel / session-timer extensions, pure, with a hand-advanced clock."""

from __future__ import annotations

import pytest

from tongdai.calls.b2bua import _replaces
from tongdai.sip.dialog import Dialog
from tongdai.sip.errors import SipParseError
from tongdai.sip.extensions import MIN_SE, ReliableProvisional, session_timer, wants_reliable_provisionals
from tongdai.sip.message import Request, Response, parse
from tongdai.sip.transaction import T1


def invite(*extra: str) -> Request:
    text = ("INVITE sip:1002@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKa1\r\n"
            "From: \"Lan\" <sip:1001@127.0.0.1>;tag=caller\r\nTo: <sip:1002@127.0.0.1>\r\nCall-ID: call-1\r\n"
            "CSeq: 7 INVITE\r\nContact: <sip:1001@127.0.0.1:5070>\r\nRecord-Route: <sip:p1;lr>, <sip:p2;lr>\r\n"
            "Max-Forwards: 70\r\n" + "".join(f"{h}\r\n" for h in extra) + "Content-Length: 0\r\n\r\n")
    msg = parse(text.encode())
    assert isinstance(msg, Request)
    return msg


def test_given_uas_dialog_then_requests_go_to_contact_with_route_set_and_rising_cseq():
    d = Dialog.as_uas(invite(), "ours", "<sip:tongdai@127.0.0.1>")
    bye = d.request("BYE")
    assert bye.uri == "sip:1001@127.0.0.1:5070"
    assert bye.get_all("route") == ["<sip:p1;lr>", "<sip:p2;lr>"]
    assert bye.to().tag == "caller" and bye.from_().tag == "ours" and bye.cseq().number == 1
    assert d.request("INFO").cseq().number == 2


def test_given_uac_dialog_then_route_set_is_reversed_and_cseq_continues():
    req = invite()
    ok = req.response(200, to_tag="callee")
    ok.add("contact", "<sip:phone@127.0.0.1:5090>")
    ok.add("record-route", "<sip:p1;lr>")
    ok.add("record-route", "<sip:p2;lr>")
    d = Dialog.as_uac(req, ok, "<sip:tongdai@127.0.0.1>")
    bye = d.request("BYE")
    assert bye.get_all("route") == ["<sip:p2;lr>", "<sip:p1;lr>"] and bye.uri == "sip:phone@127.0.0.1:5090"
    assert bye.cseq().number == 8


def test_given_request_with_old_cseq_then_500_and_target_refreshed_by_reinvite():
    d = Dialog.as_uas(invite(), "ours", "<sip:t@h>")
    old = invite()
    assert d.accept_request(old) == 500
    newer = invite()
    newer.set("cseq", "8 INVITE")
    newer.set("contact", "<sip:moved@127.0.0.1:6000>")
    assert d.accept_request(newer) is None and d.remote_target == "sip:moved@127.0.0.1:6000"


def test_given_reliable_ringing_then_retransmitted_doubling_until_prack():
    ring = invite().response(180, to_tag="ours")
    rel = ReliableProvisional(ring, rseq=1, now=0.0)
    assert ring.get("rseq") == "1" and "100rel" in (ring.get("require") or "")
    sent = []
    now = 0.0
    while now < 3.5:
        now += 0.25
        if rel.expire(now) is not None:
            sent.append(now)
    assert sent == [T1, 3 * T1, 7 * T1]  # every T1, doubling
    assert rel.prack("2 7 INVITE") is False  # not ours
    assert rel.prack("1 7 INVITE") is True and rel.expire(100.0) is None
    with pytest.raises(SipParseError):
        rel.prack("x 7 INVITE")


def test_given_reliable_ringing_never_pracked_then_given_up_after_64_t1():
    rel = ReliableProvisional(invite().response(180, to_tag="o"), 1, 0.0)
    now, sends = 0.0, 0
    while rel.deadline is not None and now < 100:
        now = rel.deadline
        sends += rel.expire(now) is not None
    assert now == pytest.approx(64 * T1) and sends == 6


def test_given_session_expires_then_timer_confirmed_refused_below_min_se_or_ignored_without_support():
    timer, refused = session_timer(invite("Session-Expires: 1800;refresher=uas", "Supported: timer"))
    assert refused is None and timer is not None and timer.header == "1800;refresher=uac"
    assert timer.expiry(0.0) == 1800 - 32
    _, refused = session_timer(invite(f"Session-Expires: {MIN_SE - 1}", "Supported: timer"))
    assert isinstance(refused, Response) and refused.status == 422 and refused.get("min-se") == str(MIN_SE)
    assert session_timer(invite("Session-Expires: 1800")) == (None, None)  # the caller cannot refresh
    assert session_timer(invite()) == (None, None)
    assert wants_reliable_provisionals(invite("Require: 100rel")) and not wants_reliable_provisionals(invite())


def test_given_refer_to_with_replaces_then_dialog_named():
    uri = "sip:1003@127.0.0.1?Replaces=abc%40host%3Bto-tag%3Dt1%3Bfrom-tag%3Df1"
    assert _replaces(uri) == ("abc@host", "t1", "f1")
    assert _replaces("sip:1003@127.0.0.1") is None
