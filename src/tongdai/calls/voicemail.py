"""Voicemail: record what a caller says and e-mail it.

`Voicemails.record` forks the caller's media in rtpengine to a receive-only leg of the DSP worker (the
mechanism of call recording, calls/recording.py) until `max_s` seconds have passed, the caller presses
a stop key (rtpengine's RFC 4733 report on the bus) or hangs up; the file is kept as an 8 kHz mono WAV
under `<recordings>/voicemail/<tenant>/<yyyy>/<mm>/<dd>/<call id>.wav` with a JSON sidecar.
`Voicemails.send` builds the e-mail (who called, when, how long, the WAV attached) and puts it in the
durable outbox (notify/mail.py), which sends it when the SMTP server takes it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import wave
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from sqlalchemy import select

from tongdai.calls.b2bua import PASSTHROUGH, Call, Leg
from tongdai.calls.events import CallEnded
from tongdai.calls.recording import codec_of, listener_answer
from tongdai.core.db import Database
from tongdai.core.events import EventBus
from tongdai.directory.models import Queue
from tongdai.iam.models import Tenant
from tongdai.media.dsp_worker import DspWorker
from tongdai.media.engine_events import RtpengineDigit
from tongdai.media.recording import CallRecorder, Channel, LocalRecordingStorage, RecordingInfo
from tongdai.notify.mail import Outbox

log = logging.getLogger(__name__)

RATE = 8000
#: a 20 ms frame louder than this (RMS, 16-bit) counts as sound (about -40 dBFS: above line hiss)
SOUND_RMS = 300.0
#: less sound than this and the e-mail says the message may be empty
SHORT_S = 1.0
_UNSAFE = re.compile(r"[^0-9A-Za-z+_-]")


@dataclass(frozen=True, slots=True)
class Recorded:
    """A voicemail on disk: its WAV, its length and how much of it holds sound."""

    path: Path
    seconds: float
    sound_s: float
    started_at: datetime
    #: why recording stopped: "max_s", "key" or "hangup"
    ended_by: str
    call_id: str

    @property
    def short(self) -> bool:
        """Less than about a second of sound (the caller may have said nothing)."""
        return self.sound_s < SHORT_S


@dataclass(slots=True)
class _Listening:
    stop: asyncio.Event
    keys: str
    ended_by: str = ""


class Voicemails:
    """Records callers' messages and e-mails them through the outbox."""

    def __init__(self, dsp: DspWorker, root: Path, outbox: Outbox, *, db: Database | None = None,
                 bus: EventBus | None = None, sender: str = "") -> None:
        self.dsp, self.outbox, self.db, self.sender = dsp, outbox, db, sender
        self.root = Path(root)
        self.storage = LocalRecordingStorage(self.root)
        self._listening: dict[str, _Listening] = {}
        if bus is not None:
            bus.subscribe(RtpengineDigit, self._digit)
            bus.subscribe(CallEnded, self._call_ended)

    # --- recording ---
    async def record(self, call: Call, leg: Leg, *, max_s: float, stop_keys: str = "#") -> Recorded | None:
        """Record `leg` (the caller) for up to `max_s` seconds, until a key of `stop_keys` or hang-up;
        None when there is nothing to record from (no rtpengine, caller gone, fork refused)."""
        if call.anchor is PASSTHROUGH or leg.dialog is None or leg.ended or call.ended is not None:
            return None
        key = f"voicemail-{call.id}"
        listening = self._listening[call.id] = _Listening(asyncio.Event(), stop_keys)
        started_at = datetime.now(UTC)
        try:
            if not await self._fork(call, leg, key, started_at):
                return None
            ended_by = "cancelled"
            try:
                ended_by = await self._wait(listening, leg, max_s)
            finally:  # cancelled too: the file is finished, never left open
                stored = self.dsp.stop_recording(key)
        finally:
            self._listening.pop(call.id, None)
        path = self.root / stored.location
        seconds, sound_s = await asyncio.to_thread(to_mono, path)
        log.info("voicemail recorded", extra={"call_id": call.id, "seconds": seconds, "ended_by": ended_by})
        return Recorded(path, seconds, sound_s, started_at, ended_by, call.id)

    async def _fork(self, call: Call, leg: Leg, key: str, started_at: datetime) -> bool:
        """Fork the caller's media to a DSP worker recorder; False (logged) when it cannot be done."""
        assert leg.dialog is not None
        anchor = call.anchor
        info = RecordingInfo(call_id=call.id, tenant=call.tenant_id or "none", started_at=started_at,
                             queue=call.queue or None)
        started = False
        try:
            tag, offer = await anchor.fork(call.id, [leg.dialog.local_tag])  # type: ignore[attr-defined]
            addresses = await self.dsp.start_recording(key, CallRecorder(info, self.storage), codec_of(offer))
            started = True
            await anchor.fork_answer(call.id, tag, listener_answer(offer, addresses[Channel.CALLER]))  # type: ignore[attr-defined]
        except Exception:
            log.exception("voicemail could not be recorded", extra={"call_id": call.id})
            if started:
                stored = self.dsp.stop_recording(key)
                (self.root / stored.location).unlink(missing_ok=True)
                (self.root / stored.location).with_suffix(".json").unlink(missing_ok=True)
            return False
        return True

    async def _wait(self, listening: _Listening, leg: Leg, max_s: float) -> str:
        """Until a stop key, hang-up or `max_s`; why it ended."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_s
        while not listening.ended_by:
            left = deadline - loop.time()
            if left <= 0:
                return "max_s"
            if leg.ended or leg.call.ended is not None:  # also without a bus to say so
                return "hangup"
            try:  # asyncio.timeout: Python 3.11's wait_for can swallow a cancellation of the caller
                async with asyncio.timeout(min(left, 0.5)):
                    await listening.stop.wait()
            except TimeoutError:
                continue
        return listening.ended_by

    async def _digit(self, event: RtpengineDigit) -> None:
        listening = self._listening.get(event.call_id)
        if listening is not None and event.digit in listening.keys:
            listening.ended_by = listening.ended_by or "key"
            listening.stop.set()

    async def _call_ended(self, event: CallEnded) -> None:
        listening = self._listening.get(event.call_id)
        if listening is not None:
            listening.ended_by = listening.ended_by or "hangup"
            listening.stop.set()

    # --- e-mail ---
    async def send(self, recorded: Recorded, *, to: str = "", tenant_id: str | None, queue: str, caller: str,
                   call_id: str) -> str | None:
        """E-mail `recorded` to `to`, else to the queue's address; the outbox id (None: no address)."""
        address = to or await self.queue_email(tenant_id, queue)
        if not address:
            log.warning("voicemail kept but not e-mailed: no address for queue %r", queue,
                        extra={"call_id": call_id, "file": str(recorded.path)})
            return None
        zone = await self.tenant_zone(tenant_id)
        wav = await asyncio.to_thread(recorded.path.read_bytes)
        message = voicemail_message(recorded, wav, to=address, sender=self.sender, queue=queue, caller=caller,
                                    call_id=call_id, zone=zone)
        return await asyncio.to_thread(self.outbox.put, message)

    async def leave(self, call: Call, leg: Leg, *, max_s: float, queue: str, email: str = "",
                    stop_keys: str = "#") -> Recorded | None:
        """Record the caller, then e-mail the message (a flow's `voicemail` node in one call)."""
        recorded = await self.record(call, leg, max_s=max_s, stop_keys=stop_keys)
        if recorded is not None:
            await self.send(recorded, to=email, tenant_id=call.tenant_id, queue=queue, caller=call.caller,
                            call_id=call.id)
        return recorded

    async def queue_email(self, tenant_id: str | None, queue: str) -> str:
        """The queue's e-mail address from the directory ("" when none)."""
        if self.db is None or not queue:
            return ""
        async with self.db.sessionmaker() as session:
            found = (await session.execute(select(Queue.email).where(
                Queue.tenant_id == tenant_id, Queue.name == queue))).scalar_one_or_none()
        return found or ""

    async def tenant_zone(self, tenant_id: str | None) -> ZoneInfo:
        """The tenant's time zone, for the time in the e-mail (UTC when unknown)."""
        if self.db is None or tenant_id is None:
            return ZoneInfo("UTC")
        async with self.db.sessionmaker() as session:
            name = (await session.execute(select(Tenant.timezone).where(Tenant.id == tenant_id))).scalar()
        try:
            return ZoneInfo(name or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")


def voicemail_message(recorded: Recorded, wav: bytes, *, to: str, sender: str, queue: str, caller: str,
                      call_id: str, zone: ZoneInfo) -> EmailMessage:
    """The e-mail of one voicemail: subject with the caller and the queue, the facts, the WAV attached."""
    local = recorded.started_at.astimezone(zone)
    who = caller or "an unknown number"
    msg = EmailMessage()
    msg["Subject"] = f"Voicemail from {who} in queue {queue or '-'}"
    msg["To"] = to
    if sender:
        msg["From"] = sender
    lines = [f"{who} left a voicemail in queue {queue or '-'}.", "",
             f"Caller:    {who}",
             f"Queue:     {queue or '-'}",
             f"Received:  {local:%Y-%m-%d %H:%M:%S} ({zone.key})",
             f"Duration:  {recorded.seconds:.1f} s",
             f"Call:      {call_id}", ""]
    if recorded.short:
        lines += ["The message holds less than a second of sound: the caller may have hung up without "
                  "speaking.", ""]
    lines.append("The recording is attached (WAV, 8 kHz mono).")
    msg.set_content("\n".join(lines) + "\n")
    name = f"voicemail-{_UNSAFE.sub('_', caller) or 'unknown'}-{local:%Y%m%d-%H%M%S}.wav"
    msg.add_attachment(wav, maintype="audio", subtype="wav", filename=name)
    return msg


def sound_seconds(samples: np.ndarray, rate: int = RATE) -> float:
    """Seconds of 20 ms frames louder than `SOUND_RMS`."""
    frame = rate // 50
    usable = len(samples) // frame * frame
    if usable == 0:
        return 0.0
    frames = samples[:usable].astype(np.float64).reshape(-1, frame)
    loud = np.sqrt((frames ** 2).mean(axis=1)) > SOUND_RMS
    return float(loud.sum() * frame / rate)


def to_mono(path: Path) -> tuple[float, float]:
    """Rewrite the recorder's stereo WAV (caller left) as mono, atomically; (seconds, seconds of sound)."""
    with wave.open(str(path)) as w:
        channels, rate = w.getnchannels(), w.getframerate()
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    caller = frames.reshape(-1, channels)[:, int(Channel.CALLER)] if channels > 1 else frames
    tmp = path.with_name(path.name + ".tmp")
    with wave.open(str(tmp), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        mono = caller.astype("<i2").tobytes()
        out.writeframes(mono)
    with tmp.open("rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    seconds, sound = len(caller) / rate, sound_seconds(caller, rate)
    sidecar = path.with_suffix(".json")
    meta = json.loads(sidecar.read_text()) if sidecar.exists() else {}
    meta.update({"kind": "voicemail", "channels": ["caller"], "duration": round(seconds, 3),
                 "sound_seconds": round(sound, 3), "format": "wav/pcm_s16le",
                 "audio_sha256": hashlib.sha256(mono).hexdigest()})
    tmp_meta = sidecar.with_name(sidecar.name + ".tmp")
    tmp_meta.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    os.replace(tmp_meta, sidecar)
    return seconds, sound
