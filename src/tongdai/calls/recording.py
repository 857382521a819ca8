"""Call recording by the queue's policy: when a caller and an agent are joined and the queue records
`always`, rtpengine forks each side's media to a receive-only leg of the DSP worker, which writes a
stereo WAV (caller left, agent right) with its metadata; the file is finished when the call ends. A
crash leaves a `.part` file that the next start turns into a valid recording."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime

from sqlalchemy import select

from tongdai.calls.b2bua import PASSTHROUGH, Call, Leg
from tongdai.core.db import Database
from tongdai.directory.models import Queue
from tongdai.media.dsp_worker import DspWorker
from tongdai.media.g711 import Codec
from tongdai.media.recording import CallRecorder, Channel, RecordingInfo, RecordingStorage, StoredRecording

log = logging.getLogger(__name__)


def listener_answer(offer: str, address: tuple[str, int]) -> str:
    """The SDP a receive-only recording leg answers a fork's offer with: every payload type offered
    (rtpengine refuses an answer that drops telephone-event when it relays without transcoding)."""
    m = re.search(r"^m=audio \d+ (\S+) ([\d ]+)", offer, re.M)
    profile, pts = (m.group(1), m.group(2).strip()) if m else ("RTP/AVP", "0")
    lines = ["v=0", f"o=- 1 1 IN IP4 {address[0]}", "s=recording", f"c=IN IP4 {address[0]}", "t=0 0",
             f"m=audio {address[1]} {profile} {pts}"]
    lines += re.findall(r"^a=(?:rtpmap|fmtp):[^\r\n]*", offer, re.M)
    lines.append("a=recvonly")
    return "\r\n".join(lines) + "\r\n"


def codec_of(offer: str) -> Codec:
    """G.711 law of a fork's offer (rtpengine offers what the leg speaks)."""
    m = re.search(r"^m=audio \d+ \S+ (\d+)", offer, re.M)
    return Codec.PCMA if m and m.group(1) == "8" else Codec.PCMU


class CallRecordings:
    """Starts and finishes recordings of joined calls according to their queue's recording policy."""

    def __init__(self, dsp: DspWorker, storage: RecordingStorage, db: Database) -> None:
        self.dsp, self.storage, self.db = dsp, storage, db
        self.active: dict[str, Call] = {}
        self.finished: dict[str, StoredRecording] = {}

    async def policy(self, tenant_id: str | None, queue: str) -> str:
        async with self.db.sessionmaker() as session:
            row = (await session.execute(select(Queue.recording_policy).where(
                Queue.tenant_id == tenant_id, Queue.name == queue))).scalar_one_or_none()
        return row or "never"

    async def answered(self, call: Call, caller: Leg, agent: Leg, queue: str) -> None:
        """The `on_answered` hook of inbound calls."""
        if call.anchor is PASSTHROUGH or caller.dialog is None or agent.dialog is None:
            return  # without rtpengine there is no media fork to record from
        if await self.policy(call.tenant_id, queue) != "always":
            return
        await self.start(call, caller, agent, queue)

    async def start(self, call: Call, caller: Leg, agent: Leg, queue: str) -> None:
        """Record `call`: fork the caller's and the agent's media to the DSP worker."""
        assert caller.dialog is not None and agent.dialog is not None
        anchor = call.anchor
        forks = []
        # the agent's media enters rtpengine on the side that faced a caller tongdai answered itself
        agent_side = caller.media_peer_tag or agent.dialog.local_tag
        for side in (caller.dialog.local_tag, agent_side):
            tag, offer = await anchor.fork(call.id, [side])  # type: ignore[attr-defined]
            forks.append((tag, offer))
        info = RecordingInfo(call_id=call.id, tenant=call.tenant_id or "none", started_at=datetime.now(UTC),
                             agent=call.agent or None, queue=queue or None)
        recorder = CallRecorder(info, self.storage)
        addresses = await self.dsp.start_recording(call.id, recorder, codec_of(forks[0][1]))
        for (tag, offer), channel in zip(forks, (Channel.CALLER, Channel.AGENT), strict=True):
            await anchor.fork_answer(call.id, tag, listener_answer(offer, addresses[channel]))  # type: ignore[attr-defined]
        self.active[call.id] = call
        log.info("recording started", extra={"call_id": call.id, "queue": queue})

    def call_ended(self, call: Call) -> None:
        """The `on_call_end` hook of the B2BUA: finish the file."""
        if self.active.pop(call.id, None) is None:
            return
        try:
            self.finished[call.id] = self.dsp.stop_recording(call.id)
        except Exception:
            log.exception("recording could not be finished", extra={"call_id": call.id})
