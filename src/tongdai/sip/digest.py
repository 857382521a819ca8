"""HTTP digest authentication for SIP (RFC 2617, RFC 7616, RFC 8760: MD5 and SHA-256), server side.

Nonces are stateless: `<timestamp>.<hmac>` signed with a server key, so any nonce can be checked
without a table and expires after `nonce_ttl` seconds (an expired but genuine nonce gets `stale=true`).
Pure: `now` is passed in.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

ALGORITHMS = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}
PARAM_RE = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)\s*,?')


def _h(algorithm: str, text: str) -> str:
    return ALGORITHMS[algorithm](text.encode("utf-8")).hexdigest()


def parse_credentials(value: str) -> tuple[str, dict[str, str]]:
    """`Digest username="a", realm="b", ...` -> ("digest", {"username": "a", ...})."""
    scheme, _, rest = value.strip().partition(" ")
    params: dict[str, str] = {}
    for m in PARAM_RE.finditer(rest):
        v = m.group(2)
        if v.startswith('"'):
            v = v[1:-1].replace('\\"', '"')
        params[m.group(1).lower()] = v
    return scheme.lower(), params


@dataclass(frozen=True)
class Verdict:
    ok: bool
    stale: bool = False
    username: str | None = None
    reason: str = ""


class DigestAuthority:
    """Issues challenges and checks answers for one realm."""

    def __init__(self, realm: str, key: bytes | None = None, nonce_ttl: float = 300.0,
                 algorithms: tuple[str, ...] = ("MD5", "SHA-256")) -> None:
        self.realm = realm
        self.algorithms = algorithms
        self._key = key or secrets.token_bytes(32)
        self.nonce_ttl = nonce_ttl

    def nonce(self, now: float) -> str:
        """Hex milliseconds of issue followed by 24 hex digits of signature."""
        ts = f"{int(now * 1000):x}"
        return ts + self._sign(ts)

    def _sign(self, ts: str) -> str:
        return hmac.new(self._key, ts.encode(), hashlib.sha256).hexdigest()[:24]

    def challenge(self, now: float, *, stale: bool = False, algorithm: str = "MD5") -> str:
        """The value of a WWW-Authenticate (or Proxy-Authenticate) header."""
        s = ", stale=true" if stale else ""
        return f'Digest realm="{self.realm}", nonce="{self.nonce(now)}", algorithm={algorithm}, qop="auth"{s}'

    def challenges(self, now: float, *, stale: bool = False) -> list[str]:
        """One challenge per algorithm, in `self.algorithms` order (RFC 8760 2.4)."""
        return [self.challenge(now, stale=stale, algorithm=a) for a in self.algorithms]

    def _nonce_age(self, nonce: str, now: float) -> float | None:
        ts, sig = nonce[:-24], nonce[-24:]
        if not ts or not hmac.compare_digest(self._sign(ts), sig):
            return None
        try:
            return now - int(ts, 16) / 1000
        except ValueError:
            return None

    def check(self, header: str, *, method: str, password_of, now: float) -> Verdict:  # type: ignore[no-untyped-def]
        """Check an Authorization header; `password_of(username)` gives the password or None."""
        scheme, p = parse_credentials(header)
        if scheme != "digest":
            return Verdict(False, reason="not a digest answer")
        username, nonce, uri, response = p.get("username"), p.get("nonce"), p.get("uri"), p.get("response")
        if not (username and nonce and uri and response) or p.get("realm") != self.realm:
            return Verdict(False, reason="incomplete answer or wrong realm")
        algorithm = p.get("algorithm", "MD5").upper()
        if algorithm not in ALGORITHMS:
            return Verdict(False, reason=f"algorithm {algorithm} not supported")
        age = self._nonce_age(nonce, now)
        if age is None or age < -5:
            return Verdict(False, reason="nonce not ours")
        password = password_of(username)
        if password is None:
            return Verdict(False, reason="unknown user", username=username)
        ha1 = _h(algorithm, f"{username}:{self.realm}:{password}")
        ha2 = _h(algorithm, f"{method}:{uri}")
        qop = p.get("qop")
        if qop == "auth":
            expected = _h(algorithm, f"{ha1}:{nonce}:{p.get('nc', '')}:{p.get('cnonce', '')}:auth:{ha2}")
        elif qop is None:
            expected = _h(algorithm, f"{ha1}:{nonce}:{ha2}")
        else:
            return Verdict(False, reason=f"qop {qop} not supported")
        if not hmac.compare_digest(expected, response.lower()):
            return Verdict(False, reason="wrong password", username=username)
        if age > self.nonce_ttl:
            return Verdict(False, stale=True, username=username, reason="nonce expired")
        return Verdict(True, username=username)


def answer(challenge: str, *, method: str, uri: str, username: str, password: str, cnonce: str = "0a4f113b",
           nc: str = "00000001") -> str:
    """The client side: an Authorization value answering `challenge` (for tests and outbound registration)."""
    _, p = parse_credentials(challenge)
    algorithm = p.get("algorithm", "MD5").upper()
    realm, nonce = p["realm"], p["nonce"]
    ha1 = _h(algorithm, f"{username}:{realm}:{password}")
    ha2 = _h(algorithm, f"{method}:{uri}")
    if "auth" in p.get("qop", ""):
        resp = _h(algorithm, f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        return (f'Digest username="{username}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
                f'response="{resp}", algorithm={algorithm}, qop=auth, nc={nc}, cnonce="{cnonce}"')
    resp = _h(algorithm, f"{ha1}:{nonce}:{ha2}")
    return f'Digest username="{username}", realm="{realm}", nonce="{nonce}", uri="{uri}", response="{resp}", algorithm={algorithm}'
