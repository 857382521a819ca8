"""A plain RTP endpoint for checking media paths: sends a G.711 tone at 20 ms pacing and records
what arrives (count, payload bytes, loss, RFC 3550 jitter, transit-delta percentiles).

Used by the media self-tests, end-to-end tests and the media benchmark; it is an honest RTP peer on
a real UDP socket, not a fake.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tongdai.media import g711

HEADER = struct.Struct("!BBHII")
PTIME_S = 0.02


def tone_frames(freq_hz: float, seconds: float, codec: g711.Codec = g711.Codec.PCMU,
                amplitude: int = 8000) -> list[bytes]:
    """A sine tone as G.711 payloads of 20 ms."""
    n = int(seconds / PTIME_S) * g711.FRAME_SAMPLES
    t = np.arange(n) / g711.SAMPLE_RATE
    pcm = (amplitude * np.sin(2 * math.pi * freq_hz * t)).astype(np.int16)
    codes = g711.encode(codec, pcm).tobytes()
    return [codes[i : i + g711.FRAME_SAMPLES] for i in range(0, len(codes), g711.FRAME_SAMPLES)]


def sdp_media_address(sdp: str) -> tuple[str, int]:
    """The (address, port) of the first audio stream of an SDP (media-level c= wins)."""
    session_c = re.search(r"^c=IN IP[46] (\S+)", sdp, re.M)
    audio = re.search(r"^m=audio (\d+) .*?$(.*?)(?=^m=|\Z)", sdp, re.M | re.S)
    if audio is None:
        raise ValueError("no audio stream in the SDP")
    media_c = re.search(r"^c=IN IP[46] (\S+)", audio.group(2), re.M)
    conn = media_c or session_c
    if conn is None:
        raise ValueError("no connection address in the SDP")
    return conn.group(1), int(audio.group(1))


@dataclass
class Reception:
    """What one probe received."""

    packets: int = 0
    payload_bytes: int = 0
    payload_types: set[int] = field(default_factory=set)
    lost: int = 0
    jitter_ms: float = 0.0
    #: |transit(i) - transit(i-1)| in ms for each packet after the first (RFC 3550 D(i-1, i))
    deltas_ms: list[float] = field(default_factory=list)
    payloads: list[bytes] = field(default_factory=list)
    _last: tuple[int, float, int] | None = None  # seq, arrival, timestamp

    def add(self, seq: int, ts: int, pt: int, payload: bytes, arrival: float, clock: int, keep: bool) -> None:
        """Account one packet that arrived at `arrival` (seconds)."""
        self.packets += 1
        self.payload_bytes += len(payload)
        self.payload_types.add(pt)
        if keep:
            self.payloads.append(payload)
        if self._last is not None:
            last_seq, last_arrival, last_ts = self._last
            gap = (seq - last_seq) & 0xFFFF
            if 1 < gap < 0x8000:
                self.lost += gap - 1
            d = abs((arrival - last_arrival) - ((ts - last_ts) & 0xFFFFFFFF) / clock) * 1000
            if d < 10_000:  # a timestamp jump (new source) is not jitter
                self.deltas_ms.append(d)
                self.jitter_ms += (d - self.jitter_ms) / 16
        self._last = (seq, arrival, ts)

    def p99_ms(self) -> float:
        """99th percentile of the transit deltas."""
        return float(np.percentile(self.deltas_ms, 99)) if self.deltas_ms else 0.0


class RtpProbe(asyncio.DatagramProtocol):
    """One RTP endpoint on a UDP socket."""

    def __init__(self, *, clock_rate: int = 8000, keep_payloads: bool = False) -> None:
        self.clock_rate = clock_rate
        self.keep_payloads = keep_payloads
        self.received = Reception()
        self.remote: tuple[str, int] | None = None
        self.transport: asyncio.DatagramTransport | None = None
        self.ssrc = int.from_bytes(os.urandom(4), "big")
        self.sent = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    async def open(cls, host: str = "127.0.0.1", **kwargs: Any) -> RtpProbe:
        """A probe bound to a free port of `host`."""
        loop = asyncio.get_running_loop()
        _, probe = await loop.create_datagram_endpoint(lambda: cls(**kwargs), local_addr=(host, 0))
        return probe

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram endpoint's transport
        self._loop = asyncio.get_running_loop()

    @property
    def address(self) -> tuple[str, int]:
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    def sdp(self, session_id: int = 1, codecs: tuple[tuple[int, str], ...] = ((0, "PCMU/8000"),),
            telephone_event: int | None = 101) -> str:
        """An SDP offer/answer for this endpoint."""
        host, port = self.address
        pts = [str(pt) for pt, _ in codecs] + ([str(telephone_event)] if telephone_event is not None else [])
        lines = ["v=0", f"o=probe {session_id} 1 IN IP4 {host}", "s=-", f"c=IN IP4 {host}", "t=0 0",
                 f"m=audio {port} RTP/AVP {' '.join(pts)}"]
        lines += [f"a=rtpmap:{pt} {name}" for pt, name in codecs]
        if telephone_event is not None:
            lines += [f"a=rtpmap:{telephone_event} telephone-event/8000", f"a=fmtp:{telephone_event} 0-16"]
        lines += ["a=ptime:20", "a=sendrecv"]
        return "\r\n".join(lines) + "\r\n"

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if len(data) < HEADER.size or data[0] >> 6 != 2 or 72 <= (data[1] & 0x7F) <= 76:
            return  # not RTP, or RTCP
        _, second, seq, ts, _ = HEADER.unpack_from(data)
        assert self._loop is not None
        header = HEADER.size + 4 * (data[0] & 0x0F)
        self.received.add(seq, ts, second & 0x7F, data[header:], self._loop.time(), self.clock_rate,
                          self.keep_payloads)

    def send_frame(self, payload: bytes, seq: int, pt: int = 0) -> None:
        """Send one 20 ms frame to the remote address."""
        if self.transport is None or self.remote is None:
            return
        ts = seq * g711.FRAME_SAMPLES
        header = HEADER.pack(0x80, (0x80 if seq == 0 else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, self.ssrc)
        self.transport.sendto(header + payload, self.remote)
        self.sent += 1

    async def send(self, frames: list[bytes], pt: int = 0) -> None:
        """Send `frames` paced at 20 ms on the loop clock (no drift: each slot is computed from the start)."""
        assert self._loop is not None
        start = self._loop.time()
        for i, frame in enumerate(frames):
            delay = start + i * PTIME_S - self._loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self.send_frame(frame, i, pt)

    def close(self) -> None:
        """Close the socket."""
        if self.transport is not None:
            self.transport.close()
            self.transport = None
