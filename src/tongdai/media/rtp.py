"""RTP packets (RFC 3550) and telephone-event payloads (RFC 4733): parse and build, no I/O."""

from __future__ import annotations

import struct
from dataclasses import dataclass

RTP_VERSION = 2
HEADER = struct.Struct("!BBHII")
EVENT = struct.Struct("!BBH")

# RFC 4733 section 3.2: events 0-9 are the digits, 10 and 11 are * and #, 12-15 are A-D.
EVENT_DIGITS = "0123456789*#ABCD"


class RtpError(ValueError):
    """A datagram that is not a well-formed RTP packet or telephone-event payload."""


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One RTP packet; `payload` excludes any padding."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrcs: tuple[int, ...] = ()
    extension: tuple[int, bytes] | None = None
    """(profile-defined id, extension data) of a header extension, if any."""
    padding: int = 0
    """Bytes of padding to add when built (the count is the last byte, RFC 3550 5.1)."""

    def to_bytes(self) -> bytes:
        """The packet on the wire."""
        first = (RTP_VERSION << 6) | (0x20 if self.padding else 0) | (0x10 if self.extension else 0)
        first |= len(self.csrcs)
        second = (0x80 if self.marker else 0) | (self.payload_type & 0x7F)
        parts = [HEADER.pack(first, second, self.sequence & 0xFFFF, self.timestamp & 0xFFFFFFFF,
                             self.ssrc & 0xFFFFFFFF)]
        parts += [struct.pack("!I", c) for c in self.csrcs]
        if self.extension is not None:
            profile, data = self.extension
            if len(data) % 4:
                raise RtpError("header extension length must be a multiple of 4 bytes")
            parts.append(struct.pack("!HH", profile, len(data) // 4) + data)
        parts.append(self.payload)
        if self.padding:
            parts.append(bytes(self.padding - 1) + bytes([self.padding]))
        return b"".join(parts)


def parse(data: bytes) -> RtpPacket:
    """Parse one RTP packet; raise `RtpError` if it is not one."""
    if len(data) < HEADER.size:
        raise RtpError("shorter than an RTP header")
    first, second, seq, ts, ssrc = HEADER.unpack_from(data)
    if first >> 6 != RTP_VERSION:
        raise RtpError(f"RTP version {first >> 6}")
    offset = HEADER.size + 4 * (first & 0x0F)
    if len(data) < offset:
        raise RtpError("CSRC list runs past the end")
    csrcs = struct.unpack_from(f"!{first & 0x0F}I", data, HEADER.size)
    extension = None
    if first & 0x10:
        offset, extension = _parse_extension(data, offset)
    end = len(data)
    padding = 0
    if first & 0x20:
        padding = data[-1]
        if padding == 0 or end - padding < offset:
            raise RtpError("bad padding count")
        end -= padding
    return RtpPacket(second & 0x7F, seq, ts, ssrc, bytes(data[offset:end]), bool(second & 0x80),
                     tuple(csrcs), extension, padding)


def _parse_extension(data: bytes, offset: int) -> tuple[int, tuple[int, bytes]]:
    """(offset after the extension, (profile, data))."""
    if len(data) < offset + 4:
        raise RtpError("header extension runs past the end")
    profile, words = struct.unpack_from("!HH", data, offset)
    end = offset + 4 + 4 * words
    if len(data) < end:
        raise RtpError("header extension runs past the end")
    return end, (profile, bytes(data[offset + 4:end]))


def looks_like_rtp(data: bytes) -> bool:
    """A cheap check (version 2, not RTCP's payload types 72-76 with the marker) for demultiplexing."""
    return len(data) >= HEADER.size and data[0] >> 6 == RTP_VERSION and not 72 <= (data[1] & 0x7F) <= 76


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """An RFC 4733 named-event payload: event code, end bit, volume (-dBm0) and duration in samples."""

    event: int
    end: bool = False
    volume: int = 10
    duration: int = 0

    @property
    def digit(self) -> str | None:
        """The DTMF digit of this event, or None for other events (flash, tones)."""
        return EVENT_DIGITS[self.event] if self.event < len(EVENT_DIGITS) else None

    def to_bytes(self) -> bytes:
        """The 4-byte payload."""
        return EVENT.pack(self.event, (0x80 if self.end else 0) | (self.volume & 0x3F), self.duration & 0xFFFF)


def parse_telephone_event(payload: bytes) -> TelephoneEvent:
    """Parse the first event of a telephone-event payload (RFC 4733 section 2.3)."""
    if len(payload) < EVENT.size:
        raise RtpError("telephone-event payload shorter than 4 bytes")
    event, flags, duration = EVENT.unpack_from(payload)
    return TelephoneEvent(event, bool(flags & 0x80), flags & 0x3F, duration)


def digit_event(digit: str) -> int:
    """The RFC 4733 event code of a DTMF digit."""
    index = EVENT_DIGITS.find(digit.upper())
    if len(digit) != 1 or index < 0:
        raise ValueError(f"not a DTMF digit: {digit!r}")
    return index
