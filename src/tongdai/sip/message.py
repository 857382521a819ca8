"""SIP messages (RFC 3261 section 7 and 20): parse and serialise requests and responses.

API:
- `parse(data: bytes) -> Request | Response` raises `SipParseError`; when the start line is bad but the
  headers are readable, the error carries them in `partial` so a 400 can still be sent.
- Headers are kept in order as (canonical lower-case name, value); compact forms (`i`, `m`, `f`, `t`,
  `v`, `l`, `c`, `k`, `s`, `e`, `o`, `u`, `r`, `b`, `x`) are expanded on parse. `msg.get(name)`,
  `msg.get_all(name)` (comma-separated values split, quotes and <> respected), `msg.set`, `msg.add`,
  `msg.remove`.
- Typed views parsed on demand: `msg.vias()` / `msg.top_via()` (`Via`), `msg.cseq()` (`CSeq`),
  `msg.from_()` / `msg.to()` / `msg.contacts()` (`NameAddr`), `msg.call_id`, `msg.max_forwards()`.
- `Request.response(status, reason)` builds a response per RFC 3261 8.2.6 (copies Via, From, To,
  Call-ID, CSeq; adds a To tag on request of the caller).
- `bytes(msg)` serialises with a correct Content-Length.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field
from typing import NamedTuple

from tongdai.sip.errors import SipParseError
from tongdai.sip.uri import Uri, parse_uri

COMPACT = {
    "i": "call-id", "m": "contact", "f": "from", "t": "to", "v": "via", "l": "content-length",
    "c": "content-type", "k": "supported", "s": "subject", "e": "content-encoding", "o": "event",
    "u": "allow-events", "r": "refer-to", "b": "referred-by", "x": "session-expires", "a": "accept-contact",
    "j": "reject-contact", "d": "request-disposition", "y": "identity", "n": "identity-info",
}
#: Display names used when serialising.
PRETTY = {
    "call-id": "Call-ID", "cseq": "CSeq", "www-authenticate": "WWW-Authenticate", "mime-version": "MIME-Version",
    "rack": "RAck", "rseq": "RSeq", "sip-etag": "SIP-ETag", "sip-if-match": "SIP-If-Match",
}
#: Headers whose values may not be split at commas (RFC 3261 7.3.1 exceptions and dates/auth).
SINGLE = frozenset({
    "www-authenticate", "authorization", "proxy-authenticate", "proxy-authorization", "date", "call-id",
    "cseq", "content-length", "max-forwards", "expires", "min-expires", "subject", "user-agent", "server",
    "timestamp", "content-type", "organization", "retry-after", "reply-to", "refer-to", "referred-by",
    "from", "to", "rack", "rseq", "session-expires", "min-se", "event", "subscription-state", "replaces",
})
TOKEN_RE = re.compile(r"^[A-Za-z0-9.!%*_+`'~-]+$")
REQUEST_LINE_RE = re.compile(r"^([A-Za-z0-9.!%*_+`'~-]+) (\S+) (SIP/\d+\.\d+)$")
HEADER_NAME_RE = re.compile(r"^([A-Za-z0-9.!%*_+`'~-]+)[ \t]*:")
MAX_CSEQ = 2**31 - 1
# compiled once: `re.match(str, ...)` pays a cache lookup (with an enum isinstance) on every call
QUOTABLE_RE = re.compile(r"^[\[\]:A-Za-z0-9.!%*_+`'~-]+$")
HOST_RE = re.compile(r"^[A-Za-z0-9.-]+$")
URI_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
STATUS_RE = re.compile(r"[1-6][0-9][0-9]")
BAD_PARAM_VALUE_RE = re.compile(r'[ \t"<>]')
_TOKEN = r"[A-Za-z0-9.!%*_+`'~-]+"
# Fast paths: the plain forms nearly every message uses, matched whole by one expression. What they
# accept the general parsers accept with the same result; anything else (quotes, blanks, IPv6,
# escapes, errors) goes to the general parsers.
#: `;name` and `;name=token` parameters, no quotes or blanks
SIMPLE_PARAMS_RE = re.compile(rf"(?:;{_TOKEN}(?:={_TOKEN})?)*")
#: `SIP/2.0/UDP host:port;params` with a host name or IPv4 address
SIMPLE_VIA_RE = re.compile(rf"SIP/2\.0/({_TOKEN}) ([A-Za-z0-9.-]+):([0-9]{{1,5}})((?:;{_TOKEN}(?:={_TOKEN})?)*)")
#: `"Display" <uri>;params`, `display words <uri>;params` or `<uri>;params`
SIMPLE_NAME_ADDR_RE = re.compile(
    rf'(?:"([^"\\\r\n]*)"[ \t]*|({_TOKEN}(?:[ \t]+{_TOKEN})*)[ \t]*)?<([^<>"\s]+)>((?:;{_TOKEN}(?:={_TOKEN})?)*)')
#: `uri;params` (addr-spec) with no brackets, quotes or blanks
SIMPLE_ADDR_SPEC_RE = re.compile(rf'([^;<>"\s]+)((?:;{_TOKEN}(?:={_TOKEN})?)*)')
BAD_REQUEST_URI_RE = re.compile(r'[<>"]')


_CANONICAL: dict[str, str] = {}


def canonical(name: str) -> str:
    """The lower-case full name of a header (compact forms expanded)."""
    found = _CANONICAL.get(name)
    if found is None:
        low = name.lower()
        found = COMPACT.get(low, low)
        if len(_CANONICAL) < 4096:  # bounded: names come from the network
            _CANONICAL[name] = found
    return found


_PRETTY_CACHE: dict[str, str] = {}


def pretty(name: str) -> str:
    """The display form of a canonical header name (`call-id` -> `Call-ID`)."""
    found = _PRETTY_CACHE.get(name)
    if found is None:
        found = PRETTY.get(name) or "-".join(p.capitalize() for p in name.split("-"))
        if len(_PRETTY_CACHE) < 4096:
            _PRETTY_CACHE[name] = found
    return found


def split_commas(value: str) -> list[str]:
    """Split a header value at top-level commas, ignoring commas in quotes and <...>."""
    if "," not in value:
        return [value.strip()]
    out: list[str] = []
    depth = 0
    quoted = False
    start = 0
    i = 0
    n = len(value)
    while i < n:
        ch = value[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "<":
            depth += 1
        elif ch == ">":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            out.append(value[start:i].strip())
            start = i + 1
        i += 1
    out.append(value[start:].strip())
    return out


def parse_params(text: str) -> dict[str, str | None]:
    """`;a=1;b;c="x"` -> {"a": "1", "b": None, "c": "x"} (names lower-cased); raises on empty params."""
    params: dict[str, str | None] = {}
    if not text:
        return params
    if SIMPLE_PARAMS_RE.fullmatch(text):
        return _simple_params(text)
    return _parse_params_general(text)


def _parse_params_general(text: str) -> dict[str, str | None]:
    params: dict[str, str | None] = {}
    if not text:
        return params
    if not text.startswith(";"):
        raise SipParseError(f"expected ';' before parameters in {text!r}")
    for part in _split_semis(text[1:]):
        part = part.strip()
        if not part:
            raise SipParseError("empty parameter")
        name, eq, value = part.partition("=")
        name = name.strip()
        if not TOKEN_RE.match(name):
            raise SipParseError(f"bad parameter name {name!r}")
        if eq:
            value = value.strip()
            if value.startswith('"'):
                if len(value) < 2 or not value.endswith('"'):
                    raise SipParseError("unbalanced quotes in parameter")
                value = value[1:-1]
            elif not value or BAD_PARAM_VALUE_RE.search(value):
                raise SipParseError(f"bad parameter value {value!r}")
            params[name.lower()] = value
        else:
            params[name.lower()] = None
    return params


def _simple_params(text: str) -> dict[str, str | None]:
    """Parameters already matched by SIMPLE_PARAMS_RE (names lower-cased)."""
    params: dict[str, str | None] = {}
    for part in text[1:].split(";"):
        name, eq, value = part.partition("=")
        params[name.lower()] = value if eq else None
    return params


def _split_semis(text: str) -> list[str]:
    if '"' not in text:
        return text.split(";")
    out, quoted, start = [], False, 0
    for i, ch in enumerate(text):
        if ch == '"':
            quoted = not quoted
        elif ch == ";" and not quoted:
            out.append(text[start:i])
            start = i + 1
    if quoted:
        raise SipParseError("unbalanced quotes")
    out.append(text[start:])
    return out


def format_params(params: dict[str, str | None]) -> str:
    return "".join(f";{k}" if v is None else f";{k}={_quote_if_needed(v)}" for k, v in params.items())


def _quote_if_needed(v: str) -> str:
    return v if TOKEN_RE.match(v) or QUOTABLE_RE.match(v) else f'"{v}"'


@dataclass
class Via:
    """One Via value: `SIP/2.0/UDP host:port;branch=...;rport;received=...`."""

    transport: str
    host: str
    port: int | None
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def sent_by(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def __str__(self) -> str:
        return f"SIP/2.0/{self.transport} {self.sent_by}{format_params(self.params)}"


VIA_RE = re.compile(r"^SIP\s*/\s*2\.0\s*/\s*([A-Za-z0-9.!%*_+`'~-]+)\s+([^;\s]+)\s*(;.*)?$", re.S)


def parse_via(value: str) -> Via:
    m = SIMPLE_VIA_RE.fullmatch(value)
    if m is not None and 0 < int(m.group(3)) < 65536:
        ptext = m.group(4)
        return Via(m.group(1).upper(), m.group(2), int(m.group(3)), _simple_params(ptext) if ptext else {})
    return _parse_via_general(value)


def _parse_via_general(value: str) -> Via:
    m = VIA_RE.match(value.strip())
    if not m:
        raise SipParseError(f"bad Via {value!r}")
    host, port = split_host_port(m.group(2))
    return Via(m.group(1).upper(), host, port, parse_params((m.group(3) or "").strip()))


def split_host_port(text: str) -> tuple[str, int | None]:
    """`host`, `host:5060`, `[::1]:5060` -> (host, port)."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise SipParseError(f"bad IPv6 reference {text!r}")
        host, rest = text[: end + 1], text[end + 1 :]
        _check_ipv6(host[1:-1])
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise SipParseError(f"bad host:port {text!r}")
        return host, _port(rest[1:])
    if text.count(":") > 1:
        raise SipParseError(f"IPv6 address without brackets {text!r}")
    host, colon, port = text.partition(":")
    if not host or not HOST_RE.match(host):
        raise SipParseError(f"bad host {host!r}")
    return host, (_port(port) if colon else None)


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise SipParseError(f"bad port {text!r}")
    return int(text)


