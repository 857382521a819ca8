"""SIP, SIPS and tel URIs (RFC 3261 19.1, RFC 3966) with escaping."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote

from tongdai.sip.errors import SipParseError

SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):(.*)$", re.S)
USER_RE = re.compile(r"^[A-Za-z0-9\-_.!~*'()&=+$,;?/%]+$")
PASSWORD_RE = re.compile(r"^[A-Za-z0-9\-_.!~*'()&=+$,%]*$")
PARAM_RE = re.compile(r"^[A-Za-z0-9\-_.!~*'()\[\]/:&+$%]+$")
ESCAPE_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
KNOWN_SCHEMES = ("sip", "sips", "tel")
SPACE_RE = re.compile(r"\s")
TEL_RE = re.compile(r"^\+?[0-9A-Fa-f*#().\-]+$")


@dataclass(frozen=True)
class Uri:
    """A parsed URI; `user` and params keep their escapes as received (compare with `same_as`).
    Frozen, and its dicts are never changed after parsing: `parse_uri` hands the same object to every
    message that carries the same URI text."""

    scheme: str
    user: str | None = None
    password: str | None = None
    host: str = ""
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    opaque: str | None = None

    def __str__(self) -> str:
        if self.opaque is not None:
            return f"{self.scheme}:{self.opaque}"
        if self.scheme == "tel":
            return f"tel:{self.user}" + "".join(f";{k}" if v is None else f";{k}={v}" for k, v in self.params.items())
        userinfo = ""
        if self.user is not None:
            userinfo = self.user + (f":{self.password}" if self.password is not None else "") + "@"
        port = f":{self.port}" if self.port is not None else ""
        params = "".join(f";{k}" if v is None else f";{k}={v}" for k, v in self.params.items())
        headers = ("?" + "&".join(f"{k}={v}" for k, v in self.headers.items())) if self.headers else ""
        return f"{self.scheme}:{userinfo}{self.host}{port}{params}{headers}"

    @property
    def user_unescaped(self) -> str | None:
        return None if self.user is None else unquote(self.user)

    def same_as(self, other: Uri) -> bool:
        """Equality per RFC 3261 19.1.4 for the common parts (scheme, user, host, port, transport)."""
        return (
            self.scheme == other.scheme
            and self.user_unescaped == other.user_unescaped
            and self.host.lower() == other.host.lower()
            and self.port == other.port
            and self.params.get("transport") == other.params.get("transport")
        )


#: URIs already parsed, by text (with and without headers allowed); bounded, since texts come from the
#: network. The same few URIs come back all the time (a trunk's Contact, the numbers it calls, the
#: From and To URIs of every request in a dialog), and a parse is most of the checks' cost.
_PARSED: dict[str, Uri] = {}
_PARSED_NO_HEADERS: dict[str, Uri] = {}
_PARSED_MAX = 4096


def parse_uri(text: str, *, allow_headers: bool = True) -> Uri:
    """Parse a URI. Unknown schemes give an opaque Uri (the caller decides: 416 for a Request-URI).
    The result is shared between equal texts: never change it."""
    cache = _PARSED if allow_headers else _PARSED_NO_HEADERS
    found = cache.get(text)
    if found is None:
        found = _parse_uri(text, allow_headers)  # errors are not cached: they raise every time
        if len(cache) >= _PARSED_MAX:
            cache.clear()
        cache[text] = found
    return found


def _parse_uri(text: str, allow_headers: bool) -> Uri:
    m = SCHEME_RE.match(text)
    if not m or SPACE_RE.search(text):
        raise SipParseError(f"bad URI {text[:80]!r}")
    scheme, rest = m.group(1).lower(), m.group(2)
    if scheme == "tel":
        return _tel(rest)
    if scheme not in ("sip", "sips"):
        return Uri(scheme, opaque=rest)
    if ESCAPE_RE.search(rest):
        raise SipParseError("bad % escape in URI")
    user = password = None
    if "@" in rest:
        userinfo, _, rest = rest.rpartition("@")
        user, colon, pw = userinfo.partition(":")
        if colon:
            if not PASSWORD_RE.match(pw):
                raise SipParseError("bad password in URI")
            password = pw
        if not user or not USER_RE.match(user):
            raise SipParseError(f"bad user part {user!r}")
    headers: dict[str, str] = {}
    if "?" in rest:
        rest, _, htext = rest.partition("?")
        if not allow_headers:
            raise SipParseError("headers are not allowed in this URI")
        for item in htext.split("&"):
            k, eq, v = item.partition("=")
            if not k or not eq:
                raise SipParseError("bad URI header")
            headers[k] = v
    hostport, _, ptext = rest.partition(";")
    host, port = _host_port(hostport)
    params: dict[str, str | None] = {}
    if ptext:
        for p in ptext.split(";"):
            k, eq, v = p.partition("=")
            if not k or not PARAM_RE.match(k) or (eq and not PARAM_RE.match(v)):
                raise SipParseError(f"bad URI parameter {p!r}")
            params[k.lower()] = v if eq else None
    return Uri(scheme, user, password, host, port, params, headers)


def _host_port(text: str) -> tuple[str, int | None]:
    from tongdai.sip.message import split_host_port

    if not text:
        raise SipParseError("missing host")
    return split_host_port(text)


def _tel(rest: str) -> Uri:
    number, _, ptext = rest.partition(";")
    if not number or not TEL_RE.match(number):
        raise SipParseError(f"bad tel number {number!r}")
    params: dict[str, str | None] = {}
    for p in ptext.split(";") if ptext else []:
        k, eq, v = p.partition("=")
        params[k.lower()] = v if eq else None
    return Uri("tel", user=number, params=params)
