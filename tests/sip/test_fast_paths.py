"""The parsers' fast paths (one regular expression for the plain forms of Via, name-addr and
parameters) give exactly what the general parsers give, and refuse nothing the general ones accept
differently: checked on every header value of the torture corpus and on generated values."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tongdai.sip import message as m
from tongdai.sip.errors import SipParseError

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "sip-torture"
FILES = [*sorted((DATA / "rfc4475").glob("*.dat")), *sorted((DATA / "rfc5118").iterdir())]


def _outcome(fn, value: str) -> object:
    try:
        return repr(fn(value))
    except SipParseError:
        return SipParseError


def _corpus_values(*names: str) -> list[str]:
    out = []
    for path in FILES:
        head = path.read_bytes().split(b"\r\n\r\n")[0].decode("utf-8", "surrogateescape")
        for line in m._unfold(head)[1:]:
            name, colon, value = line.partition(":")
            if colon and m.canonical(name.strip()) in names:
                out += m.split_commas(value.strip())
    return out


def test_given_corpus_via_values_then_fast_and_general_parsers_agree():
    values = _corpus_values("via")
    assert len(values) > 40
    for v in values:
        assert _outcome(m.parse_via, v) == _outcome(m._parse_via_general, v), v


def test_given_corpus_addresses_then_fast_and_general_parsers_agree():
    values = _corpus_values("from", "to", "contact", "route", "record-route")
    assert len(values) > 80
    for v in values:
        assert _outcome(m.parse_name_addr, v) == _outcome(m._parse_name_addr_general, v), v


pieces = st.sampled_from(["SIP/2.0/UDP ", "SIP/2.0/tcp ", "sip", ":", ";", "=", "<", ">", '"', " ", "\t", "@",
                          ".", "\\", "5060", "0", "70000", "127.0.0.1", "host-a", "[::1]", "branch", "tag",
                          "z9hG4bK", "rport", "Alice", "%41", "?h=v", "*", ",", "sip:a@b"])
values = st.lists(pieces, max_size=12).map("".join)


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(values)
@example("SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1;rport")
@example("SIP/2.0/UDP host-a:0;branch=x")
@example('"Alice" <sip:a@b>;tag=1')
@example("Alice Smith\t<sip:a@b>;TAG=X")
@example("<sip:a@b>;tag=")
def test_given_generated_values_then_fast_and_general_parsers_agree(value):
    assert _outcome(m.parse_via, value) == _outcome(m._parse_via_general, value)
    assert _outcome(m.parse_name_addr, value) == _outcome(m._parse_name_addr_general, value)
    assert _outcome(m.parse_params, value) == _outcome(m._parse_params_general, value)
