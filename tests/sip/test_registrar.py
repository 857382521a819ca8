"""Digest authentication (MD5, SHA-256, stale nonces) and the location service, with `now` by hand."""

from __future__ import annotations

import pytest

from tongdai.sip.digest import DigestAuthority, answer
from tongdai.sip.message import Request, parse
from tongdai.sip.registrar import LocationService

PASSWORDS = {"1001": "secret-1001"}


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_given_right_password_then_digest_accepted(algorithm):
    auth = DigestAuthority("tongdai")
    challenge = auth.challenge(100.0, algorithm=algorithm)
    creds = answer(challenge, method="REGISTER", uri="sip:tongdai", username="1001", password="secret-1001")
    v = auth.check(creds, method="REGISTER", password_of=PASSWORDS.get, now=101.0)
    assert v.ok and v.username == "1001"


def test_given_wrong_password_or_other_method_then_refused():
    auth = DigestAuthority("tongdai")
    challenge = auth.challenge(100.0)
    bad = answer(challenge, method="REGISTER", uri="sip:tongdai", username="1001", password="guess")
    assert not auth.check(bad, method="REGISTER", password_of=PASSWORDS.get, now=101.0).ok
    good = answer(challenge, method="REGISTER", uri="sip:tongdai", username="1001", password="secret-1001")
    assert not auth.check(good, method="INVITE", password_of=PASSWORDS.get, now=101.0).ok


def test_given_expired_nonce_then_stale_and_forged_nonce_refused():
    auth = DigestAuthority("tongdai", nonce_ttl=300)
    creds = answer(auth.challenge(100.0), method="REGISTER", uri="sip:x", username="1001", password="secret-1001")
    v = auth.check(creds, method="REGISTER", password_of=PASSWORDS.get, now=500.0)
    assert not v.ok and v.stale
    other = DigestAuthority("tongdai")  # another key: its nonces are not ours
    forged = answer(other.challenge(100.0), method="REGISTER", uri="sip:x", username="1001", password="secret-1001")
    v = auth.check(forged, method="REGISTER", password_of=PASSWORDS.get, now=101.0)
    assert not v.ok and not v.stale


def _register(contacts: list[str], *, expires: str | None = None, call_id: str = "c1", cseq: int = 1) -> Request:
    lines = [f"Contact: {c}" for c in contacts]
    if expires is not None:
        lines.append(f"Expires: {expires}")
    raw = ("REGISTER sip:tongdai SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n"
           "To: <sip:1001@tongdai>\r\nFrom: <sip:1001@tongdai>;tag=a\r\n"
           f"Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n" + "".join(line + "\r\n" for line in lines) +
           "Content-Length: 0\r\n\r\n").encode()
    msg = parse(raw)
    assert isinstance(msg, Request)
    return msg


def test_given_two_devices_then_both_bound_ordered_by_q_and_expire_separately():
    loc = LocationService()
    resp, changes = loc.register("t/1001", _register(["<sip:1001@10.0.0.1>;q=0.5;expires=120"]), "", 0.0)
    assert resp.status == 200 and [c.registered for c in changes] == [True]
    resp, _ = loc.register("t/1001", _register(["<sip:1001@10.0.0.2>;q=0.9"], expires="600", call_id="c2"), "", 1.0)
    assert [b.contact for b in loc.lookup("t/1001", 2.0)] == ["sip:1001@10.0.0.2", "sip:1001@10.0.0.1"]
    assert len(resp.get_all("contact")) == 2
    gone = loc.expire(121.0)
    assert [(c.contact, c.registered) for c in gone] == [("sip:1001@10.0.0.1", False)]
    assert [b.contact for b in loc.lookup("t/1001", 121.0)] == ["sip:1001@10.0.0.2"]


def test_given_expires_zero_or_star_then_unregistered():
    loc = LocationService()
    loc.register("t/1001", _register(["<sip:1001@10.0.0.1>", "<sip:1001@10.0.0.2>"]), "", 0.0)
    _, changes = loc.register("t/1001", _register(["<sip:1001@10.0.0.1>;expires=0"], cseq=2), "", 1.0)
    assert [c.contact for c in changes] == ["sip:1001@10.0.0.1"]
    _, changes = loc.register("t/1001", _register(["*"], expires="0", cseq=3), "", 2.0)
    assert [c.contact for c in changes] == ["sip:1001@10.0.0.2"]
    assert loc.lookup("t/1001", 3.0) == []


def test_given_too_brief_interval_then_423_with_min_expires():
    resp, _ = LocationService().register("t/1001", _register(["<sip:1001@10.0.0.1>;expires=10"]), "", 0.0)
    assert resp.status == 423 and resp.get("min-expires") == "60"


def test_given_out_of_order_cseq_then_refused():
    loc = LocationService()
    loc.register("t/1001", _register(["<sip:1001@10.0.0.1>"], cseq=5), "", 0.0)
    resp, _ = loc.register("t/1001", _register(["<sip:1001@10.0.0.1>"], cseq=4), "", 1.0)
    assert resp.status == 500


def test_given_snapshot_then_restore_keeps_live_bindings_only():
    loc = LocationService()
    loc.register("t/1001", _register(["<sip:1001@10.0.0.1>;expires=100"]), "", 0.0)
    loc.register("t/1002", _register(["<sip:1002@10.0.0.9>;expires=3000"], call_id="c9"), "", 0.0)
    back = LocationService.restore(loc.snapshot(), 200.0)
    assert list(back.bindings) == ["t/1002"]
