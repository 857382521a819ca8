"""SDP (RFC 4566) parse/serialise and offer/answer (RFC 3264) for audio."""

from __future__ import annotations

from dataclasses import dataclass, field

from tongdai.sip.errors import SipParseError

#: Static and common dynamic payload types: name/clock -> static PT (None: dynamic).
CODECS = {"PCMU/8000": 0, "PCMA/8000": 8, "G722/8000": 9, "opus/48000/2": None, "telephone-event/8000": None}
STATIC = {0: "PCMU/8000", 8: "PCMA/8000", 9: "G722/8000", 18: "G729/8000", 3: "GSM/8000"}
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")


@dataclass
class Media:
    kind: str
    port: int
    proto: str
    formats: list[str]
    attributes: list[tuple[str, str | None]] = field(default_factory=list)
    connection: str | None = None

    def rtpmap(self) -> dict[str, str]:
        out = {f: STATIC[int(f)] for f in self.formats if f.isdigit() and int(f) in STATIC}
        for name, value in self.attributes:
            if name == "rtpmap" and value:
                pt, _, enc = value.partition(" ")
                out[pt] = enc
        return out

    @property
    def direction(self) -> str:
        for name, _ in self.attributes:
            if name in DIRECTIONS:
                return name
        return "sendrecv"


@dataclass
class SessionDescription:
    origin: str
    name: str
    connection: str | None
    media: list[Media]
    attributes: list[tuple[str, str | None]] = field(default_factory=list)

    def __str__(self) -> str:
        lines = ["v=0", f"o={self.origin}", f"s={self.name}"]
        if self.connection:
            lines.append(f"c={self.connection}")
        lines.append("t=0 0")
        lines += [f"a={n}" if v is None else f"a={n}:{v}" for n, v in self.attributes]
        for m in self.media:
            lines.append(f"m={m.kind} {m.port} {m.proto} {' '.join(m.formats)}")
            if m.connection:
                lines.append(f"c={m.connection}")
            lines += [f"a={n}" if v is None else f"a={n}:{v}" for n, v in m.attributes]
        return "\r\n".join(lines) + "\r\n"


def parse_sdp(text: str) -> SessionDescription:
    origin = name = ""
    connection: str | None = None
    media: list[Media] = []
    attributes: list[tuple[str, str | None]] = []
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if not line:
            continue
        if len(line) < 2 or line[1] != "=":
            raise SipParseError(f"bad SDP line {line[:40]!r}")
        key, value = line[0], line[2:]
        if key == "o":
            origin = value
        elif key == "s":
            name = value
        elif key == "c":
            if media:
                media[-1].connection = value
            else:
                connection = value
        elif key == "m":
            parts = value.split()
            if len(parts) < 4 or not parts[1].split("/")[0].isdigit():
                raise SipParseError(f"bad SDP media line {value[:40]!r}")
            media.append(Media(parts[0], int(parts[1].split("/")[0]), parts[2], parts[3:]))
        elif key == "a":
            n, colon, v = value.partition(":")
            (media[-1].attributes if media else attributes).append((n, v if colon else None))
    if not media and not origin:
        raise SipParseError("empty SDP")
    return SessionDescription(origin, name, connection, media, attributes)


_MIRROR = {"sendrecv": "sendrecv", "sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive"}
_SENDS = {"sendrecv": (True, True), "sendonly": (True, False), "recvonly": (False, True), "inactive": (False, False)}


def answer_direction(offered: str, ours: str = "sendrecv") -> str:
    """The direction of an answer (RFC 3264 6.1): the offer mirrored, limited by what we can do.
    A hold offer (sendonly) gets recvonly; inactive stays inactive."""
    mirrored = _MIRROR.get(offered, "sendrecv")
    send = _SENDS[mirrored][0] and _SENDS[ours][0]
    recv = _SENDS[mirrored][1] and _SENDS[ours][1]
    return _DIRECTION_OF[(send, recv)]


_DIRECTION_OF = {(True, True): "sendrecv", (True, False): "sendonly", (False, True): "recvonly",
                 (False, False): "inactive"}


_WANTED: dict[tuple[str, ...], frozenset[str]] = {("PCMU/8000", "PCMA/8000"): frozenset({"pcmu/8000", "pcma/8000"})}


def answer_audio(offer: SessionDescription, *, address: str, port: int, preferred: tuple[str, ...] = ("PCMU/8000", "PCMA/8000"),
                 direction: str = "sendrecv", session_id: int = 1) -> SessionDescription:
    """An answer accepting the first offered audio stream with the first codec we both have (and
    telephone-event when offered); other streams are refused with port 0. `direction` is what we can
    do; the answer mirrors the offer within it (hold: sendonly -> recvonly)."""
    out: list[Media] = []
    chosen = False
    wanted = _WANTED.get(preferred) or {c.lower() for c in preferred}
    for m in offer.media:
        if m.kind != "audio" or chosen:
            out.append(Media(m.kind, 0, m.proto, m.formats[:1]))
            continue
        rtpmap = m.rtpmap()
        by_name = {enc.lower(): pt for pt, enc in rtpmap.items()}
        # the offerer's order wins (RFC 3264 6.1) among the codecs we take
        codec = None
        for pt in m.formats:
            if rtpmap.get(pt, "").lower() in wanted:
                codec = pt
                break
        if codec is None:
            out.append(Media(m.kind, 0, m.proto, m.formats[:1]))
            continue
        formats = [codec]
        attrs: list[tuple[str, str | None]] = [("rtpmap", f"{codec} {rtpmap[codec]}")]
        dtmf = by_name.get("telephone-event/8000")
        if dtmf is not None:
            formats.append(dtmf)
            attrs += [("rtpmap", f"{dtmf} telephone-event/8000"), ("fmtp", f"{dtmf} 0-16")]
        attrs += [("ptime", "20"), (answer_direction(m.direction, direction), None)]
        out.append(Media("audio", port, m.proto, formats, attrs))
        chosen = True
    if not chosen:
        raise SipParseError("no common audio codec", status=488)
    return SessionDescription(f"tongdai {session_id} {session_id} IN IP4 {address}", "tongdai",
                              f"IN IP4 {address}", out)
