"""The checks a UAS makes on every request before it is processed (RFC 3261 8.2 and 16.3).

`check_request(req)` returns None when the request may be processed, or the error response to send.
Pure: no I/O, no state.
"""

from __future__ import annotations

from tongdai.sip.errors import SipParseError
from tongdai.sip.message import Request, Response

SUPPORTED_EXTENSIONS = frozenset({"100rel", "timer", "replaces", "norefersub"})
ACCEPTED_BODIES = frozenset({"application/sdp", "multipart/mixed", "multipart/alternative",
                             "application/dtmf-relay", "application/dtmf", "message/sipfrag",
                             "application/pidf+xml", "text/plain"})
SDP_ACCEPTS = ("application/sdp", "application/*", "*/*")
KNOWN_URI_SCHEMES = frozenset({"sip", "sips", "tel"})
SINGLETONS = ("to", "from", "call-id", "cseq", "max-forwards", "content-type")


def check_request(req: Request) -> Response | None:
    """None when `req` may be processed; else the error response (400, 415, 416, 420, 406, ...)."""
    try:
        return _check(req)
    except SipParseError as exc:
        return _bad(req, exc.reason)


def _bad(req: Request, why: str, status: int = 400) -> Response:
    resp = req.response(status)
    if status == 400:
        resp.reason = f"Bad Request ({why[:80]})".replace("\r", " ").replace("\n", " ")
    return resp


def _check(req: Request) -> Response | None:
    counts: dict[str, int] = {}
    for n, _ in req.headers:  # a plain loop: Counter's generator costs twice as much per request
        counts[n] = counts.get(n, 0) + 1
    for name in ("via", "to", "from", "call-id", "cseq"):
        if name not in counts:
            return _bad(req, f"missing {name}")
    for name in SINGLETONS:
        if counts.get(name, 0) > 1:
            return _bad(req, f"more than one {name}")
    req.vias()
    cseq = req.cseq()
    if cseq.method != req.method:
        return _bad(req, "CSeq method does not match the request method")
    req.max_forwards()
    req.from_()
    req.to()
    if req.method in ("INVITE", "REGISTER", "SUBSCRIBE", "REFER"):
        req.contacts()
    uri = req.request_uri()
    if uri.scheme not in KNOWN_URI_SCHEMES:
        resp = req.response(416)
        return resp
    # header look-ups scan every header: skip those the request does not carry
    unknown = [e for e in req.get_all("require") if e.lower() not in SUPPORTED_EXTENSIONS] if "require" in counts else []
    if unknown and req.method not in ("ACK", "CANCEL"):
        resp = req.response(420)
        resp.add("unsupported", ", ".join(unknown))
        return resp
    if req.body and req.method not in ("ACK", "CANCEL", "BYE") and req.content_type() not in ACCEPTED_BODIES:
        resp = req.response(415)
        resp.add("accept", "application/sdp")
        return resp
    if req.method != "INVITE" or "accept" not in counts:
        return None
    accept = [a.split(";")[0].strip().lower() for a in req.get_all("accept")]
    if accept and not any(a in SDP_ACCEPTS for a in accept):
        resp = req.response(406)
        resp.add("accept", "application/sdp")
        return resp
    return None
