"""The DSP worker: Python RTP endpoints that rtpengine (or any RTP peer) connects to.

Each participant of a conference gets one UDP socket on the worker's host. Incoming G.711 goes into a
per-leg jitter buffer; every 20 ms one timer (`loop.call_at` on an absolute schedule, so it does not
drift) pops a frame per leg, mixes each conference with `Mixer`, runs in-band DTMF detection where
asked, and sends each leg its own mix. The jitter buffer is pure and tested on its own.

A recording runs on two receive-only legs that rtpengine forks the call's media to; once the call is
mixed here (`record_mix`), its parties no longer send through rtpengine, so the recording takes its
channels from the mix instead: the caller's own frame left, everyone else's voices right.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import cast

import numpy as np

from tongdai.media import g711, rtp
from tongdai.media.dtmf import DtmfDigit, InbandDtmfDetector, Rfc4733Tracker
from tongdai.media.g711 import FRAME_SAMPLES, Codec, Pcm
from tongdai.media.mixer import Mixer, Mode, ParticipantId
from tongdai.media.recording import CallRecorder, Channel, StoredRecording

log = logging.getLogger(__name__)

Address = tuple[str, int]
ConferenceId = Hashable
DigitCallback = Callable[[ConferenceId, ParticipantId, DtmfDigit], None]
TELEPHONE_EVENT_PT = 101


def _signed32(value: int) -> int:
    """An RTP timestamp difference as a signed number (timestamps wrap at 2**32)."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


class JitterBuffer:
    """A playout buffer addressed by RTP timestamp, in samples: tolerant of reordering, loss and any ptime.

    Playout starts once `prefetch` samples are buffered. Late samples are dropped; a stream that runs
    ahead by more than `max_delay` (clock drift, a burst) is skipped forward; after an underrun the
    buffer waits to refill and resynchronises on the next packet, so a peer that restarts its
    timestamps (new SSRC, hold and resume) is followed.
    """

    def __init__(self, prefetch: int = 320, max_delay: int = 1600, capacity: int = 16000) -> None:
        self.prefetch, self.max_delay, self.capacity = prefetch, max_delay, capacity
        self._data = np.zeros(capacity, dtype=np.int16)
        self._filled = np.zeros(capacity, dtype=bool)
        self._cursor: int | None = None  # RTP timestamp of the next sample to play
        self._head = 0  # ring index of the cursor
        self._ahead = 0  # samples from the cursor to the newest sample written
        self._playing = False
        self._ssrc: int | None = None
        self.late = 0
        self.skipped = 0

    def push(self, timestamp: int, samples: Pcm, ssrc: int = 0) -> None:
        """Store one packet's samples."""
        if self._cursor is None or ssrc != self._ssrc:
            self._reset(timestamp, ssrc)
        assert self._cursor is not None
        offset = _signed32(timestamp - self._cursor)
        if offset < 0 and not self._playing and self._ahead == 0:
            self._reset(timestamp, ssrc)  # idle after an underrun: follow the peer's new timeline
            offset = 0
        if offset < 0:
            self.late += 1
            samples, offset = samples[-offset:], 0
        if offset + len(samples) > self.capacity:
            self._reset(timestamp, ssrc)
            offset = 0
        self._write(offset, samples)
        self._ahead = max(self._ahead, offset + len(samples))

    def pop(self, count: int = FRAME_SAMPLES) -> Pcm | None:
        """The next `count` samples to play (gaps as zeros), or None when there is nothing to play."""
        if self._cursor is None:
            return None
        if not self._playing:
            if self._ahead < self.prefetch:
                return None
            self._playing = True
        if self._ahead > self.max_delay:
            self._advance(self._ahead - self.prefetch)  # too far behind the sender: catch up
            self.skipped += 1
        frame, had_audio = self._read(count)
        self._advance(count)
        if self._ahead <= 0:
            self._playing, self._ahead = False, 0  # underrun: refill before playing again
        return frame if had_audio else None

    def _slices(self, offset: int, count: int) -> list[tuple[slice, slice]]:
        """(ring slice, source slice) pairs covering `count` samples from `offset` past the cursor."""
        start = (self._head + offset) % self.capacity
        first = min(count, self.capacity - start)
        parts = [(slice(start, start + first), slice(0, first))]
        if first < count:
            parts.append((slice(0, count - first), slice(first, count)))
        return parts

    def _write(self, offset: int, samples: Pcm) -> None:
        for ring, src in self._slices(offset, len(samples)):
            self._data[ring] = samples[src]
            self._filled[ring] = True

    def _read(self, count: int) -> tuple[Pcm, bool]:
        """The next `count` samples (zeros where unfilled: consumed samples are zeroed) and whether any was filled."""
        parts = self._slices(0, count)
        frame = np.concatenate([self._data[ring] for ring, _ in parts]) if len(parts) > 1 else self._data[parts[0][0]].copy()
        return frame, any(bool(self._filled[ring].any()) for ring, _ in parts)

    def _advance(self, count: int) -> None:
        for ring, _ in self._slices(0, min(count, self.capacity)):
            self._filled[ring] = False
            self._data[ring] = 0
        self._head = (self._head + count) % self.capacity
        assert self._cursor is not None
        self._cursor = (self._cursor + count) & 0xFFFFFFFF
        self._ahead -= count

    def _reset(self, timestamp: int, ssrc: int) -> None:
        self._filled[:] = False
        self._data[:] = 0
        self._cursor, self._head, self._ahead, self._playing, self._ssrc = timestamp, 0, 0, False, ssrc


