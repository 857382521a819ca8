"""Registrar and location service (RFC 3261 section 10): several contacts per address of record,
expiry, q-values, un-register, Call-ID/CSeq ordering. Pure: `now` is passed in; the owner persists
`snapshot()` and publishes the events it returns."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from tongdai.sip.errors import SipParseError
from tongdai.sip.message import Request, Response

MIN_EXPIRES = 60
MAX_EXPIRES = 3600
DEFAULT_EXPIRES = 3600


@dataclass
class Binding:
    contact: str
    expires_at: float
    q: float
    call_id: str
    cseq: int
    source: str = ""
    user_agent: str = ""


@dataclass
class Change:
    """A device appeared or disappeared for an address of record."""

    aor: str
    contact: str
    registered: bool


@dataclass
class LocationService:
    bindings: dict[str, dict[str, Binding]] = field(default_factory=dict)

    def lookup(self, aor: str, now: float) -> list[Binding]:
        """Live contacts of `aor`, highest q first."""
        live = [b for b in self.bindings.get(aor, {}).values() if b.expires_at > now]
        return sorted(live, key=lambda b: -b.q)

    def expire(self, now: float) -> list[Change]:
        changes = []
        for aor, contacts in list(self.bindings.items()):
            for uri, b in list(contacts.items()):
                if b.expires_at <= now:
                    del contacts[uri]
                    changes.append(Change(aor, uri, False))
            if not contacts:
                del self.bindings[aor]
        return changes

    def register(self, aor: str, req: Request, source: str, now: float) -> tuple[Response, list[Change]]:
        """Apply a REGISTER that has been authenticated for `aor`; returns the answer and the changes."""
        try:
            return self._register(aor, req, source, now)
        except SipParseError as exc:
            resp = req.response(400)
            resp.reason = f"Bad Request ({exc.reason[:60]})"
            return resp, []

    def _register(self, aor: str, req: Request, source: str, now: float) -> tuple[Response, list[Change]]:
        raw_contacts = req.get_all("contact")
        header_expires = _int(req.get("expires"))
        call_id, cseq = req.call_id, req.cseq().number
        current = self.bindings.setdefault(aor, {})
        changes: list[Change] = []
        if any(c.strip() == "*" for c in raw_contacts):
            if len(raw_contacts) != 1 or header_expires != 0:
                raise SipParseError("'*' needs Expires: 0 and no other contact")
            for uri, b in list(current.items()):
                if b.call_id != call_id or cseq > b.cseq:
                    del current[uri]
                    changes.append(Change(aor, uri, False))
            return self._ok(req, aor, now), changes
        for na in req.contacts():
            expires = _int(na.params.get("expires"))
            expires = header_expires if expires is None else expires
            expires = DEFAULT_EXPIRES if expires is None else expires
            if 0 < expires < MIN_EXPIRES:
                resp = req.response(423)
                resp.add("min-expires", str(MIN_EXPIRES))
                return resp, []
            uri = str(na.uri)
            old = current.get(uri)
            if old is not None and old.call_id == call_id and cseq <= old.cseq:
                return req.response(500, "Out of order"), []
            if expires == 0:
                if current.pop(uri, None) is not None:
                    changes.append(Change(aor, uri, False))
                continue
            q = float(na.params.get("q") or 1.0)
            current[uri] = Binding(uri, now + min(expires, MAX_EXPIRES), q, call_id, cseq, source, req.get("user-agent") or "")
            if old is None:
                changes.append(Change(aor, uri, True))
        if not current:
            del self.bindings[aor]
        return self._ok(req, aor, now), changes

    def _ok(self, req: Request, aor: str, now: float) -> Response:
        resp = req.response(200)
        for b in self.lookup(aor, now):
            resp.add("contact", f"<{b.contact}>;expires={max(0, int(b.expires_at - now))};q={b.q:g}")
        return resp

    def snapshot(self) -> dict[str, list[dict[str, object]]]:
        return {aor: [asdict(b) for b in contacts.values()] for aor, contacts in self.bindings.items()}

    @classmethod
    def restore(cls, data: dict[str, list[dict[str, object]]], now: float) -> LocationService:
        svc = cls()
        for aor, items in data.items():
            for item in items:
                b = Binding(**item)  # type: ignore[arg-type]
                if b.expires_at > now:
                    svc.bindings.setdefault(aor, {})[b.contact] = b
        return svc


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    value = value.strip()
    if not value.isdigit():
        raise SipParseError(f"bad expires value {value!r}")
    return int(value)