def _check_ipv6(addr: str) -> None:
    import ipaddress

    try:
        ipaddress.IPv6Address(addr)
    except ValueError:
        raise SipParseError(f"bad IPv6 address {addr!r}") from None


@dataclass
class NameAddr:
    """`"Display" <uri>;tag=x` (name-addr) or `uri;tag=x` (addr-spec)."""

    uri: Uri
    display: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def __str__(self) -> str:
        disp = f'"{self.display}" ' if self.display else ""
        return f"{disp}<{self.uri}>{format_params(self.params)}"


DISPLAY_TOKEN_RE = re.compile(r"^[A-Za-z0-9.!%*_+`'~ \t-]*$")


def parse_name_addr(value: str) -> NameAddr:
    value = value.strip()
    m = SIMPLE_NAME_ADDR_RE.fullmatch(value)
    if m is not None:
        quoted, display, inner, ptext = m.groups()
        return NameAddr(parse_uri(inner), quoted if quoted is not None else display,
                        _simple_params(ptext) if ptext else {})
    m = SIMPLE_ADDR_SPEC_RE.fullmatch(value) if value != "*" else None
    if m is not None:
        ptext = m.group(2)
        return NameAddr(parse_uri(m.group(1), allow_headers=False), None, _simple_params(ptext) if ptext else {})
    return _parse_name_addr_general(value)