_G711_BY_PT = {codec.payload_type: codec for codec in g711.Codec}


@dataclass(slots=True)
class LegStats:
    """Counters of one leg."""

    received: int = 0
    sent: int = 0
    malformed: int = 0
    other_payload: int = 0


@dataclass(eq=False)
class Leg(asyncio.DatagramProtocol):
    """One participant's RTP endpoint."""

    conference: ConferenceId
    participant: ParticipantId
    codec: Codec
    remote: Address | None = None
    """Where to send; learnt from the first packet received when not given (symmetric RTP)."""
    detect_dtmf: bool = False
    on_digit: DigitCallback | None = None
    jitter: JitterBuffer = field(default_factory=JitterBuffer)
    stats: LegStats = field(default_factory=LegStats)
    transport: asyncio.DatagramTransport | None = None
    _latched: bool = False
    _seq: int = field(default_factory=lambda: random.randrange(1 << 16))
    _ts: int = field(default_factory=lambda: random.randrange(1 << 32))
    _ssrc: int = field(default_factory=lambda: random.randrange(1 << 32))
    _detector: InbandDtmfDetector | None = None
    _events: Rfc4733Tracker = field(default_factory=Rfc4733Tracker)

    def __post_init__(self) -> None:
        self._latched = self.remote is not None
        if self.detect_dtmf:
            self._detector = InbandDtmfDetector()

    @property
    def local_address(self) -> Address:
        """The (host, port) this leg receives on."""
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's datagram transport does not subclass DatagramTransport: cast, not check.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        try:
            packet = rtp.parse(data)
        except rtp.RtpError:
            self.stats.malformed += 1
            return
        if not self._latched:
            self.remote, self._latched = addr, True
        self.stats.received += 1
        codec = _G711_BY_PT.get(packet.payload_type)
        if codec is not None:  # either law, whatever the leg was opened with: a fork relays what the party sends
            self.jitter.push(packet.timestamp, g711.decode(codec, np.frombuffer(packet.payload, np.uint8)),
                             packet.ssrc)
        elif packet.payload_type == TELEPHONE_EVENT_PT:
            self._report(self._events_receive(packet))
        else:
            self.stats.other_payload += 1

    def _events_receive(self, packet: rtp.RtpPacket) -> list[DtmfDigit]:
        try:
            return self._events.receive(packet, asyncio.get_running_loop().time())
        except rtp.RtpError:
            self.stats.malformed += 1
            return []

    def next_frame(self, now: float) -> Pcm | None:
        """Pop this tick's frame and run the detectors on it."""
        frame = self.jitter.pop(FRAME_SAMPLES)
        if self._detector is not None:
            self._report(self._detector.feed(frame if frame is not None else np.zeros(FRAME_SAMPLES, np.int16)))
        self._report(self._events.tick(now))
        return frame

    def send_frame(self, frame: Pcm, ticks: int = 1) -> None:
        """Send one mixed frame; `ticks` > 1 after the loop skipped ticks keeps timestamps on wall time."""
        self.send_payload(g711.encode(self.codec, frame).tobytes(), ticks)

    def send_payload(self, payload: bytes, ticks: int = 1) -> None:
        """Send one frame already encoded in this leg's codec."""
        self._ts = (self._ts + (ticks - 1) * FRAME_SAMPLES) & 0xFFFFFFFF
        if self.remote is not None and self.transport is not None:
            packet = rtp.RtpPacket(self.codec.payload_type, self._seq, self._ts, self._ssrc, payload)
            self.transport.sendto(packet.to_bytes(), self.remote)
            self.stats.sent += 1
        self._seq = (self._seq + 1) & 0xFFFF
        self._ts = (self._ts + FRAME_SAMPLES) & 0xFFFFFFFF

    def _report(self, digits: list[DtmfDigit]) -> None:
        for digit in digits:
            if self.on_digit is not None:
                self.on_digit(self.conference, self.participant, digit)


