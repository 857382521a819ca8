"""The RFC 4475 and RFC 5118 torture messages, parsed and checked as VERDICTS.tsv says."""

from __future__ import annotations

from pathlib import Path

import pytest

from tongdai.sip.errors import SipParseError
from tongdai.sip.message import Request, Response, parse
from tongdai.sip.service import UaCore
from tongdai.sip.validate import check_request

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "sip-torture"
RFC5118_BAD = {"ipv6-bad", "ipv6-bug-abnf-3-colons"}
#: RFC 5118 4.4 calls this Request-URI syntactically valid (the port is not 5070); refusing it is fine too.
RFC5118_EITHER = {"port-ambiguous"}


def verdicts() -> list[tuple[str, Path, str]]:
    rows = []
    for line in (DATA / "VERDICTS.tsv").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, _section, _kind, expected = line.split("\t")
        rows.append((name, DATA / "rfc4475" / f"{name}.dat", expected))
    for path in sorted((DATA / "rfc5118").iterdir()):
        rows.append((path.name, path, "400" if path.name in RFC5118_BAD else "400|process" if path.name in RFC5118_EITHER else "process"))
    return rows


def outcome(data: bytes) -> str:
    """What a UAS does with the message: a status code, "process" or "drop"."""
    try:
        msg = parse(data)
    except SipParseError as exc:
        # with readable headers the error is answered; without them there is nowhere to answer
        return str(exc.status) if exc.partial is not None else "drop"
    if isinstance(msg, Response):
        try:
            msg.vias()
            msg.cseq()
        except SipParseError:
            return "drop"
        return "drop"  # no client transaction of ours matches a stray response
    assert isinstance(msg, Request)
    resp = check_request(msg)
    if resp is not None:
        return str(resp.status)
    answer = UaCore("127.0.0.1").on_request(msg, None, 0.0)  # type: ignore[arg-type]
    return "process" if answer is None or answer.status < 400 or answer.status == 404 else str(answer.status)


def test_corpus_is_complete():
    rows = verdicts()
    assert len([r for r in rows if r[1].parent.name == "rfc4475"]) == 49
    assert len([r for r in rows if r[1].parent.name == "rfc5118"]) == 12


@pytest.mark.parametrize(("name", "path", "expected"), verdicts(), ids=[v[0] for v in verdicts()])
def test_torture_message_is_handled_as_the_verdict_says(name, path, expected):
    got = outcome(path.read_bytes())
    allowed = expected.split("|")
    # "process" may still end in an application-level answer (404, 405, 483, ...)
    got_ok = got in allowed or ("process" in allowed and got not in ("400", "505", "drop"))
    assert got_ok, f"{name}: expected {expected}, got {got}"
