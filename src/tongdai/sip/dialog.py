"""Dialogs (RFC 3261 section 12), sans-I/O: the state two user agents share after an INVITE is
answered, and the in-dialog requests built from it (BYE, re-INVITE, REFER, NOTIFY, INFO, ACK).

A `Dialog` is tongdai's side of one dialog: its own tag and URI, the peer's tag, URI and target, the
route set, and both CSeq counters. It checks the order of the peer's requests and numbers its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tongdai.sip.message import Request, Response, new_tag


@dataclass(frozen=True)
class DialogId:
    """Call-ID plus tongdai's tag plus the peer's tag (RFC 3261 12)."""

    call_id: str
    local_tag: str
    remote_tag: str


@dataclass
class Dialog:
    """tongdai's side of one dialog."""

    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: str  # the From (UAC) or To (UAS) header value without tag
    remote_uri: str
    remote_target: str  # the peer's Contact URI: where in-dialog requests go
    local_contact: str
    route_set: list[str] = field(default_factory=list)
    local_seq: int = 0
    remote_seq: int | None = None
    #: a re-INVITE we sent is waiting for its answer (RFC 3261 14.1: no second one meanwhile)
    pending_invite: bool = False
    #: a re-INVITE from the peer is being answered (RFC 3261 14.2: 500 to a second one)
    peer_invite: bool = False

    @property
    def id(self) -> DialogId:
        return DialogId(self.call_id, self.local_tag, self.remote_tag)

    @classmethod
    def as_uas(cls, invite: Request, local_tag: str, local_contact: str) -> Dialog:
        """The dialog a 2xx to `invite` creates on the answering side (RFC 3261 12.1.1)."""
        contacts = invite.contacts()
        return cls(
            call_id=invite.call_id, local_tag=local_tag, remote_tag=invite.from_().tag or "",
            local_uri=_without_tag(invite.get("to") or ""), remote_uri=_without_tag(invite.get("from") or ""),
            remote_target=str(contacts[0].uri) if contacts else invite.uri, local_contact=local_contact,
            route_set=[v for v in invite.get_all("record-route")], remote_seq=invite.cseq().number,
        )

    @classmethod
    def as_uac(cls, invite: Request, answer: Response, local_contact: str) -> Dialog:
        """The dialog a 2xx (or reliable 1xx) to our `invite` creates (RFC 3261 12.1.2)."""
        contacts = answer.contacts()
        return cls(
            call_id=invite.call_id, local_tag=invite.from_().tag or "", remote_tag=answer.to().tag or "",
            local_uri=_without_tag(invite.get("from") or ""), remote_uri=_without_tag(answer.get("to") or ""),
            remote_target=str(contacts[0].uri) if contacts else invite.uri, local_contact=local_contact,
            route_set=list(reversed(answer.get_all("record-route"))), local_seq=invite.cseq().number,
        )

    def accept_request(self, req: Request) -> int | None:
        """Check the order of a request from the peer: None if it may proceed, else the error status
        (500 for a CSeq lower than the last one, RFC 3261 12.2.2)."""
        if req.method in ("ACK", "CANCEL"):
            return None
        number = req.cseq().number
        if self.remote_seq is not None and number <= self.remote_seq:
            return 500
        self.remote_seq = number
        contacts = req.contacts() if req.method in ("INVITE", "UPDATE") else []
        if contacts:  # a target refresh (RFC 3261 12.2.2)
            self.remote_target = str(contacts[0].uri)
        return None

    def request(self, method: str, *, body: bytes = b"", content_type: str = "",
                extra: list[tuple[str, str]] | None = None) -> Request:
        """A new request in this dialog (RFC 3261 12.2.1.1); the stack adds the Via."""
        self.local_seq += 1
        headers = [
            ("max-forwards", "70"),
            ("from", f"{self.local_uri};tag={self.local_tag}"),
            ("to", f"{self.remote_uri};tag={self.remote_tag}"),
            ("call-id", self.call_id),
            ("cseq", f"{self.local_seq} {method}"),
            ("contact", self.local_contact),
        ]
        headers += [("route", r) for r in self.route_set]
        headers += extra or []
        if body:
            headers.append(("content-type", content_type or "application/sdp"))
        return Request(method, self.remote_target, headers, body)

    def refresh_target(self, answer: Response) -> None:
        """A 2xx to our re-INVITE may carry a new Contact."""
        contacts = answer.contacts()
        if contacts:
            self.remote_target = str(contacts[0].uri)


def _without_tag(value: str) -> str:
    """A From/To header value without its tag parameter."""
    parts = [p for p in value.split(";") if not p.strip().lower().startswith("tag=")]
    return ";".join(parts).strip()


def new_dialog_ids() -> tuple[str, str]:
    """A fresh Call-ID and local tag for a call tongdai places."""
    return new_tag() + new_tag(), new_tag()


def sipfrag(status: int, reason: str) -> bytes:
    """The body of a NOTIFY reporting a REFER's progress (RFC 3515: message/sipfrag)."""
    return f"SIP/2.0 {status} {reason}\r\n".encode()