class DspWorker:
    """Conferences of RTP legs mixed every 20 ms on the running event loop."""

    name = "dsp"

    def __init__(self, host: str = "127.0.0.1", *, ptime: float = 0.02, on_digit: DigitCallback | None = None,
                 max_late_ticks: int = 5) -> None:
        self.host, self.ptime, self.on_digit, self.max_late_ticks = host, ptime, on_digit, max_late_ticks
        self._mixers: dict[ConferenceId, Mixer] = {}
        self._legs: dict[ConferenceId, dict[ParticipantId, Leg]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._recordings: dict[Hashable, tuple[CallRecorder, dict[Channel, Leg]]] = {}
        #: recordings fed from a conference's mix: recording -> (conference, the caller's participant id)
        self._mixed: dict[Hashable, tuple[ConferenceId, ParticipantId]] = {}
        self._next = 0.0
        self.ticks = 0
        self.late_ticks = 0

    async def start(self) -> None:
        """Start the 20 ms clock."""
        loop = asyncio.get_running_loop()
        self._next = loop.time() + self.ptime
        self._timer = loop.call_at(self._next, self._tick)

    async def stop(self) -> None:
        """Stop the clock, finish every recording and close every leg."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for recording in list(self._recordings):
            self.stop_recording(recording)
        for conference in list(self._legs):
            for pid in list(self._legs[conference]):
                await self.remove_participant(conference, pid)

    def ready(self) -> bool:
        """Whether the clock runs."""
        return self._timer is not None

    async def add_participant(self, conference: ConferenceId, participant: ParticipantId, *,
                              codec: Codec = Codec.PCMU, mode: Mode = Mode.NORMAL,
                              whisper_to: ParticipantId | None = None, remote: Address | None = None,
                              detect_dtmf: bool = False) -> Address:
        """Open a leg for a participant; return the local (host, port) its peer should send RTP to."""
        mixer = self._mixers.setdefault(conference, Mixer())
        mixer.add(participant, mode, whisper_to)
        leg = Leg(conference, participant, codec, remote, detect_dtmf, self.on_digit)
        try:
            await asyncio.get_running_loop().create_datagram_endpoint(lambda: leg, local_addr=(self.host, 0))
        except OSError:
            mixer.remove(participant)
            raise
        self._legs.setdefault(conference, {})[participant] = leg
        return leg.local_address

    def set_mode(self, conference: ConferenceId, participant: ParticipantId, mode: Mode,
                 whisper_to: ParticipantId | None = None) -> None:
        """Switch a participant between normal, listen, whisper and barge."""
        self._mixers[conference].set_mode(participant, mode, whisper_to)

    def set_remote(self, conference: ConferenceId, participant: ParticipantId, remote: Address) -> None:
        """Send this leg's audio to `remote` (from the SDP) instead of latching on the first packet."""
        leg = self.leg(conference, participant)
        leg.remote, leg._latched = remote, True

    def leg(self, conference: ConferenceId, participant: ParticipantId) -> Leg:
        """The leg of one participant."""
        return self._legs[conference][participant]

    async def remove_participant(self, conference: ConferenceId, participant: ParticipantId) -> None:
        """Close a participant's leg; the conference goes when its last leg does."""
        leg = self._legs[conference].pop(participant)
        self._mixers[conference].remove(participant)
        if leg.transport is not None:
            leg.transport.close()
        if not self._legs[conference]:
            del self._legs[conference], self._mixers[conference]

    def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        behind = int((now - self._next) / self.ptime)
        ticks = 1
        if behind > self.max_late_ticks:
            # The loop stalled: skip the missed ticks rather than send a burst; timestamps jump over them.
            self.late_ticks += behind
            self._next += behind * self.ptime
            ticks += behind
        try:
            self._mix_all(now, ticks)
        except Exception:
            log.exception("dsp tick failed")  # one bad tick must not stop every conference's clock
        self.ticks += 1
        self._next += self.ptime
        self._timer = loop.call_at(self._next, self._tick)

    async def start_recording(self, recording: Hashable, recorder: CallRecorder,
                              codec: Codec = Codec.PCMU) -> dict[Channel, Address]:
        """Open two receive-only legs (caller, agent) feeding `recorder`; return their addresses.

        rtpengine forks each leg of the call to these (`subscribe request`); the worker's clock feeds
        both channels on the same tick, so they stay aligned whatever the packets do.
        """
        loop = asyncio.get_running_loop()
        legs: dict[Channel, Leg] = {}
        for channel in Channel:
            leg = Leg(recording, channel.name.lower(), codec)
            await loop.create_datagram_endpoint(lambda leg=leg: leg, local_addr=(self.host, 0))  # type: ignore[misc]
            legs[channel] = leg
        now = loop.time()
        recorder.start(now)
        if recording in self._mixed:  # started on a call already mixed: recorded from the mix from the start
            recorder.mark("mixed", now)
        self._recordings[recording] = (recorder, legs)
        return {channel: leg.local_address for channel, leg in legs.items()}

    def record_mix(self, recording: Hashable, conference: ConferenceId, caller: ParticipantId) -> None:
        """From the next tick on, `recording` (running now or started later) records `conference`'s mix:
        `caller`'s frames on the caller channel, every other voice on the agent channel."""
        self._mixed[recording] = (conference, caller)
        if recording in self._recordings:
            recorder = self._recordings[recording][0]
            recorder.mark("mixed", self._next - self.ptime)

    def unrecord_mix(self, recording: Hashable) -> None:
        """`recording` goes back to its own legs (the conference closed)."""
        self._mixed.pop(recording, None)

    def recorder(self, recording: Hashable) -> CallRecorder:
        """The recorder of a running recording (to pause and resume it)."""
        return self._recordings[recording][0]

    def stop_recording(self, recording: Hashable) -> StoredRecording:
        """Finish a recording: close its legs and finalise the file."""
        recorder, legs = self._recordings.pop(recording)
        for leg in legs.values():
            if leg.transport is not None:
                leg.transport.close()
        return recorder.stop(asyncio.get_running_loop().time())

    def _record_all(self, now: float, mixed: dict[ConferenceId, dict[ParticipantId, Pcm | None]]) -> None:
        for recording, (recorder, legs) in self._recordings.items():
            # Frames leave the jitter buffer `prefetch` late, so they are stamped with the tick's time
            # minus the frame length: both channels share the stamp, which is what keeps them aligned.
            at = now - self.ptime
            frames = {channel: leg.jitter.pop(FRAME_SAMPLES) for channel, leg in legs.items()}
            link = self._mixed.get(recording)
            if link is not None:
                # mixed: the fork legs are drained but not used (a browser party still reaches them
                # through rtpengine, and would be recorded twice)
                conference, caller = link
                caller_frame, others = self._mixers[conference].sides(mixed[conference], caller) \
                    if conference in mixed else (None, None)
                frames = {Channel.CALLER: caller_frame, Channel.AGENT: others}
            for channel, frame in frames.items():
                if frame is not None:
                    recorder.feed(channel, at, frame)
            recorder.flush(now)

    def _mix_all(self, now: float, ticks: int) -> None:
        inputs: dict[ConferenceId, dict[ParticipantId, Pcm | None]] = {}
        for conference, legs in self._legs.items():
            frames = inputs[conference] = {pid: leg.next_frame(now) for pid, leg in legs.items()}
            mixed = self._mixers[conference].mix_rows(frames)
            # One table lookup per codec for the whole conference, then one row per leg.
            encoded = {codec: g711.encode(codec, mixed) for codec in {leg.codec for leg in legs.values()}}
            for row, member in enumerate(self._mixers[conference].participants):
                leg = legs[member.id]
                leg.send_payload(encoded[leg.codec][row].tobytes(), ticks)
        self._record_all(self._next, inputs)