def _parse_name_addr_general(value: str) -> NameAddr:
    value = value.strip()
    if value == "*":
        raise SipParseError("'*' is only a Contact value")
    display: str | None = None
    rest = value
    if value.startswith('"'):
        i, n = 1, len(value)
        while i < n and value[i] != '"':
            i += 2 if value[i] == "\\" else 1
        if i >= n:
            raise SipParseError("unbalanced quotes in display name")
        display = value[1:i].replace('\\"', '"')
        rest = value[i + 1 :].lstrip()
        if not rest.startswith("<"):
            raise SipParseError("a quoted display name must be followed by <uri>")
    lt = rest.find("<")
    if lt >= 0:
        before = rest[:lt].strip()
        if display is None and before:
            if not DISPLAY_TOKEN_RE.match(before):
                raise SipParseError(f"bad display name {before!r}")
            display = before
        gt = rest.find(">", lt)
        if gt < 0:
            raise SipParseError("missing '>'")
        inner = rest[lt + 1 : gt]
        if inner != inner.strip() or not inner:
            raise SipParseError("whitespace inside <uri>")
        uri = parse_uri(inner)
        params = parse_params(rest[gt + 1 :].strip())
        return NameAddr(uri, display, params)
    # addr-spec: parameters after ';' belong to the header, not the URI
    if '"' in rest or ">" in rest:
        raise SipParseError(f"bad address {value!r}")
    uri_text, semi, ptext = rest.partition(";")
    if " " in uri_text.strip():
        raise SipParseError(f"bad address {value!r}")
    uri = parse_uri(uri_text.strip(), allow_headers=False)
    return NameAddr(uri, None, parse_params(";" + ptext if semi else ""))


