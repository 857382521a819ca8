"""Inbound calls to the contact centre: a caller dials one of the tenant's numbers, tongdai answers,
the caller waits in a queue with music, and the routing engine's offers ring agents' phones until one
answers; then caller and agent talk. Everything that happens goes to the queue log.

The asyncio shell between the B2BUA (SIP legs, media anchor) and the routing service (the pure engine):
  number -> `take` -> answer + music -> routing task (queue log `entered`)
  TaskReserved -> ring the offered agents' devices (`offered`) -> answer: accept, bridge (`answered`)
                                                               -> no answer / busy: reject (`missed`)
  ReservationTimedOut -> cancel the ringing
  caller hangs up while waiting -> task cancelled as abandoned (`abandoned`, with position and wait)
  the call ends after the bridge -> task completed (the agent's wrap-up starts)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import wave
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import numpy as np
from sqlalchemy import select

from tongdai.calls.b2bua import PASSTHROUGH, B2bua, Call, Destination, Leg, via_transport
from tongdai.calls.caller_id import e164
from tongdai.calls.events import AgentCallChanged, CallTransferred
from tongdai.calls.models import QueueLogEntry
from tongdai.calls.screen_pop import pop_headers
from tongdai.core.db import Database
from tongdai.core.errors import TongdaiError
from tongdai.core.events import EventBus
from tongdai.crm.service import match_caller
from tongdai.directory.hours import is_open
from tongdai.directory.models import Calendar as DirCalendar
from tongdai.directory.models import Queue as DirQueue
from tongdai.iam.models import Tenant
from tongdai.ivr import flowrun as fr
from tongdai.ivr.model import Flow
from tongdai.media.engine_events import RtpengineDigit
from tongdai.media.prompts import PromptLibrary
from tongdai.media.speech import supports_language
from tongdai.routing.events import ReservationTimedOut, TaskLeftQueue, TaskReserved
from tongdai.routing.model import Activity, Task, TaskState
from tongdai.routing.service import RoutingService
from tongdai.sip.dialog import Dialog
from tongdai.sip.events import AgentDeviceRegistered, AgentDeviceUnregistered
from tongdai.sip.message import Request, new_tag
from tongdai.sip.stack import Address

log = logging.getLogger(__name__)
#: How long music files repeat (rtpengine's repeat count): the caller hears it until an agent answers.
MOH_REPEAT = 1000
#: a queue's handle time before it has answered any call (expected-wait announcements)
DEFAULT_HANDLE_S = 180.0
#: the handle times kept per queue for the expected wait
HANDLE_TIMES_KEPT = 20
#: what a caller who chose a callback hears before the call ends
CALLBACK_CONFIRM = {
    "vi": "Cảm ơn quý khách. Chúng tôi sẽ gọi lại theo đúng thứ tự của quý khách.",
    "en": "Thank you. We will call you back, keeping your place in line.",
    "zh": "谢谢。我们会按您的排队顺序给您回电。",
}
#: what a caller hears on entering a queue that records
RECORDING_NOTICE = {
    "vi": "Cuộc gọi của quý khách có thể được ghi âm để nâng cao chất lượng dịch vụ.",
    "en": "This call may be recorded for quality purposes.",
    "zh": "为了提高服务质量，您的通话可能会被录音。",
}
#: what the agent hears when a callback reaches them, before the customer is dialled
CALLBACK_WHISPER = "Callback. Calling the customer now."


@dataclass(eq=False)
class Waiting:
    """A caller in a queue."""

    call: Call
    caller: Leg
    tenant_id: str
    queue: str
    entered: float
    ringing: asyncio.Task[None] | None = None
    agent: str = ""  # the agent who answered
    agent_user: str = ""  # their user account (whose desktop follows the call)
    done: bool = False
    timed_out: set[str] = field(default_factory=set)  # reservations whose offer timed out
    variables: dict[str, str] = field(default_factory=dict)  # what the call flow collected
    priority: int = 0
    ivr_path: list[str] = field(default_factory=list)
    run: fr.FlowRun | None = None  # the call flow the caller is in
    announcer: asyncio.Task[None] | None = None  # position, expected wait and callback offers
    speaking: int = 0  # prompts started (a PlayFinished counts only for the latest)
    customer: dict[str, object] | None = None  # the customer the calling number belongs to
    task_id: str = ""  # the routing task of this wait (the call's id, then one per transfer to a queue)
    transfers: int = 0  # times an agent sent the caller to a queue or straight to another agent
    recording_announced: bool = False


@dataclass(eq=False)
class Callback:
    """A caller who chose to be called back: a task in the queue that kept their place."""

    task_id: str
    tenant_id: str
    queue: str
    number: str  # whom to call
    line: str  # the number they had dialled
    entered: float
    call: Call | None = None
    agent: str = ""
    whisper: str = ""  # what the agent hears first (default: CALLBACK_WHISPER and the number)
    agent_id: str = ""  # only this agent may take it (a scheduled callback an agent kept for themselves)
    result: str = ""  # how the attempt ended: answered, no_answer, busy, failed, no_agent
    #: told how the attempt ended (result, call id): scheduled callbacks store it and retry
    on_done: Callable[[str, str], Awaitable[None]] | None = None


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("offer failed", exc_info=task.exception())


def default_music(folder: Path) -> Path:
    """The music waiting callers hear unless a queue has its own: a soft arpeggio, 8 kHz mono WAV,
    made once (no outside file or licence needed)."""
    path = folder / "default.wav"
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    rate, note_s = 8000, 0.4
    t = np.arange(int(rate * note_s)) / rate
    envelope = np.exp(-3.0 * t) * np.minimum(1.0, t / 0.01)
    notes = [261.63, 329.63, 392.00, 523.25, 392.00, 329.63, 293.66, 349.23, 440.00, 587.33, 440.00, 349.23]
    tones = [np.sin(2 * np.pi * f * t) * envelope * 0.25 for f in notes * 4]
    samples = (np.concatenate(tones) * 32767).astype("<i2")
    tmp = path.with_suffix(".tmp")
    with wave.open(str(tmp), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    tmp.replace(path)
    return path


class InboundCalls:
    """Answers callers on the tenant's numbers and joins them to agents chosen by the routing engine."""

    def __init__(self, b2bua: B2bua, routing: RoutingService, db: Database, bus: EventBus, *,
                 music: Callable[[], str | None] = lambda: None, available_on_register: bool = False,
                 prompts: PromptLibrary | None = None, speech: Callable[[], Any] | None = None,
                 voicemails: Callable[[], Any] | None = None, interactions: Any = None,
                 announce_every_s: float = 30.0) -> None:
        self.b2bua, self.routing, self.db, self.bus = b2bua, routing, db, bus
        self.prompts = prompts  # text to speech for call flows (None: flows cannot speak, numbers go to queues)
        self.flows: dict[str, asyncio.Queue[fr.Event]] = {}  # call id -> what its running flow hears
        self.speech, self.voicemails = speech, voicemails  # found when first needed (built after this)
        self.interactions = interactions  # the CRM's recorder: a call's IVR path and collected digits
        self.announce_every_s = announce_every_s  # place in line and expected wait, while waiting
        self.callbacks: dict[str, Callback] = {}  # task id -> callback waiting or being placed
        self._handle_times: dict[tuple[str, str], list[float]] = {}
        self.music = music  # the file played to waiting callers (None: silence)
        self.waiting: dict[str, Waiting] = {}  # task id (= call id) -> caller
        #: called (awaited) once caller and agent are joined: recording by the queue's policy, screen pop...
        self.on_answered: list[Callable[[Call, Leg, Leg, str], Awaitable[None]]] = []
        bus.subscribe(TaskReserved, self._reserved)
        bus.subscribe(ReservationTimedOut, self._offer_timed_out)
        bus.subscribe(TaskLeftQueue, self._left_queue)
        bus.subscribe(CallTransferred, self._transferred)
        b2bua.on_call_end.append(self._call_ended)
        bus.subscribe(RtpengineDigit, self._digit)
        if available_on_register:
            bus.subscribe(AgentDeviceRegistered, self._device_registered)
            bus.subscribe(AgentDeviceUnregistered, self._device_unregistered)

    # --- phones make agents available (routing.available_on_register) ---
    async def _device_registered(self, event: AgentDeviceRegistered) -> None:
        self.b2bua.spawn(self._set_activity(event.tenant_id, event.extension, Activity.AVAILABLE,
                                            only_from=Activity.OFFLINE))

    async def _device_unregistered(self, event: AgentDeviceUnregistered) -> None:
        self.b2bua.spawn(self._device_gone(event))

    async def _device_gone(self, event: AgentDeviceUnregistered) -> None:
        """Offline when the extension's last device went away."""
        if event.tenant_id is None:
            return
        dest = self.b2bua.resolve(event.extension, event.tenant_id)
        if dest is not None and not dest.targets:
            await self._set_activity(event.tenant_id, event.extension, Activity.OFFLINE)

    async def _set_activity(self, tenant_id: str | None, extension: str, activity: Activity, *,
                            only_from: Activity | None = None) -> None:
        if tenant_id is None:
            return
        try:
            async with self.db.session() as session:
                engine = await self.routing.engine(session, tenant_id)
                worker = next((w for w in engine.workers.values() if w.attributes.get("extension") == extension), None)
                if worker is None or worker.activity is activity or (only_from and worker.activity is not only_from):
                    return
                wid = worker.id
                await self.routing.call(session, tenant_id, lambda e, now: e.set_activity(wid, activity, now,
                                                                                          reason="phone"))
        except Exception:
            log.exception("could not follow the agent's phone", extra={"extension": extension})

    # --- a caller arrives ---
    def take(self, invite: Request, source: Address, tenant_id: str, number: str, queue: str,
             flow: Flow | None = None) -> None:
        """Answer `invite` (to `number`), run its call `flow` if it has one (else put the caller in
        `queue`); everything after is asynchronous."""
        caller = invite.from_().uri.user_unescaped or ""
        call = self.b2bua.new_call(tenant_id, caller, number)
        call.kind, call.queue = "inbound", queue
        leg = Leg(call, "caller", caller, source, sdp=invite.body, transport=via_transport(invite))
        leg.dialog = Dialog.as_uas(invite, new_tag(), self.b2bua.contact)
        call.legs.append(leg)
        self.b2bua.spawn(self._answer_and_queue(invite, Waiting(call, leg, tenant_id, queue, time.time()), flow))

    async def _answer_and_queue(self, invite: Request, w: Waiting, flow: Flow | None = None) -> None:
        call, leg = w.call, w.caller
        assert leg.dialog is not None
        try:
            sdp = await self.b2bua.answer_locally(leg, invite.body)
        except Exception:
            log.exception("could not answer the caller", extra={"call_id": call.id})
            self.b2bua.refuse(invite, leg, 503)
            return
        self.b2bua.accept(invite, leg, sdp)
        await self._identify(w)
        speaks = flow is not None and call.anchor is not PASSTHROUGH and self.prompts is not None
        if speaks:
            await self._run_flow(w, flow)  # type: ignore[arg-type]
            return
        if not w.queue:
            await self.b2bua.hang_up(leg)
            return
        await self._enqueue(w, w.queue, w.priority, {})

    async def _identify(self, w: Waiting) -> None:
        """The caller's number in E.164 and the customer it belongs to, before any routing: the flow's
        conditions, the queue's routing (VIP, language) and the agent's screen see them."""
        caller_e164 = e164(w.call.caller, await self._region(w.tenant_id))
        if not caller_e164:
            return
        w.variables["caller_e164"] = caller_e164
        try:
            found = await match_caller(self.db, w.tenant_id, caller_e164)
        except Exception:  # no customer match is better than no call
            log.exception("caller match failed", extra={"call_id": w.call.id})
            return
        if found is not None:
            w.customer = {"id": found.customer_id, "name": found.name, "vip_tier": found.vip_tier,
                          "language": found.language, "open_cases": found.open_cases}
            w.variables.update({"customer_id": found.customer_id, "customer_name": found.name,
                                "vip": "true" if found.vip_tier else "false", "vip_tier": found.vip_tier})
            if found.language:
                w.variables["customer_language"] = found.language

    async def _enqueue(self, w: Waiting, queue: str, priority: int, variables: dict[str, str]) -> None:
        """Put the caller in `queue` with music; the routing engine's offers ring agents from here."""
        call = w.call
        w.queue, w.priority = queue, priority
        w.variables.update(variables)
        call.queue = queue
        w.entered = time.time()
        w.task_id = call.id if not w.transfers else f"{call.id}-t{w.transfers}"
        self.waiting[w.task_id] = w
        announced = await self._announce_recording(w)
        if announced:  # the music follows the notice (unless an agent answered meanwhile)
            self.b2bua.spawn(self._music_after(w, announced))
        else:
            await self._play_music(w)
        task = Task(w.task_id, channel="voice", attributes={**w.variables, "queue": queue, "caller": call.caller,
                                                          "number": call.callee},
                    priority=priority, tenant_id=w.tenant_id)
        await self._log(w, "entered", position=self._position(w))  # before: an offer may follow at once
        async with self.db.session() as session:
            await self.routing.submit(session, w.tenant_id, task)

    async def _announce_recording(self, w: Waiting) -> int:
        """Tell the caller, once, that the call may be recorded when the queue records (`always` or
        `on_demand`); the notice's length in ms (0: none)."""
        if w.recording_announced or self.prompts is None or w.call.anchor is PASSTHROUGH or w.caller.dialog is None:
            return 0
        async with self.db.sessionmaker() as session:
            policy = (await session.execute(select(DirQueue.recording_policy).where(
                DirQueue.tenant_id == w.tenant_id, DirQueue.name == w.queue))).scalar_one_or_none()
        if policy not in ("always", "on_demand"):
            return 0
        w.recording_announced = True
        language = w.run.language if w.run is not None else "vi"
        text = RECORDING_NOTICE.get(language, RECORDING_NOTICE["en"])
        return await self._play_prompt(w, w.caller.dialog.local_tag, text, language)

    async def _music_after(self, w: Waiting, ms: int) -> None:
        await asyncio.sleep(ms / 1000)
        if not w.done and not w.agent and w.ringing is None and not w.caller.ended:
            await self._play_music(w)

    # --- call flows ---
    async def _run_flow(self, w: Waiting, flow: Flow) -> None:
        """Run the caller through `flow` until it ends: while the caller waits in a queue the run stays
        with them (maximum wait, callback key, announcements) until an agent answers."""
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[fr.Event] = asyncio.Queue()
        self.flows[w.call.id] = events
        language = w.variables.get("customer_language", "")
        run = fr.FlowRun(flow, now=loop.time(), variables={"caller": w.call.caller, "number": w.call.callee,
                                                           **w.variables},
                         language=language if language in flow.languages else "")
        w.run = run
        try:
            actions = run.start(loop.time())
            while True:
                for action in actions:
                    await self._carry_out(w, run, action, events)
                if run.finished or w.caller.ended:
                    return
                actions = await self._next(w, run, events, loop)
        except Exception:
            log.exception("call flow failed", extra={"call_id": w.call.id})
            if not w.caller.ended and not w.agent and w.task_id not in self.waiting:
                await self.b2bua.hang_up(w.caller)
        finally:
            self.flows.pop(w.call.id, None)
            w.ivr_path = run.path
            if w.announcer is not None:
                w.announcer.cancel()
            if self.interactions is not None:
                collected = {k: str(v) for k, v in run.variables.items()
                             if isinstance(v, str | int | float) and k not in ("caller", "number", "language")}
                self.interactions.remember(w.call.id, ivr_path=list(run.path), collected=collected)

    async def _next(self, w: Waiting, run: fr.FlowRun, events: asyncio.Queue[fr.Event],
                    loop: asyncio.AbstractEventLoop) -> list[fr.Action]:
        """The next event (or the run's deadline); a caller who hung up ends the wait."""
        timeout = None if run.next_deadline is None else max(0.0, run.next_deadline - loop.time())
        if timeout is None and w.caller.ended:
            return []
        try:
            event = await asyncio.wait_for(events.get(), min(timeout, 1.0) if timeout is not None else 1.0)
        except TimeoutError:
            return run.on_timer(loop.time())
        return run.on_event(event, loop.time())

    async def _carry_out(self, w: Waiting, run: fr.FlowRun, action: fr.Action,
                         events: asyncio.Queue[fr.Event]) -> None:
        """Do one action of the flow; what comes of it goes back to the run as an event."""
        call, tag = w.call, w.caller.dialog.local_tag if w.caller.dialog else ""
        if isinstance(action, fr.Play):
            await self._say(w, tag, action, events)
        elif isinstance(action, fr.StopPlaying):
            w.speaking += 1  # the PlayFinished of the stopped prompt must not count
            with contextlib.suppress(Exception):
                await call.anchor.stop_play(call.id, tag)  # type: ignore[attr-defined]
        elif isinstance(action, fr.Recognise):
            self.b2bua.spawn(self._recognise(w, action, events))
        elif isinstance(action, fr.CheckHours):
            is_open, holiday = await self._open(w.tenant_id, action.calendar)
            events.put_nowait(fr.BusinessHours(is_open, holiday))
        elif isinstance(action, fr.HttpRequest):
            self.b2bua.spawn(self._http(w, action, events))
        elif isinstance(action, fr.Enqueue):
            await self._enqueue(w, action.queue, action.priority, action.variables)
            w.announcer = asyncio.get_running_loop().create_task(self._announce(w, run, action))
        elif isinstance(action, fr.LeaveQueue):
            await self._leave_queue(w, action.reason)
        elif isinstance(action, fr.RequestCallback):
            await self._callback_requested(w, action)
        elif isinstance(action, fr.Transfer):
            await self._transfer(w, action)
        elif isinstance(action, fr.RecordVoicemail):
            await self._voicemail(w, action, events)
        elif isinstance(action, fr.Hangup):
            await self.b2bua.hang_up(w.caller)

    async def _say(self, w: Waiting, tag: str, action: fr.Play, events: asyncio.Queue[fr.Event]) -> None:
        """Speak `action` to the caller; PlayFinished arrives when it has been heard."""
        ms = await self._play_prompt(w, tag, action.text, action.language, action.prompt_id)
        w.speaking += 1
        turn = w.speaking

        def heard() -> None:
            if w.speaking == turn:  # not stopped or followed by another prompt meanwhile
                events.put_nowait(fr.PlayFinished())

        asyncio.get_running_loop().call_later(max(ms, 0) / 1000, heard)

    async def _play_prompt(self, w: Waiting, tag: str, text: str, language: str, prompt_id: str = "",
                           *, repeat: int = 1) -> int:
        """Play text-to-speech or a recorded prompt to the caller; its length in ms (0 when it failed)."""
        assert self.prompts is not None
        try:
            if prompt_id:  # uploaded as a prompt (`prompt/<name>`) unless the id names its kind
                path = self.prompts.info(prompt_id if "/" in prompt_id else f"prompt/{prompt_id}").path
            else:
                path = (await self.prompts.speak(text, language=language)).path
            return int(await w.call.anchor.play(w.call.id, tag, str(path), repeat=repeat))  # type: ignore[attr-defined]
        except Exception as exc:  # a prompt that cannot play must not stall the flow
            log.warning("prompt failed: %s", exc, extra={"call_id": w.call.id})
            return 0

    async def _recognise(self, w: Waiting, action: fr.Recognise, events: asyncio.Queue[fr.Event]) -> None:
        """Listen for one of the menu's words; the answer (or no match) goes back to the run."""
        speech = self.speech() if self.speech is not None else None
        if speech is None or not supports_language(action.language):
            return  # no recogniser for this language: the menu's keys and timeout still work
        try:
            heard = await speech.listen(w.call, w.caller, words=action.words, language=action.language,
                                        timeout_s=action.timeout_s)
        except Exception:
            log.exception("speech recognition failed", extra={"call_id": w.call.id})
            return
        if heard is not None:  # nothing heard: the menu's own timeout asks again (no input)
            events.put_nowait(fr.SpeechRecognised(heard[0], heard[1]))

    async def _http(self, w: Waiting, action: fr.HttpRequest, events: asyncio.Queue[fr.Event]) -> None:
        """Ask the outside system; the run has its own deadline, so a late answer is ignored there."""
        try:
            async with httpx.AsyncClient(timeout=action.timeout_s, follow_redirects=False) as client:
                r = await client.request(action.method, action.url, headers=dict(action.headers),
                                         json=action.body if action.method == "POST" else None)
            try:
                data = r.json()
            except ValueError:
                data = r.text
            events.put_nowait(fr.HttpResult(r.status_code, data))
        except Exception as exc:
            log.info("call flow HTTP request failed: %s", exc, extra={"call_id": w.call.id})
            events.put_nowait(fr.HttpFailed(type(exc).__name__))

    async def _announce(self, w: Waiting, run: fr.FlowRun, action: fr.Enqueue) -> None:
        """While the caller waits: every `announce_every_s` their place in line and the expected wait,
        and the callback offer at its own pace; music resumes after each message."""
        tag = w.caller.dialog.local_tag if w.caller.dialog else ""
        every = self.announce_every_s
        offer = action.callback
        next_position = time.monotonic() + every
        next_offer = time.monotonic() + (offer.every_s if offer is not None else 0.0)
        if offer is not None:
            next_offer = time.monotonic() + min(offer.every_s, 5.0)  # the first offer comes early
        while not w.done and not w.agent and not w.caller.ended:
            now = time.monotonic()
            due = min(next_position, next_offer if offer is not None else next_position)
            if now < due:
                await asyncio.sleep(min(due - now, 1.0))
                continue
            parts: list[str] = []
            if now >= next_position:
                parts.append(self._position_text(w, run.language))
                next_position = now + every
            if offer is not None and now >= next_offer:
                parts.append(run.text(offer.prompt))
                next_offer = now + offer.every_s
            text = " ".join(p for p in parts if p)
            if text and not w.agent and w.ringing is None:
                ms = await self._play_prompt(w, tag, text, run.language)
                await asyncio.sleep(ms / 1000)
                if not w.done and not w.agent and w.ringing is None:
                    await self._play_music(w)

    def _position_text(self, w: Waiting, language: str) -> str:
        """"You are number 2 in line; your expected wait is about 3 minutes" in the caller's language."""
        position = self._position(w)
        minutes = max(1, round(self.expected_wait_s(w.tenant_id, w.queue, position) / 60))
        texts = {
            "vi": f"Quý khách đang ở vị trí số {position}. Thời gian chờ dự kiến khoảng {minutes} phút.",
            "zh": f"您现在排在第{position}位。预计等待时间约{minutes}分钟。",
            "en": f"You are number {position} in line. Your expected wait is about {minutes} "
                  f"minute{'s' if minutes != 1 else ''}.",
        }
        return texts.get(language, texts["en"])

    def expected_wait_s(self, tenant_id: str, queue: str, position: int) -> float:
        """Expected wait of the caller at `position`: the queue's recent handle time shared by the agents
        who can answer now (not offline), times the callers ahead and this one."""
        handle = self._handle_times.get((tenant_id, queue))
        average = sum(handle) / len(handle) if handle else DEFAULT_HANDLE_S
        engine = self.routing.engines.get(tenant_id)
        agents = 0
        if engine is not None:
            agents = sum(1 for wk in engine.workers.values() if wk.activity is not Activity.OFFLINE)
        return position * average / max(1, agents)

    async def _leave_queue(self, w: Waiting, reason: str) -> None:
        """Out of the queue (maximum wait reached, or the caller chose a callback): no more offers."""
        if self.waiting.pop(w.task_id, None) is None:
            return
        if w.ringing is not None:
            self.b2bua.cancel_ringing(w.call)
        position, waited = self._position(w), time.time() - w.entered
        await self._routing(w, lambda e, now: e.cancel(w.task_id, now, reason=reason))
        await self._log(w, "left", detail=reason, position=position, wait_s=waited)
        if w.caller.dialog is not None:
            with contextlib.suppress(Exception):
                await w.call.anchor.stop_play(w.call.id, w.caller.dialog.local_tag)  # type: ignore[attr-defined]

    async def _callback_requested(self, w: Waiting, action: fr.RequestCallback) -> None:
        """The caller pressed the callback key: a callback task in the same queue, keeping the caller's
        place (its waiting time counts from when they entered), then a goodbye and hang-up."""
        number = w.variables.get("caller_e164") or action.number
        task = Task(f"{w.call.id}-callback", channel="voice", created_at=self._routing_clock(w.entered),
                    attributes={**w.variables, "queue": action.queue, "callback": "true", "number": number},
                    priority=w.priority, tenant_id=w.tenant_id)
        async with self.db.session() as session:
            await self.routing.submit(session, w.tenant_id, task)
        self.callbacks[task.id] = Callback(task.id, w.tenant_id, action.queue, number, w.call.callee, w.entered)
        await self._log(w, "callback", detail=number, wait_s=time.time() - w.entered)
        tag = w.caller.dialog.local_tag if w.caller.dialog else ""
        language = w.run.language if w.run is not None else "en"
        ms = await self._play_prompt(w, tag, CALLBACK_CONFIRM.get(language, CALLBACK_CONFIRM["en"]), language)
        await asyncio.sleep(ms / 1000)
        await self.b2bua.hang_up(w.caller)

    def _routing_clock(self, wall: float) -> float:
        """A wall-clock time on the routing engine's clock."""
        return wall - time.time() + self.routing.clock()

    async def _transfer(self, w: Waiting, action: fr.Transfer) -> None:
        """The flow sends the caller on: to a queue (enqueued here), an agent's extension or an outside
        number (through the tenant's trunk rules, as `resolve` finds it)."""
        queues = await self._queue_names(w.tenant_id)
        if action.kind == "queue" or (action.kind == "auto" and action.target in queues):
            await self._enqueue(w, action.target, w.priority, {})
            return
        dest = self.b2bua.resolve(action.target, w.tenant_id)
        agent, _ = await self.b2bua.originate(w.caller, dest, await self.b2bua.reoffer(w.caller)) if dest \
            else (None, None)
        if agent is not None:
            await self.b2bua.bridge(w.caller, agent)
        else:
            await self.b2bua.hang_up(w.caller)

    async def _voicemail(self, w: Waiting, action: fr.RecordVoicemail, events: asyncio.Queue[fr.Event]) -> None:
        """Record the caller's message and e-mail it (to the node's address or the queue's)."""
        voicemails = self.voicemails() if self.voicemails is not None else None
        if voicemails is None:
            log.warning("voicemail asked for but not available", extra={"call_id": w.call.id})
            events.put_nowait(fr.VoicemailRecorded(0.0))
            return
        recorded = await voicemails.leave(w.call, w.caller, max_s=action.max_s, queue=action.queue or w.queue,
                                          email=action.email)
        await self._log(w, "voicemail", detail=str(recorded.path) if recorded is not None else "not recorded",
                        wait_s=None)
        events.put_nowait(fr.VoicemailRecorded(recorded.seconds if recorded is not None else 0.0))

    async def _digit(self, event: RtpengineDigit) -> None:
        events = self.flows.get(event.call_id)
        if events is not None:
            events.put_nowait(fr.Digit(event.digit))

    async def _region(self, tenant_id: str) -> str:
        """The tenant's country, for reading callers' numbers."""
        async with self.db.sessionmaker() as session:
            region = (await session.execute(select(Tenant.default_region).where(Tenant.id == tenant_id))).scalar()
        return str(region or "VN")

    async def _open(self, tenant_id: str, calendar: str) -> tuple[bool, bool]:
        """Is the tenant's calendar of that name open now, and is today one of its holidays? (A missing
        calendar counts as open.)"""
        async with self.db.sessionmaker() as session:
            row = (await session.execute(select(DirCalendar).where(DirCalendar.tenant_id == tenant_id,
                                                                   DirCalendar.name == calendar))).scalar_one_or_none()
        if row is None:
            log.warning("call flow names an unknown calendar %r: taken as open", calendar)
            return True, False
        now = datetime.now(UTC)
        today = now.astimezone(ZoneInfo(row.timezone)).date().isoformat()
        holiday = any(str(h.get("date")) == today for h in row.holidays or [])
        return is_open(row.timezone, row.weekly, row.holidays, now), holiday

    async def _queue_names(self, tenant_id: str) -> set[str]:
        async with self.db.sessionmaker() as session:
            return set((await session.execute(select(DirQueue.name).where(DirQueue.tenant_id == tenant_id))).scalars())

    async def _play_music(self, w: Waiting) -> None:
        music = self.music()
        if music is None or w.call.anchor is PASSTHROUGH or w.caller.dialog is None:
            return
        try:
            await w.call.anchor.play(w.call.id, w.caller.dialog.local_tag, music, repeat=MOH_REPEAT)  # type: ignore[attr-defined]
        except Exception as exc:  # no music is better than no call
            log.warning("music on hold failed: %s", exc, extra={"call_id": w.call.id})

    # --- offers ---
    async def _reserved(self, event: TaskReserved) -> None:
        """An offer: ring in a task of its own (the bus handler returns at once, the engine call that
        made the offer is not held up by the ringing)."""
        callback = self.callbacks.get(event.task_id or "")
        if callback is not None and callback.call is None:
            self.b2bua.spawn(self._place_callback(callback, event))
            return
        w = self.waiting.get(event.task_id or "")
        if w is None or w.done:
            return
        w.ringing = asyncio.get_running_loop().create_task(self._offer(w, event))
        w.ringing.add_done_callback(_log_failure)

    # --- an agent sends the caller to a queue ---
    async def transfer_to_queue(self, leg: Leg, queue: str) -> bool:
        """Blind transfer of a caller to `queue` (REFER to the queue's number): the agent's task is done
        (wrap-up follows), the caller waits again with music and announcements, keeping their data."""
        w = next((o for o in self.waiting.values() if o.call is leg.call), None)
        if w is None or leg is not w.caller or w.caller.ended:
            return False
        self.waiting.pop(w.task_id, None)
        await self._routing(w, lambda e, now: e.complete(w.task_id, now))
        await self._log(w, "transferred", agent=w.agent, detail=queue)
        w.transfers += 1
        w.agent, w.done, w.ringing, w.call.agent = "", False, None, ""
        w.timed_out = set()
        await self._enqueue(w, queue, w.priority, {})
        return True

    # --- callbacks ---
    async def schedule_callback(self, *, task_id: str, tenant_id: str, queue: str, number: str, whisper: str = "",
                                agent_id: str = "", on_done: Callable[[str, str], Awaitable[None]] | None = None
                                ) -> None:
        """A scheduled callback falls due: a callback task in its queue that waits for a free agent (or
        only `agent_id`), then is placed like a caller's callback; `on_done` hears how it ended."""
        cb = Callback(task_id, tenant_id, queue, number, "", time.time(), whisper=whisper, agent_id=agent_id,
                      on_done=on_done)
        attributes = {"queue": queue, "callback": "true", "scheduled": "true", "number": number}
        if agent_id:
            attributes["preferred_worker"] = agent_id  # queues with the preferred strategy honour it at once
        self.callbacks[task_id] = cb  # before the submit: the offer may come at once
        await self._log_row(tenant_id, task_id, queue, "callback", detail=number)
        async with self.db.session() as session:
            await self.routing.submit(session, tenant_id, Task(task_id, channel="voice", attributes=attributes,
                                                                tenant_id=tenant_id))

    async def _place_callback(self, cb: Callback, event: TaskReserved) -> None:
        """An agent is free for a callback: ring the agent (who hears what it is), then call the customer
        and join them; an agent who does not answer is put not-ready and the callback waits on."""
        engine = self.routing.engines.get(cb.tenant_id)
        wid = event.worker_ids[0]
        if cb.agent_id and wid != cb.agent_id:  # kept for another agent: this one skips it a while
            await self._routing_for(cb.tenant_id, cb.task_id, lambda e, now: e.reject(event.reservation_id, wid, now))
            return
        worker = engine.workers.get(wid) if engine is not None else None
        ext = str(worker.attributes.get("extension", "")) if worker is not None else ""
        dest = self.b2bua.resolve(ext, cb.tenant_id) if ext else None
        call = self.b2bua.new_call(cb.tenant_id, cb.number, cb.number)
        call.kind, call.queue = "callback", cb.queue
        cb.call = call
        await self._log_row(cb.tenant_id, cb.task_id, cb.queue, "offered", agent=ext)
        pop = pop_headers(call_id=call.id, task_id=cb.task_id, queue=cb.queue,
                          recording=await self._recording_policy(cb.tenant_id, cb.queue))
        agent = await self.b2bua.originate_locally(call, Destination(dest.targets, cb.tenant_id, "extension", ext),
                                                   extra_headers=pop) \
            if dest is not None and dest.targets and not self.b2bua.busy(ext, cb.tenant_id) else None
        if agent is None or agent.dialog is None:
            cb.call = None
            self.b2bua.calls.pop(call.id, None)
            await self._routing_for(cb.tenant_id, cb.task_id,
                                    lambda e, now: e.reject(event.reservation_id, wid, now, not_ready=True))
            await self._log_row(cb.tenant_id, cb.task_id, cb.queue, "missed", agent=ext, detail="callback")
            return
        cb.agent = call.agent = ext
        await self._routing_for(cb.tenant_id, cb.task_id, lambda e, now: e.accept(event.reservation_id, now, wid))
        if self.prompts is not None and call.anchor is not PASSTHROUGH:
            with contextlib.suppress(Exception):
                info = await self.prompts.speak(cb.whisper or f"{CALLBACK_WHISPER} {' '.join(cb.number)}",
                                                language="en")
                ms = await call.anchor.play(call.id, agent.dialog.local_tag, str(info.path))  # type: ignore[attr-defined]
                await asyncio.sleep(ms / 1000)
        customer_dest = self.b2bua.resolve(cb.number, cb.tenant_id)
        customer, final = (await self.b2bua.originate(agent, customer_dest, await self.b2bua.reoffer(agent))
                           if customer_dest is not None and not agent.ended else (None, None))
        if customer is None:
            status = final.status if final is not None else 408
            cb.result = "busy" if status in (486, 600) else "no_answer" if status in (408, 480, 487) else "failed"
            await self._log_row(cb.tenant_id, cb.task_id, cb.queue, "callback_failed", agent=ext,
                                detail=f"status {status}")
            await self.b2bua.hang_up(agent)
            return
        await self.b2bua.bridge(agent, customer)
        cb.result = "answered"
        call.wait_s = time.time() - cb.entered
        await self._log_row(cb.tenant_id, cb.task_id, cb.queue, "answered", agent=ext, wait_s=call.wait_s,
                            detail="callback")

    async def _offer(self, w: Waiting, event: TaskReserved) -> None:
        try:
            await self._ring(w, event)
        finally:
            w.ringing = None

    async def _ring(self, w: Waiting, event: TaskReserved) -> None:
        targets: list[tuple[str, Address]] = []
        worker_of: dict[str, str] = {}
        declined: set[str] = set()
        remote_dest: Destination | None = None
        remote_worker = ""
        engine = self.routing.engines.get(w.tenant_id)
        for wid in event.worker_ids:
            worker = engine.workers.get(wid) if engine is not None else None
            ext = str(worker.attributes.get("extension", "")) if worker is not None else ""
            if ext and self.b2bua.busy(ext, w.tenant_id):  # on a call of its own (internal, outside)
                await self._routing(w, lambda e, now, wid=wid: e.reject(event.reservation_id, wid, now))
                declined.add(wid)
                continue
            dest = self.b2bua.resolve(ext, w.tenant_id) if ext else None
            for uri, addr in dest.targets if dest is not None else []:
                targets.append((uri, addr))
                worker_of[uri] = wid
            remote = str(worker.attributes.get("remote_number", "")) if worker is not None else ""
            if (dest is None or not dest.targets) and remote and remote_dest is None:
                remote_dest = self.b2bua.resolve(remote, w.tenant_id)  # a home agent: their outside number
                remote_worker = wid
            await self._log(w, "offered", agent=ext)
        if not targets and remote_dest is not None and remote_dest.targets:
            targets = list(remote_dest.targets)
            worker_of = {uri: remote_worker for uri, _ in targets}
        if not targets:  # the offered agents have no phone registered: decline for them
            for wid in event.worker_ids:
                if wid in declined:
                    continue
                await self._routing(w, lambda e, now, wid=wid: e.reject(event.reservation_id, wid, now,
                                                                        not_ready=True))
            return
        offer_sdp = await self.b2bua.reoffer(w.caller)
        if remote_dest is not None and targets == list(remote_dest.targets):
            dest = remote_dest  # through the trunk: its gateways in turn, its credentials
        else:
            dest = Destination(targets, w.tenant_id, "extension", ",".join(sorted(set(worker_of.values()))))
        w.call.pop_headers = await self._pop(w)
        offered = self._users(w, set(worker_of.values()))
        await self._agent_call(w, "offered", offered)
        agent_leg, final = await self.b2bua.originate(w.caller, dest, offer_sdp, extra_headers=w.call.pop_headers)
        if w.done or w.caller.ended:
            await self._agent_call(w, "withdrawn", offered)
            if agent_leg is not None:
                await self.b2bua.hang_up(agent_leg)
            return
        if agent_leg is None or agent_leg.invite is None:
            await self._agent_call(w, "withdrawn", offered)
            if event.reservation_id in w.timed_out:
                return  # the engine took the offer back already (and logged it missed)
            status = final.status if final is not None else 408
            for wid in event.worker_ids:
                await self._routing(w, lambda e, now, wid=wid: e.reject(event.reservation_id, wid, now,
                                                                        not_ready=status != 486))
            await self._log(w, "missed", agent=self._extensions(w, event.worker_ids), detail=f"status {status}")
            return
        wid = worker_of.get(agent_leg.invite.uri, event.worker_ids[0])
        await self._routing(w, lambda e, now: e.accept(event.reservation_id, now, wid))
        await self.b2bua.bridge(w.caller, agent_leg)
        agent_leg.role = "agent"
        worker = engine.workers.get(wid) if engine is not None else None
        w.agent = str(worker.attributes.get("extension", wid)) if worker is not None else wid
        w.call.agent, w.call.wait_s = w.agent, time.time() - w.entered
        w.agent_user = next(iter(self._users(w, {wid})), "")
        await self._agent_call(w, "withdrawn", tuple(u for u in offered if u != w.agent_user))
        await self._agent_call(w, "answered", (w.agent_user,))
        await self._log(w, "answered", agent=w.agent, wait_s=time.time() - w.entered)
        events = self.flows.get(w.call.id)
        if events is not None:  # the flow that kept the caller company (announcements, maximum wait) ends
            events.put_nowait(fr.QueueAnswered())
        if w.announcer is not None:
            w.announcer.cancel()
        for hook in self.on_answered:
            try:
                await hook(w.call, w.caller, agent_leg, w.queue)
            except Exception:
                log.exception("answered hook failed", extra={"call_id": w.call.id})

    async def _pop(self, w: Waiting) -> list[tuple[str, str]]:
        """The screen pop's headers for the agent's INVITE: the flow run is still with a caller who waits
        (its path and variables as they are now); after a transfer to a queue, what the run left."""
        path = list(w.run.path) if w.run is not None else w.ivr_path
        variables = {**w.variables, **(w.run.variables if w.run is not None else {})}
        customer_id = str(w.customer["id"]) if w.customer else ""
        return pop_headers(call_id=w.call.id, task_id=w.task_id, queue=w.queue, ivr_path=path, variables=variables,
                           customer_id=customer_id, recording=await self._recording_policy(w.tenant_id, w.queue))

    def _users(self, w: Waiting, worker_ids: set[str]) -> tuple[str, ...]:
        """The user accounts of these agents (those that have one)."""
        engine = self.routing.engines.get(w.tenant_id)
        workers = [engine.workers.get(wid) for wid in sorted(worker_ids)] if engine is not None else []
        return tuple(str(wk.user_id) for wk in workers if wk is not None and wk.user_id is not None)

    async def _agent_call(self, w: Waiting, phase: str, user_ids: tuple[str, ...]) -> None:
        """Tell the desktops of `user_ids` where the call is (the facts of its screen pop with it)."""
        if not user_ids or not all(user_ids):
            return
        facts = dict(w.call.pop_headers)
        await self.bus.publish(AgentCallChanged(
            tenant_id=w.tenant_id, at=time.time(), phase=phase, call_id=w.call.id, task_id=w.task_id,
            queue=w.queue, caller=w.call.caller, user_ids=user_ids, ivr_path=facts.get("x-tongdai-ivr-path", ""),
            digits=facts.get("x-tongdai-digits", ""), customer_id=facts.get("x-tongdai-customer-id", ""),
            recording=facts.get("x-tongdai-recording", "")))

    async def _recording_policy(self, tenant_id: str, queue: str) -> str:
        """The queue's recording policy (`never` for a queue not found), for the agent's buttons."""
        async with self.db.sessionmaker() as session:
            policy = (await session.execute(select(DirQueue.recording_policy).where(
                DirQueue.tenant_id == tenant_id, DirQueue.name == queue))).scalar_one_or_none()
        return str(policy or "never")

    # Bus handlers never write to the database while the publisher may hold a transaction (the routing
    # service publishes inside its own): the work runs in a task of its own (with SQLite, one writer
    # waiting on another would wait out the busy timeout and lose the row).
    async def _offer_timed_out(self, event: ReservationTimedOut) -> None:
        self.b2bua.spawn(self._timed_out(event))

    async def _timed_out(self, event: ReservationTimedOut) -> None:
        w = self.waiting.get(event.task_id or "")
        if w is None:
            return
        w.timed_out.add(event.reservation_id)
        await self._log(w, "missed", agent=self._extensions(w, event.worker_ids), detail="no answer")
        if w.ringing is not None:
            self.b2bua.cancel_ringing(w.call)

    def _extensions(self, w: Waiting, worker_ids: tuple[str, ...]) -> str:
        engine = self.routing.engines.get(w.tenant_id)
        exts = [str(engine.workers[wid].attributes.get("extension", wid)) if engine and wid in engine.workers else wid
                for wid in worker_ids]
        return ",".join(exts)

    async def _left_queue(self, event: TaskLeftQueue) -> None:
        self.b2bua.spawn(self._leave(event))

    async def _leave(self, event: TaskLeftQueue) -> None:
        """Maximum wait reached (or the queue is full or closed): hang up (voicemail and callbacks are
        to take this over)."""
        w = self.waiting.pop(event.task_id or "", None)
        if w is None:
            cb = self.callbacks.get(event.task_id or "")
            if cb is not None and cb.call is None and cb.on_done is not None:  # nobody took it in time
                self.callbacks.pop(cb.task_id, None)
                await self._log_row(cb.tenant_id, cb.task_id, cb.queue, "left", detail=event.reason)
                await cb.on_done("no_agent", "")
            return
        w.done = True
        await self._log(w, "left", detail=f"{event.reason} -> {event.destination}", wait_s=time.time() - w.entered)
        await self.b2bua.hang_up(w.caller)

    # --- an agent transfers the caller (REFER): the task follows the call ---
    async def _transferred(self, event: CallTransferred) -> None:
        self.b2bua.spawn(self._hand_over(event))

    async def _hand_over(self, event: CallTransferred) -> None:
        """The agent who transferred a queued caller is off the call: their task completes (wrap-up). When
        another agent's extension took the caller (blind or attended), a task assigned to that agent follows
        the call, so that routing, the wallboard and their desktop see them talking, then wrapping up."""
        w = next((o for o in self.waiting.values() if o.call.id == event.call_id and not o.done), None)
        engine = self.routing.engines.get(w.tenant_id) if w is not None else None
        task = engine.tasks.get(w.task_id) if w is not None and engine is not None else None
        if w is None or engine is None or task is None or task.state is not TaskState.ASSIGNED \
                or event.transferee != w.caller.label or event.target == w.agent:
            return  # not a queued caller an agent holds (sent to a queue already, or the caller transferred)
        await self._routing(w, lambda e, now: e.complete(w.task_id, now))
        await self._log(w, "transferred", agent=w.agent, detail=event.target)
        await self._agent_call(w, "ended", (w.agent_user,))
        target = next((wk for wk in engine.workers.values()
                       if str(wk.attributes.get("extension", "")) == event.target), None)
        if target is None:
            return  # an outside number: no agent of ours holds the caller now
        w.transfers += 1
        self.waiting.pop(w.task_id, None)
        w.task_id = f"{w.call.id}-t{w.transfers}"
        self.waiting[w.task_id] = w
        w.agent, w.agent_user = event.target, str(target.user_id or "")
        w.call.agent = w.agent
        handed = Task(w.task_id, channel="voice", tenant_id=w.tenant_id,
                      attributes={**w.variables, "queue": w.queue, "caller": w.call.caller, "number": w.call.callee})
        await self._routing(w, lambda e, now: e.assign_directly(handed, target.id, now, reservation_id="transfer"))
        await self._log(w, "answered", agent=w.agent, detail="transfer")
        await self._agent_call(w, "answered", (w.agent_user,))

    # --- the end ---
    def _call_ended(self, call: Call) -> None:
        if call.answered is not None and call.queue:  # the queue's handle time, for expected waits
            times = self._handle_times.setdefault((str(call.tenant_id), call.queue), [])
            times.append(time.time() - call.answered)
            del times[:-HANDLE_TIMES_KEPT]
        callback = next((cb for cb in self.callbacks.values() if cb.call is call), None)
        if callback is not None:
            self.b2bua.spawn(self._callback_ended(callback))
            return
        w = next((o for o in self.waiting.values() if o.call is call), None)
        if w is not None:
            self.waiting.pop(w.task_id, None)
        if w is None or w.done:
            return
        w.done = True
        self.b2bua.spawn(self._finish(w))

    async def _finish(self, w: Waiting) -> None:
        if w.ringing is not None:
            self.b2bua.cancel_ringing(w.call)
        engine = self.routing.engines.get(w.tenant_id)
        task = engine.tasks.get(w.task_id) if engine is not None else None
        if task is None:
            return
        if task.state in (TaskState.ASSIGNED,):
            await self._routing(w, lambda e, now: e.complete(w.task_id, now))
            await self._log(w, "completed", agent=w.agent)
            await self._agent_call(w, "ended", (w.agent_user,))
        else:
            position = self._position(w)
            await self._routing(w, lambda e, now: e.cancel(w.task_id, now, reason="abandoned", abandoned=True))
            await self._log(w, "abandoned", position=position, wait_s=time.time() - w.entered)

    async def _callback_ended(self, cb: Callback) -> None:
        """The callback's call is over: done if the customer was reached, else it waits for the next agent."""
        reached = cb.call is not None and cb.call.answered is not None
        engine = self.routing.engines.get(cb.tenant_id)
        task = engine.tasks.get(cb.task_id) if engine is not None else None
        if task is not None and task.state is TaskState.ASSIGNED:
            await self._routing_for(cb.tenant_id, cb.task_id, lambda e, now: e.complete(cb.task_id, now))
        if reached or task is None:
            self.callbacks.pop(cb.task_id, None)
            await self._log_row(cb.tenant_id, cb.task_id, cb.queue, "completed", agent=cb.agent, detail="callback")
        if cb.on_done is not None and (reached or cb.result):  # a scheduled callback's attempt is over
            self.callbacks.pop(cb.task_id, None)
            await cb.on_done("answered" if reached else cb.result, cb.call.id if cb.call is not None else "")

    # --- plumbing ---
    async def _routing(self, w: Waiting, fn: Callable[..., list[object]]) -> None:
        await self._routing_for(w.tenant_id, w.task_id or w.call.id, fn)

    async def _routing_for(self, tenant_id: str, call_id: str, fn: Callable[..., list[object]]) -> None:
        try:
            async with self.db.session() as session:
                await self.routing.call(session, tenant_id, fn)  # type: ignore[arg-type]
        except TongdaiError as exc:  # the offer or task moved on meanwhile (timed out, cancelled)
            log.info("routing refused: %s", exc.message, extra={"call_id": call_id})

    def _position(self, w: Waiting) -> int:
        """1 + the callers of the same queue who came before."""
        ahead = sum(1 for o in self.waiting.values() if o.queue == w.queue and o.entered < w.entered and not o.done
                    and not o.agent)
        kept = sum(1 for cb in self.callbacks.values() if cb.queue == w.queue and cb.tenant_id == w.tenant_id
                   and cb.entered < w.entered and cb.call is None)  # callbacks keep their place in line
        return 1 + ahead + kept

    async def _log(self, w: Waiting, event: str, *, agent: str = "", position: int | None = None,
                   wait_s: float | None = None, detail: str = "") -> None:
        await self._log_row(w.tenant_id, w.call.id, w.queue, event, agent=agent, position=position, wait_s=wait_s,
                            detail=detail)

    async def _log_row(self, tenant_id: str, call_id: str, queue: str, event: str, *, agent: str = "",
                       position: int | None = None, wait_s: float | None = None, detail: str = "") -> None:
        entry = QueueLogEntry(tenant_id=tenant_id, at=datetime.now(UTC).replace(tzinfo=None), call_id=call_id,
                              queue=queue, event=event, agent=agent, position=position,
                              wait_s=None if wait_s is None else round(wait_s, 3), detail=detail)
        async with self.db.sessionmaker() as session:
            session.add(entry)
            await session.commit()
