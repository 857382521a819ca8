"""Property tests: serialise-then-parse round-trips generated messages; mutated torture messages never
raise anything but SipParseError (from the parser and from the request checks)."""

from __future__ import annotations

import contextlib
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tongdai.sip.errors import SipParseError
from tongdai.sip.message import Request, Response, canonical, parse
from tongdai.sip.validate import check_request

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "sip-torture"
CORPUS = [p.read_bytes() for p in sorted((DATA / "rfc4475").glob("*.dat"))] + [
    p.read_bytes() for p in sorted((DATA / "rfc5118").iterdir())]

token = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~", min_size=1, max_size=12)
value = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=40).map(str.strip)
header_name = token.filter(lambda t: t.lower() not in ("content-length", "l"))


@st.composite
def messages(draw):
    headers = [("via", f"SIP/2.0/UDP 127.0.0.1:{draw(st.integers(1, 65535))};branch=z9hG4bK{draw(token)}"),
               ("call-id", draw(token)), ("cseq", f"{draw(st.integers(0, 2**31 - 1))} INVITE")]
    headers += [(canonical(draw(header_name)), draw(value)) for _ in range(draw(st.integers(0, 6)))]
    body = draw(st.binary(max_size=200))
    if draw(st.booleans()):
        return Request(draw(token), f"sip:{draw(token)}@example.com", headers, body)
    return Response(draw(st.integers(100, 699)), draw(value), headers, body)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(messages())
def test_serialise_then_parse_round_trips(msg):
    back = parse(bytes(msg))
    assert type(back) is type(msg)
    assert back.body == msg.body
    expected = [(n, v) for n, v in msg.headers if n != "content-length"]
    assert [(n, v) for n, v in back.headers if n != "content-length"] == expected
    if isinstance(msg, Request):
        assert (back.method, back.uri) == (msg.method, msg.uri)
    else:
        assert (back.status, back.reason) == (msg.status, msg.reason)


@st.composite
def mutated(draw):
    data = bytearray(draw(st.sampled_from(CORPUS)))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.sampled_from([b"\r\n", b":", b";", b"<", b">", b'"', b",", b" ", b"\x00", b"%", b"\xff"]))
        elif op == "delete" and data:
            del data[pos : pos + draw(st.integers(1, 20))]
        elif op == "truncate":
            data = data[:pos]
    return bytes(data)


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(mutated())
def test_mutated_torture_messages_raise_only_sip_parse_error(data):
    try:
        msg = parse(data)
    except SipParseError:
        return
    if isinstance(msg, Request):
        check_request(msg)  # returns a response or None; must not raise
    for accessor in ("vias", "cseq", "from_", "to", "contacts", "max_forwards"):
        with contextlib.suppress(SipParseError):
            getattr(msg, accessor)()