class CSeq(NamedTuple):
    """`CSeq: 1 INVITE` (a named tuple: built in C, read on every request and response)."""

    number: int
    method: str

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


def parse_cseq(value: str) -> CSeq:
    parts = value.split()
    if len(parts) != 2 or not parts[0].isdigit() or not TOKEN_RE.match(parts[1]):
        raise SipParseError(f"bad CSeq {value!r}")
    number = int(parts[0])
    if number > MAX_CSEQ:
        raise SipParseError("CSeq number too large")
    return CSeq(number, parts[1])


class Message:
    """Headers and body shared by requests and responses."""

    __slots__ = ("headers", "body", "_cache")

    def __init__(self, headers: list[tuple[str, str]] | None = None, body: bytes = b"") -> None:
        self.headers: list[tuple[str, str]] = headers if headers is not None else []
        self.body = body
        self._cache: dict[str, object] = {}

    # --- raw access ---
    def get(self, name: str) -> str | None:
        name = _CANONICAL.get(name) or canonical(name)  # the cache first: no call on the hot path
        for n, v in self.headers:
            if n == name:
                return v
        return None

    def get_all(self, name: str) -> list[str]:
        """Every value of a header, comma-separated lists split (except for single-value headers)."""
        name = _CANONICAL.get(name) or canonical(name)  # the cache first: no call on the hot path
        out: list[str] = []
        single = name in SINGLE
        for n, v in self.headers:
            if n == name:
                if single:
                    out.append(v)
                elif "," not in v:  # one value (the usual case): no splitting
                    v = v.strip()
                    if v:
                        out.append(v)
                else:
                    out.extend(x for x in split_commas(v) if x)
        return out

    def count(self, name: str) -> int:
        name = _CANONICAL.get(name) or canonical(name)  # the cache first: no call on the hot path
        return sum(1 for n, _ in self.headers if n == name)

    def add(self, name: str, value: str, *, first: bool = False) -> None:
        self._cache.clear()
        item = (canonical(name), value)
        if first:
            self.headers.insert(0, item)
        else:
            self.headers.append(item)

    def set(self, name: str, value: str) -> None:
        """Replace every value of the header by one (appended where the first one was, or at the end)."""
        name = canonical(name)
        self._cache.clear()
        for i, (n, _) in enumerate(self.headers):
            if n == name:
                self.headers[i] = (name, value)
                self.headers[i + 1 :] = [h for h in self.headers[i + 1 :] if h[0] != name]
                return
        self.headers.append((name, value))

    def remove(self, name: str) -> None:
        name = canonical(name)
        self._cache.clear()
        self.headers = [h for h in self.headers if h[0] != name]

    # --- typed views ---
    @property
    def call_id(self) -> str:
        return self.get("call-id") or ""

    def vias(self) -> list[Via]:
        cached = self._cache.get("vias")
        if cached is None:
            cached = [parse_via(v) for v in self.get_all("via")]
            self._cache["vias"] = cached
        return cached  # type: ignore[return-value]

    def top_via(self) -> Via:
        vias = self.vias()
        if not vias:
            raise SipParseError("no Via")
        return vias[0]

    def cseq(self) -> CSeq:
        cached = self._cache.get("cseq")
        if cached is None:
            raw = self.get("cseq")
            if raw is None:
                raise SipParseError("no CSeq")
            cached = parse_cseq(raw)
            self._cache["cseq"] = cached
        return cached  # type: ignore[return-value]

    def _addr(self, name: str) -> NameAddr:
        cached = self._cache.get(name)
        if cached is None:
            raw = self.get(name)
            if raw is None:
                raise SipParseError(f"no {pretty(name)}")
            cached = parse_name_addr(raw)
            self._cache[name] = cached
        return cached  # type: ignore[return-value]

    def from_(self) -> NameAddr:
        return self._addr("from")

    def to(self) -> NameAddr:
        return self._addr("to")

    def contacts(self) -> list[NameAddr]:
        return [parse_name_addr(v) for v in self.get_all("contact") if v.strip() != "*"]

    def max_forwards(self) -> int | None:
        raw = self.get("max-forwards")
        if raw is None:
            return None
        raw = raw.strip()
        if not raw.isdigit() or int(raw) > 255:
            raise SipParseError(f"bad Max-Forwards {raw!r}")
        return int(raw)

    def content_type(self) -> str:
        return (self.get("content-type") or "").split(";")[0].strip().lower()

    def _serialise(self, start_line: str) -> bytes:
        lines = [start_line]
        names = _PRETTY_CACHE
        for n, v in self.headers:
            if n != "content-length":
                lines.append((names.get(n) or pretty(n)) + ": " + v)
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape") + self.body


