"""Call recording by the queue's policy: when a caller and an agent are joined and the queue records
`always`, rtpengine forks each side's media to a receive-only leg of the DSP worker, which writes a
stereo WAV (caller left, agent right) with its metadata; the file is finished when the call ends. A
crash leaves a `.part` file that the next start turns into a valid recording. Queues that record
`on_demand` (and `always` ones) can be started, stopped, paused and resumed through
POST /api/v1/calls/{call_id}/recording; a pause leaves silence of its length in the file."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tongdai.api.crud import ERROR_RESPONSES
from tongdai.api.deps import Allow, session, tenant_of
from tongdai.calls.b2bua import PASSTHROUGH, Call, Leg
from tongdai.calls.models import CallRecord
from tongdai.core.db import Database
from tongdai.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from tongdai.directory.models import Agent, Queue
from tongdai.iam.roles import Role
from tongdai.iam.security import Principal
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
        #: joined calls that may be recorded on demand: call id -> (call, caller leg, agent leg, queue)
        self.joined: dict[str, tuple[Call, Leg, Leg, str]] = {}
        self.paused: set[str] = set()
        self._tasks: set[asyncio.Task[bool]] = set()

    async def policy(self, tenant_id: str | None, queue: str) -> str:
        async with self.db.sessionmaker() as session:
            row = (await session.execute(select(Queue.recording_policy).where(
                Queue.tenant_id == tenant_id, Queue.name == queue))).scalar_one_or_none()
        return row or "never"

    async def answered(self, call: Call, caller: Leg, agent: Leg, queue: str) -> None:
        """The `on_answered` hook of inbound calls."""
        if call.anchor is PASSTHROUGH or caller.dialog is None or agent.dialog is None:
            return  # without rtpengine there is no media fork to record from
        policy = await self.policy(call.tenant_id, queue)
        if policy == "never":
            return
        self.joined[call.id] = (call, caller, agent, queue)
        if policy == "always":
            await self.start(call, caller, agent, queue)

    async def control(self, call_id: str, action: str) -> str:
        """On demand: `start`, `stop`, `pause` or `resume` the recording of a joined call; its state after."""
        if call_id not in self.joined:
            raise NotFound(f"call {call_id} not found")
        recording = call_id in self.active
        if action == "start" and not recording:
            await self.start(*self.joined[call_id])
        elif action == "stop" and recording:
            self._finish(call_id)
        elif action in ("pause", "resume"):
            if not recording:
                raise Conflict(f"call {call_id} is not being recorded")
            now = asyncio.get_running_loop().time()
            recorder = self.dsp.recorder(call_id)
            if action == "pause" and call_id not in self.paused:
                recorder.pause(now)
                self.paused.add(call_id)
            elif action == "resume" and call_id in self.paused:
                recorder.resume(now)
                self.paused.discard(call_id)
        return self.state(call_id)

    def state(self, call_id: str) -> str:
        """`paused`, `recording` or `stopped`."""
        if call_id in self.paused:
            return "paused"
        return "recording" if call_id in self.active else "stopped"

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
        self.joined.pop(call.id, None)
        self._finish(call.id)
        stored = self.finished.pop(call.id, None)
        if stored is not None:
            task = asyncio.get_running_loop().create_task(self.link(call, stored.location))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def link(self, call: Call, location: str, *, tries: int = 40, interval: float = 0.25) -> bool:
        """Put the recording's location on the call's CDR (written by its own service as the call ends:
        wait for it, bounded)."""
        for _ in range(tries):
            async with self.db.sessionmaker() as session:
                result = await session.execute(update(CallRecord).where(
                    CallRecord.call_id == call.id, CallRecord.tenant_id == call.tenant_id).values(recording=location))
                await session.commit()
            if getattr(result, "rowcount", 0):
                return True
            await asyncio.sleep(interval)
        log.warning("no call record to link the recording to", extra={"call_id": call.id})
        return False

    def _finish(self, call_id: str) -> None:
        self.paused.discard(call_id)
        if self.active.pop(call_id, None) is None:
            return
        try:
            self.finished[call_id] = self.dsp.stop_recording(call_id)
        except Exception:
            log.exception("recording could not be finished", extra={"call_id": call_id})


#: May control a call's recording: supervisors and admins; an agent only on their own call.
RECORDING_CONTROLLERS = frozenset({Role.PROVIDER_ADMIN, Role.TENANT_ADMIN, Role.SUPERVISOR, Role.AGENT})


class RecordingAction(BaseModel):
    #: optional in the schema so that an unknown call answers 404 before the body is judged
    action: Literal["start", "stop", "pause", "resume"] | None = None


class RecordingState(BaseModel):
    call_id: str
    state: str


router = APIRouter(tags=["call recording"], responses=ERROR_RESPONSES)


class RecordingStatus(RecordingState):
    #: the call's queue's policy: `always`, `on_demand` or `never`
    policy: str


async def _joined(call_id: str, request: Request, p: Principal, db: AsyncSession) -> tuple[CallRecordings, str]:
    """The recordings service and the queue of a joined call the principal may control (404, 403)."""
    tenant = tenant_of(request, p)
    recordings: CallRecordings | None = getattr(request.app.state, "recordings", None)
    joined = recordings.joined.get(call_id) if recordings is not None else None
    if recordings is None or joined is None or joined[0].tenant_id != tenant:
        raise NotFound(f"call {call_id} not found")
    if p.role == Role.AGENT:
        extension = (await db.execute(select(Agent.extension).where(
            Agent.tenant_id == tenant, Agent.user_id == p.subject_id))).scalar_one_or_none()
        if extension is None or extension != joined[0].agent:
            raise Forbidden("an agent controls the recording of their own calls only")
    return recordings, joined[3]


@router.post("/calls/{call_id}/recording", response_model=RecordingState)
async def control_recording(call_id: str, body: RecordingAction, request: Request,
                            p: Principal = Depends(Allow(RECORDING_CONTROLLERS)),
                            db: AsyncSession = Depends(session, scope="function")) -> Any:
    """Start, stop, pause or resume the recording of a call in progress."""
    recordings, _ = await _joined(call_id, request, p, db)
    if body.action is None:
        raise InvalidInput("action is required: start, stop, pause or resume")
    return RecordingState(call_id=call_id, state=await recordings.control(call_id, body.action))


@router.get("/calls/{call_id}/recording", response_model=RecordingStatus)
async def recording_state(call_id: str, request: Request, p: Principal = Depends(Allow(RECORDING_CONTROLLERS)),
                          db: AsyncSession = Depends(session, scope="function")) -> Any:
    """Whether a call in progress is recorded (`recording`, `paused`, `stopped`) and its queue's policy."""
    recordings, queue = await _joined(call_id, request, p, db)
    return RecordingStatus(call_id=call_id, state=recordings.state(call_id),
                           policy=await recordings.policy(tenant_of(request, p), queue))
