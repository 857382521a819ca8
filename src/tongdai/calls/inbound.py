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

import numpy as np
from sqlalchemy import select

from tongdai.calls.b2bua import PASSTHROUGH, B2bua, Call, Destination, Leg, via_transport
from tongdai.calls.caller_id import e164
from tongdai.calls.models import QueueLogEntry
from tongdai.core.db import Database
from tongdai.core.errors import TongdaiError
from tongdai.core.events import EventBus
from tongdai.directory.hours import is_open
from tongdai.directory.models import Calendar as DirCalendar
from tongdai.iam.models import Tenant
from tongdai.ivr.flow import Flow
from tongdai.ivr.interpreter import (
    Action,
    CheckHours,
    Digit,
    Event,
    FlowRun,
    HoursChecked,
    PlayFinished,
    Say,
    StopSaying,
    TransferTo,
)
from tongdai.ivr.interpreter import Enqueue as EnqueueAction
from tongdai.ivr.interpreter import Hangup as IvrHangup
from tongdai.media.engine_events import RtpengineDigit
from tongdai.media.prompts import PromptLibrary
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
    done: bool = False
    timed_out: set[str] = field(default_factory=set)  # reservations whose offer timed out
    variables: dict[str, str] = field(default_factory=dict)  # what the call flow collected
    priority: int = 0
    ivr_path: list[str] = field(default_factory=list)


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
                 prompts: PromptLibrary | None = None) -> None:
        self.b2bua, self.routing, self.db = b2bua, routing, db
        self.prompts = prompts  # text to speech for call flows (None: flows cannot speak, numbers go to queues)
        self.flows: dict[str, asyncio.Queue[Event]] = {}  # call id -> what its running flow hears
        self.music = music  # the file played to waiting callers (None: silence)
        self.waiting: dict[str, Waiting] = {}  # task id (= call id) -> caller
        #: called (awaited) once caller and agent are joined: recording by the queue's policy, screen pop...
        self.on_answered: list[Callable[[Call, Leg, Leg, str], Awaitable[None]]] = []
        bus.subscribe(TaskReserved, self._reserved)
        bus.subscribe(ReservationTimedOut, self._offer_timed_out)
        bus.subscribe(TaskLeftQueue, self._left_queue)
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
        caller_e164 = e164(call.caller, await self._region(w.tenant_id))
        if caller_e164:  # routing and the agent's screen see the caller in one form, whatever was dialled
            w.variables["caller_e164"] = caller_e164
        speaks = flow is not None and call.anchor is not PASSTHROUGH and self.prompts is not None
        if speaks and not await self._run_flow(w, flow):  # type: ignore[arg-type]
            return  # the flow ended the call or sent it elsewhere
        if not w.queue:
            await self.b2bua.hang_up(leg)
            return
        call.queue = w.queue
        self.waiting[call.id] = w
        await self._play_music(w)
        task = Task(call.id, channel="voice", attributes={"queue": w.queue, "caller": call.caller,
                                                          "number": call.callee, **w.variables},
                    priority=w.priority, tenant_id=w.tenant_id)
        await self._log(w, "entered", position=self._position(w))  # before: an offer may follow at once
        async with self.db.session() as session:
            await self.routing.submit(session, w.tenant_id, task)

    # --- call flows ---
    async def _run_flow(self, w: Waiting, flow: Flow) -> bool:
        """Run the caller through `flow`; True when it ends in a queue (w.queue set), False when the
        flow hung up or moved the call."""
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[Event] = asyncio.Queue()
        self.flows[w.call.id] = events
        run = FlowRun(flow, now=loop.time(), variables={"caller": w.call.caller, "number": w.call.callee,
                                                        **w.variables})
        try:
            actions = run.start(loop.time())
            while True:
                for action in actions:
                    outcome = await self._carry_out(w, run, action, events)
                    if outcome is not None:
                        return outcome
                if w.caller.ended:
                    return False
                actions = await self._next(run, events, loop)
        finally:
            self.flows.pop(w.call.id, None)
            w.ivr_path = run.path

    async def _next(self, run: FlowRun, events: asyncio.Queue[Event], loop: asyncio.AbstractEventLoop) -> list[Action]:
        timeout = None if run.deadline is None else max(0.0, run.deadline - loop.time())
        try:
            event = await asyncio.wait_for(events.get(), timeout)
        except TimeoutError:
            return run.on_timer(loop.time())
        return run.on_event(event, loop.time())

    async def _carry_out(self, w: Waiting, run: FlowRun, action: Action, events: asyncio.Queue[Event]) -> bool | None:
        """Do one action of the flow; True/False when the flow is over (see `_run_flow`)."""
        call, tag = w.call, w.caller.dialog.local_tag if w.caller.dialog else ""
        if isinstance(action, Say):
            await self._say(call, tag, action, events)
        elif isinstance(action, StopSaying):
            with contextlib.suppress(Exception):
                await call.anchor.stop_play(call.id, tag)  # type: ignore[attr-defined]
        elif isinstance(action, CheckHours):
            events.put_nowait(HoursChecked(await self._open(w.tenant_id, action.calendar)))
        elif isinstance(action, EnqueueAction):
            w.queue, w.priority = action.queue, action.priority
            w.variables.update(action.variables)
            return True
        elif isinstance(action, TransferTo):
            dest = self.b2bua.resolve(action.target, w.tenant_id)
            agent, _ = await self.b2bua.originate(w.caller, dest, await self.b2bua.reoffer(w.caller)) if dest \
                else (None, None)
            if agent is not None:
                await self.b2bua.bridge(w.caller, agent)
            else:
                await self.b2bua.hang_up(w.caller)
            return False
        elif isinstance(action, IvrHangup):
            await self.b2bua.hang_up(w.caller)
            return False
        return None

    async def _say(self, call: Call, tag: str, action: Say, events: asyncio.Queue[Event]) -> None:
        """Speak `action` to the caller; PlayFinished arrives when it has been heard."""
        assert self.prompts is not None
        loop = asyncio.get_running_loop()
        try:
            prompt = await self.prompts.speak(action.text, language=action.language)
            ms = await call.anchor.play(call.id, tag, str(prompt.path))  # type: ignore[attr-defined]
        except Exception as exc:  # a prompt that cannot play must not stall the flow
            log.warning("prompt failed: %s", exc, extra={"call_id": call.id})
            ms = 0
        loop.call_later(max(ms, 0) / 1000, events.put_nowait, PlayFinished())

    async def _digit(self, event: RtpengineDigit) -> None:
        events = self.flows.get(event.call_id)
        if events is not None:
            events.put_nowait(Digit(event.digit))

    async def _region(self, tenant_id: str) -> str:
        """The tenant's country, for reading callers' numbers."""
        async with self.db.sessionmaker() as session:
            region = (await session.execute(select(Tenant.default_region).where(Tenant.id == tenant_id))).scalar()
        return str(region or "VN")

    async def _open(self, tenant_id: str, calendar: str) -> bool:
        """Is the tenant's calendar of that name open now? (A missing calendar counts as open.)"""
        async with self.db.sessionmaker() as session:
            row = (await session.execute(select(DirCalendar).where(DirCalendar.tenant_id == tenant_id,
                                                                   DirCalendar.name == calendar))).scalar_one_or_none()
        if row is None:
            log.warning("call flow names an unknown calendar %r: taken as open", calendar)
            return True
        return is_open(row.timezone, row.weekly, row.holidays, datetime.now(UTC))

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
        w = self.waiting.get(event.task_id or "")
        if w is None or w.done:
            return
        w.ringing = asyncio.get_running_loop().create_task(self._offer(w, event))
        w.ringing.add_done_callback(_log_failure)

    async def _offer(self, w: Waiting, event: TaskReserved) -> None:
        try:
            await self._ring(w, event)
        finally:
            w.ringing = None

    async def _ring(self, w: Waiting, event: TaskReserved) -> None:
        targets: list[tuple[str, Address]] = []
        worker_of: dict[str, str] = {}
        declined: set[str] = set()
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
            await self._log(w, "offered", agent=ext)
        if not targets:  # the offered agents have no phone registered: decline for them
            for wid in event.worker_ids:
                if wid in declined:
                    continue
                await self._routing(w, lambda e, now, wid=wid: e.reject(event.reservation_id, wid, now,
                                                                        not_ready=True))
            return
        offer_sdp = await self.b2bua.reoffer(w.caller)
        dest = Destination(targets, w.tenant_id, "extension", ",".join(sorted(set(worker_of.values()))))
        agent_leg, final = await self.b2bua.originate(w.caller, dest, offer_sdp)
        if w.done or w.caller.ended:
            if agent_leg is not None:
                await self.b2bua.hang_up(agent_leg)
            return
        if agent_leg is None or agent_leg.invite is None:
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
        await self._log(w, "answered", agent=w.agent, wait_s=time.time() - w.entered)
        for hook in self.on_answered:
            try:
                await hook(w.call, w.caller, agent_leg, w.queue)
            except Exception:
                log.exception("answered hook failed", extra={"call_id": w.call.id})

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
            return
        w.done = True
        await self._log(w, "left", detail=f"{event.reason} -> {event.destination}", wait_s=time.time() - w.entered)
        await self.b2bua.hang_up(w.caller)

    # --- the end ---
    def _call_ended(self, call: Call) -> None:
        w = self.waiting.pop(call.id, None)
        if w is None or w.done:
            return
        w.done = True
        self.b2bua.spawn(self._finish(w))

    async def _finish(self, w: Waiting) -> None:
        if w.ringing is not None:
            self.b2bua.cancel_ringing(w.call)
        engine = self.routing.engines.get(w.tenant_id)
        task = engine.tasks.get(w.call.id) if engine is not None else None
        if task is None:
            return
        if task.state in (TaskState.ASSIGNED,):
            await self._routing(w, lambda e, now: e.complete(w.call.id, now))
            await self._log(w, "completed", agent=w.agent)
        else:
            position = self._position(w)
            await self._routing(w, lambda e, now: e.cancel(w.call.id, now, reason="abandoned", abandoned=True))
            await self._log(w, "abandoned", position=position, wait_s=time.time() - w.entered)

    # --- plumbing ---
    async def _routing(self, w: Waiting, fn: Callable[..., list[object]]) -> None:
        try:
            async with self.db.session() as session:
                await self.routing.call(session, w.tenant_id, fn)  # type: ignore[arg-type]
        except TongdaiError as exc:  # the offer or task moved on meanwhile (timed out, cancelled)
            log.info("routing refused: %s", exc.message, extra={"call_id": w.call.id})

    def _position(self, w: Waiting) -> int:
        """1 + the callers of the same queue who came before."""
        return 1 + sum(1 for o in self.waiting.values() if o.queue == w.queue and o.entered < w.entered and not o.done
                       and not o.agent)

    async def _log(self, w: Waiting, event: str, *, agent: str = "", position: int | None = None,
                   wait_s: float | None = None, detail: str = "") -> None:
        entry = QueueLogEntry(tenant_id=w.tenant_id, at=datetime.now(UTC).replace(tzinfo=None), call_id=w.call.id,
                              queue=w.queue, event=event, agent=agent, position=position,
                              wait_s=None if wait_s is None else round(wait_s, 3), detail=detail)
        async with self.db.sessionmaker() as session:
            session.add(entry)
            await session.commit()