class Request(Message):
    __slots__ = ("method", "uri", "version")

    def __init__(self, method: str, uri: str, headers: list[tuple[str, str]] | None = None, body: bytes = b"",
                 version: str = "SIP/2.0") -> None:
        # Message.__init__ inlined: three messages per call are built on the hot path
        self.headers = headers if headers is not None else []
        self.body = body
        self._cache = {}
        self.method = method
        self.uri = uri
        self.version = version

    def request_uri(self) -> Uri:
        cached = self._cache.get("ruri")
        if cached is None:
            cached = parse_uri(self.uri, allow_headers=False)
            self._cache["ruri"] = cached
        return cached  # type: ignore[return-value]

    def response(self, status: int, reason: str | None = None, *, to_tag: str | None = None) -> Response:
        """A response to this request (RFC 3261 8.2.6); `to_tag` is added when the To has none."""
        headers = [(n, v) for n, v in self.headers if n in ("via", "from", "call-id", "cseq")]
        to = self.get("to") or ""
        if to_tag and ";tag=" not in to.lower().replace(" ", ""):
            to = f"{to};tag={to_tag}"
        headers.insert(2, ("to", to))
        return Response(status, reason if reason is not None else REASONS.get(status, ""), headers)

    def __bytes__(self) -> bytes:
        return self._serialise(f"{self.method} {self.uri} {self.version}")

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri} call-id={self.call_id!r}>"


class Response(Message):
    __slots__ = ("status", "reason", "version")

    def __init__(self, status: int, reason: str = "", headers: list[tuple[str, str]] | None = None,
                 body: bytes = b"", version: str = "SIP/2.0") -> None:
        self.headers = headers if headers is not None else []  # Message.__init__ inlined
        self.body = body
        self._cache = {}
        self.status = status
        self.reason = reason
        self.version = version

    def __bytes__(self) -> bytes:
        return self._serialise(f"{self.version} {self.status} {self.reason}")

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason} call-id={self.call_id!r}>"


class _RandomPool:
    """Random bytes from the operating system read 4 KiB at a time: as unpredictable as one
    `secrets.token_hex` per tag, without a system call per tag and branch (two per call)."""

    def __init__(self) -> None:
        self._bytes = b""
        self._at = 0
        os.register_at_fork(after_in_child=self._drop)  # a forked child must not repeat our tags

    def hex(self, n: int) -> str:
        """`n` random bytes as hex."""
        at = self._at
        if at + n > len(self._bytes):
            self._bytes, at = secrets.token_bytes(4096), 0
        self._at = at + n
        return self._bytes[at : at + n].hex()

    def _drop(self) -> None:
        self._bytes, self._at = b"", 0


_RANDOM = _RandomPool()


def new_tag() -> str:
    return _RANDOM.hex(6)


def new_branch() -> str:
    return "z9hG4bK" + _RANDOM.hex(8)


REASONS = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued", 183: "Session Progress",
    200: "OK", 202: "Accepted", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 406: "Not Acceptable", 407: "Proxy Authentication Required",
    408: "Request Timeout", 415: "Unsupported Media Type", 416: "Unsupported URI Scheme",
    420: "Bad Extension", 422: "Session Interval Too Small", 423: "Interval Too Brief", 480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist", 482: "Loop Detected", 483: "Too Many Hops",
    486: "Busy Here", 487: "Request Terminated", 488: "Not Acceptable Here", 491: "Request Pending",
    500: "Server Internal Error", 501: "Not Implemented", 503: "Service Unavailable", 505: "Version Not Supported",
    603: "Decline",
}


def _unfold(block: str) -> list[str]:
    if "\r\n" in block and "\r\n " not in block and "\r\n\t" not in block:
        return block.split("\r\n")  # nothing folded (the usual case): no line-by-line loop
    lines: list[str] = []
    for line in block.split("\r\n") if "\r\n" in block else block.split("\n"):
        if line and line[0] in " \t" and lines:
            lines[-1] = lines[-1].rstrip() + " " + line.strip()
        else:
            lines.append(line)
    return lines


def _headers(lines: list[str]) -> list[tuple[str, str]]:
    headers, bad = _headers_lenient(lines)
    if bad is not None:
        raise SipParseError(f"bad header line {bad[:60]!r}")
    return headers


def _headers_lenient(lines: list[str]) -> tuple[list[tuple[str, str]], str | None]:
    """The readable headers, and the first unreadable line (None when all are fine)."""
    headers: list[tuple[str, str]] = []
    bad: str | None = None
    known = _KNOWN_NAMES
    for line in lines:
        raw, colon, value = line.partition(":")
        name = known.get(raw) if colon else None
        if name is not None:  # a header name seen before, spelled the same: no regular expression
            headers.append((name, value.strip()))
            continue
        m = HEADER_NAME_RE.match(line)
        if not m:
            bad = bad if bad is not None else line
            continue
        name = canonical(m.group(1))
        if len(known) < 4096:  # bounded: names come from the network
            known[line[: m.end() - 1]] = name  # tokens hold no ':', so this is `raw`
        headers.append((name, line[m.end() :].strip()))
    return headers, bad


#: header names as they appeared before the ':' (with any blanks), already checked -> canonical name
_KNOWN_NAMES: dict[str, str] = {}


def split_head(data: bytes) -> tuple[bytes, bytes]:
    """(start line and headers, the rest) of one message; raises when the blank line is missing."""
    end = data.find(b"\r\n\r\n")
    if end >= 0:
        return data[:end], data[end + 4 :]
    end = data.find(b"\n\n")
    if end >= 0:
        return data[:end], data[end + 2 :]
    raise SipParseError("no blank line after the headers")


def content_length(headers: list[tuple[str, str]]) -> int | None:
    raw: str | None = None
    for n, v in headers:
        if n == "content-length":
            v = v.strip()
            if raw is not None and v != raw:
                raise SipParseError("conflicting Content-Length headers")
            raw = v
    if raw is None:
        return None
    if not raw.isdigit():
        raise SipParseError(f"bad Content-Length {raw!r}")
    return int(raw)


def parse(data: bytes, *, stream: bool = False) -> Request | Response:
    """Parse one message. For datagrams (`stream=False`) a body longer than Content-Length is cut;
    a shorter one is an error."""
    data = data.lstrip(b"\r\n")
    head, rest = split_head(data)
    text = head.decode("utf-8", "surrogateescape")
    lines = _unfold(text)
    start = lines[0]
    headers, bad = _headers_lenient(lines[1:])
    if bad is not None:
        partial = None if start.startswith("SIP/") else Request("", "", headers, b"")
        raise SipParseError(f"bad header line {bad[:60]!r}", partial=partial)
    try:
        length = content_length(headers)
        if length is not None and length > len(rest):
            raise SipParseError("the body is shorter than Content-Length")
    except SipParseError as exc:
        if not start.startswith("SIP/"):
            exc.partial = Request("", "", headers, b"")
        raise
    body = (b"" if stream else rest) if length is None else rest[:length]
    if start.startswith("SIP/"):
        return _response(start, headers, body)
    m = REQUEST_LINE_RE.match(start)
    if not m:
        raise SipParseError(f"bad request line {start[:80]!r}", partial=Request("", "", headers, body))
    method, uri, version = m.groups()
    req = Request(method, uri, headers, body, version)
    if version != "SIP/2.0":
        raise SipParseError(f"version {version} not supported", status=505, partial=req)
    if BAD_REQUEST_URI_RE.search(uri) or not URI_SCHEME_RE.match(uri):
        raise SipParseError(f"bad Request-URI {uri[:80]!r}", partial=req)
    return req


def _response(start: str, headers: list[tuple[str, str]], body: bytes) -> Response:
    parts = start.split(" ", 2)
    if len(parts) < 2 or parts[0] != "SIP/2.0" or not STATUS_RE.fullmatch(parts[1]):
        raise SipParseError(f"bad status line {start[:80]!r}")
    return Response(int(parts[1]), parts[2] if len(parts) > 2 else "", headers, body, parts[0])
