"""Conferences on a call: an agent (or a supervisor) adds a third party to a call in progress.

The two parties already talking are moved, each by a re-INVITE, onto legs of the DSP worker's mixer
(`media.mixer`: everyone hears everyone else); the new party is called with an offer for a leg of
its own and joins the mix when it answers. Parties leave on their own; when the customer (the
caller) leaves, or fewer than two parties remain, the others are hung up and the mixer closes.

Supervisors join the same way (`/monitor`) to listen, whisper to the agent or barge in: the
mixer's hearing matrix decides who hears whom (docs/media.md). A supervisor whose phone is already in
the call changes mode in the mixer without a new call.

A browser party (the agent desktop's WebRTC phone) cannot talk plain RTP to the mixer, so its media
keeps going through rtpengine: rtpengine re-offers to the browser from the side of the party it faced
(`B2bua.reanchor_browser`), with the browser's mixer leg as that side's new peer; the browser keeps
its ICE and DTLS session and rtpengine relays between it and the mixer. One of the two parties
talking can be mixed this way; a call between two browsers is refused with 409 `conference_browser`.
A new party is rung on its desk phones when it has any; one reachable only in a browser (another
agent on the desktop) is offered fresh rtpengine sides whose plain end is its mixer leg
(`B2bua.originate_browser`).

A recording that runs on the call goes on in the same file: from the moment the call is mixed the
DSP worker feeds it from the mix (the caller's own voice left, every other voice right) instead of
rtpengine's forks, and its sidecar marks when (`DspWorker.record_mix`).

    POST /api/v1/calls/{call_id}/conference  {"target": "1003"}
    POST /api/v1/calls/{call_id}/monitor     {"extension": "1005", "mode": "listen" | "whisper" | "barge"}
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from dataclasses import dataclass, field, replace
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tongdai.api.crud import ERROR_RESPONSES
from tongdai.api.deps import Allow, session, tenant_of
from tongdai.calls.b2bua import BROWSER_TRANSPORTS, B2bua, Call, Destination, Leg, uri_transport
from tongdai.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from tongdai.directory.models import Agent
from tongdai.iam.roles import Role
from tongdai.iam.security import Principal
from tongdai.media.dsp_worker import DspWorker
from tongdai.media.g711 import Codec
from tongdai.media.mixer import Mode
from tongdai.media.probe import sdp_media_address

log = logging.getLogger(__name__)
#: how often a conference checks who is still in it
WATCH_S = 0.5


def party_sdp(host: str, port: int, codecs: tuple[Codec, ...]) -> bytes:
    """The SDP of a mixer leg: G.711 in the order given, with RFC 4733 events."""
    pts = " ".join(str(c.payload_type) for c in codecs)
    lines = ["v=0", f"o=tongdai 1 1 IN IP4 {host}", "s=conference", f"c=IN IP4 {host}", "t=0 0",
             f"m=audio {port} RTP/AVP {pts} 101"]
    lines += [f"a=rtpmap:{c.payload_type} {c.name}/8000" for c in codecs]
    lines += ["a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15", "a=ptime:20", "a=sendrecv"]
    return ("\r\n".join(lines) + "\r\n").encode()


def chosen_codec(sdp: bytes) -> Codec:
    """The G.711 law an SDP puts first (PCMU when it names neither)."""
    m = re.search(rb"^m=audio \d+ \S+ ([\d ]+)", sdp, re.M)
    for pt in (m.group(1).split() if m else []):
        if pt == b"8":
            return Codec.PCMA
        if pt == b"0":
            return Codec.PCMU
    return Codec.PCMU


@dataclass(eq=False)
class Room:
    """One call's conference: who is in the mix, by participant id."""

    call: Call
    parties: dict[str, Leg] = field(default_factory=dict)
    watcher: asyncio.Task[None] | None = None
    #: the participant id of each supervisor's phone in the mix, by the extension that was rung
    supervisors: dict[str, str] = field(default_factory=dict)


class Conferences:
    """Adds parties to calls in progress and keeps each conference's mixer."""

    def __init__(self, b2bua: B2bua, dsp: DspWorker) -> None:
        self.b2bua, self.dsp = b2bua, dsp
        self.rooms: dict[str, Room] = {}
        self._lock = asyncio.Lock()

    async def add(self, call: Call, target: str, *, mode: Mode = Mode.NORMAL) -> Leg:
        """Call `target` (an extension or a number) into `call`; the leg that answered. A supervisor
        joins in `mode` LISTEN (hears everyone, heard by nobody), WHISPER (heard by the agent only) or
        BARGE (a full party)."""
        async with self._lock:  # one change to a call's conference at a time
            room = self.rooms.get(call.id) or await self._open(call)
            present = self._supervisor_in(room, target) if mode is not Mode.NORMAL else None
            if present is not None:  # the supervisor's phone is already in: a new mode, not a new call
                return self._switch(room, present, mode)
            dest = self.b2bua.resolve(target, call.tenant_id)
            if dest is None or not dest.targets:
                raise NotFound(f"nobody to call at {target!r}", error_id="conference_target_unknown")
            pid = f"party-{len(room.parties) + 1}"
            agent = next((p for p, leg in room.parties.items() if leg.role == "agent"), None)
            if mode is Mode.WHISPER and agent is None:
                raise Conflict("nobody to whisper to: the call has no agent", error_id="conference_no_agent")
            address = await self.dsp.add_participant(call.id, pid, codec=Codec.PCMU, mode=mode,
                                                     whisper_to=agent if mode is Mode.WHISPER else None)
            try:
                leg, answer, status = await self._ring(room, dest, pid, party_sdp(*address, (Codec.PCMU, Codec.PCMA)))
            except BaseException:
                await self.dsp.remove_participant(call.id, pid)
                raise
            if leg is None:
                await self.dsp.remove_participant(call.id, pid)
                raise Conflict(f"{target} did not answer ({status})", error_id="conference_no_answer")
            self.dsp.leg(call.id, pid).codec = chosen_codec(answer)
            self.dsp.set_remote(call.id, pid, sdp_media_address(answer.decode()))
            leg.role = "conference" if mode in (Mode.NORMAL, Mode.BARGE) else f"supervisor-{mode.value}"
            room.parties[pid] = leg
            if mode is not Mode.NORMAL:
                room.supervisors[target] = pid
            log.info("party joined the conference", extra={"call_id": call.id, "party": target})
            return leg

    async def _ring(self, room: Room, dest: Destination, pid: str, offer: bytes) -> tuple[Leg | None, bytes, int]:
        """Ring a new party with its mixer leg's `offer`: on its desk phones when it has any, else in its
        browsers through rtpengine (fresh sides under the tag `<pid>-mixer`). The leg that answered, the
        SDP its mixer leg sends to, and the final status."""
        owner = _plain_owner(room)
        phones = desk_phones(dest)
        if phones is None:
            leg, answer = await self.b2bua.originate_browser(owner, dest, offer, f"{room.call.id}-{pid}-mixer")
            return leg, answer, leg.status if leg is not None else 408
        leg, final = await self.b2bua.originate(owner, phones, offer)
        return leg, leg.sdp if leg is not None else b"", final.status if final is not None else 408

    @staticmethod
    def _supervisor_in(room: Room, extension: str) -> str | None:
        """The participant id of `extension`'s phone when it joined as a supervisor and is still in."""
        pid = room.supervisors.get(extension)
        return pid if pid is not None and pid in room.parties and not room.parties[pid].ended else None

    def _switch(self, room: Room, pid: str, mode: Mode) -> Leg:
        """Move a supervisor already in the mix to `mode` (listen -> whisper -> barge and back)."""
        agent = next((p for p, leg in room.parties.items() if leg.role == "agent"), None)
        if mode is Mode.WHISPER and agent is None:
            raise Conflict("nobody to whisper to: the call has no agent", error_id="conference_no_agent")
        self.dsp.set_mode(room.call.id, pid, mode, agent if mode is Mode.WHISPER else None)
        leg = room.parties[pid]
        leg.role = "conference" if mode is Mode.BARGE else f"supervisor-{mode.value}"
        log.info("supervisor changed mode", extra={"call_id": room.call.id, "mode": mode.value})
        return leg

    async def _open(self, call: Call) -> Room:
        """Move the two parties talking on `call` onto the mixer; a running recording follows them."""
        talking = [leg for leg in call.legs if not leg.ended and leg.dialog is not None and leg.peer is not None]
        if len(talking) < 2:
            raise Conflict("the call has no two parties talking", error_id="conference_not_joined")
        if sum(_in_browser(leg) for leg in talking) > 1:
            raise Conflict("two browser parties cannot be mixed yet", error_id="conference_browser")
        room = Room(call)
        caller = next((leg for leg in talking if leg.role == "caller"), talking[0])
        self.dsp.record_mix(call.id, call.id, _pid(caller))  # the recording's key is the call's id
        # plain parties first: a browser's rtpengine side is re-used once the party it faced has left it
        for leg in sorted(talking, key=_in_browser):
            pid = _pid(leg)
            if not await self._move(leg, pid):
                await self._close(room)
                raise Conflict(f"{leg.label} refused to join the conference", error_id="conference_refused")
            room.parties[pid] = leg
        for leg in talking:  # from now on each party leaves on its own
            leg.peer = None
        self.rooms[call.id] = room
        room.watcher = asyncio.get_running_loop().create_task(self._watch(room))
        return room

    async def _move(self, leg: Leg, pid: str) -> bool:
        """Give `leg` a mixer leg: a plain party in a re-INVITE with the leg's SDP, a browser party
        through rtpengine in place of the party it faced. Whether it took it."""
        call = leg.call
        if _in_browser(leg) and leg.peer is not None:
            address = await self.dsp.add_participant(call.id, pid, codec=Codec.PCMU)
            offer = party_sdp(*address, (Codec.PCMU, Codec.PCMA))
            answer = await self.b2bua.reanchor_browser(leg, leg.peer, offer)
        else:
            codec = chosen_codec(leg.sdp)
            address = await self.dsp.add_participant(call.id, pid, codec=codec)
            answer = await self.b2bua.reinvite(leg, party_sdp(*address, (codec,)))
        if answer is None:
            await self.dsp.remove_participant(call.id, pid)
            return False
        self.dsp.leg(call.id, pid).codec = chosen_codec(answer)
        self.dsp.set_remote(call.id, pid, sdp_media_address(answer.decode()))
        return True

    async def _watch(self, room: Room) -> None:
        """End the conference when the caller leaves or fewer than two parties remain."""
        while True:
            await asyncio.sleep(WATCH_S)
            present = [leg for leg in room.parties.values() if not leg.ended]
            talking = [leg for leg in present if not leg.role.startswith("supervisor-")]
            caller_gone = any(leg.ended and leg.role == "caller" for leg in room.parties.values())
            if caller_gone or len(talking) < 2:
                for leg in present:
                    await self.b2bua.hang_up(leg)
                await self._close(room)
                return

    async def _close(self, room: Room) -> None:
        self.rooms.pop(room.call.id, None)
        self.dsp.unrecord_mix(room.call.id)
        for pid in list(room.parties):
            with contextlib.suppress(KeyError):  # already gone with its conference
                await self.dsp.remove_participant(room.call.id, pid)
        room.parties.clear()


def desk_phones(dest: Destination) -> Destination | None:
    """`dest` without its browser devices, or None when it has nothing else (a party with a desk phone
    is rung there only: one offer serves every device, and a desk phone takes plain RTP)."""
    plain = [(uri, addr) for uri, addr in dest.targets if uri_transport(uri) not in BROWSER_TRANSPORTS]
    return replace(dest, targets=plain) if plain else None


def _in_browser(leg: Leg) -> bool:
    return leg.transport in BROWSER_TRANSPORTS


def _pid(leg: Leg) -> str:
    """A talking party's participant id in the mix: its dialog's tag."""
    return leg.dialog.local_tag if leg.dialog is not None else leg.label


def _plain_owner(room: Room) -> Leg:
    """The party a new leg is placed for: a plain one still in the call (a browser owner would make
    `B2bua.originate` re-offer its media through rtpengine)."""
    plain = [leg for leg in room.parties.values() if not _in_browser(leg)]
    return next((leg for leg in plain if not leg.ended), plain[0] if plain else next(iter(room.parties.values())))


# ---------------------------------------------------------------------------------------------- API

router = APIRouter(tags=["calls"])
CONFERENCE_ROLES = (Role.AGENT, Role.SUPERVISOR, Role.TENANT_ADMIN)


class ConferenceIn(BaseModel):
    #: optional in the schema so that an unknown call answers 404 before the body is judged
    target: str | None = Field(None, min_length=1, max_length=64, description="An extension or a number to call in.")


class ConferenceOut(BaseModel):
    call_id: str
    parties: list[str]


@router.post("/calls/{call_id}/conference", response_model=ConferenceOut, responses=ERROR_RESPONSES)
async def add_party(call_id: str, body: ConferenceIn, request: Request,
                    p: Principal = Depends(Allow(CONFERENCE_ROLES)),
                    db: AsyncSession = Depends(session, scope="function")) -> dict[str, Any]:
    """Call a third party into a call in progress (a three-way conference)."""
    tenant = tenant_of(request, p)
    conferences: Conferences | None = getattr(request.app.state, "conferences", None)
    call = conferences.b2bua.calls.get(call_id) if conferences is not None else None
    if conferences is None or call is None or call.tenant_id != tenant:
        raise NotFound(f"call {call_id} not found (not in progress)")
    if p.role == Role.AGENT:
        extension = (await db.execute(select(Agent.extension).where(
            Agent.tenant_id == tenant, Agent.user_id == p.subject_id))).scalar_one_or_none()
        if extension is None or extension not in {call.agent, *(leg.label for leg in call.legs if not leg.ended)}:
            raise Forbidden("an agent adds parties to their own calls only")
    if not body.target:
        raise InvalidInput("target is required: the extension or number to call in")
    await conferences.add(call, body.target)
    room = conferences.rooms.get(call.id)
    return {"call_id": call.id, "parties": [party(call, leg) for leg in (room.parties.values() if room else [])]}


class MonitorIn(BaseModel):
    #: optional in the schema so that an unknown call answers 404 before the body is judged
    extension: str | None = Field(None, min_length=1, max_length=64, description="The supervisor's phone.")
    mode: str = Field("listen", pattern="^(listen|whisper|barge)$")


@router.post("/calls/{call_id}/monitor", response_model=ConferenceOut, responses=ERROR_RESPONSES)
async def monitor(call_id: str, body: MonitorIn, request: Request,
                  p: Principal = Depends(Allow((Role.SUPERVISOR, Role.TENANT_ADMIN)))) -> dict[str, Any]:
    """A supervisor's phone joins a call: listen (hears both sides, heard by nobody), whisper (heard by
    the agent only) or barge (a full party); the hearing matrix is the DSP mixer's."""
    conferences: Conferences | None = getattr(request.app.state, "conferences", None)
    call = conferences.b2bua.calls.get(call_id) if conferences is not None else None
    if conferences is None or call is None or call.tenant_id != tenant_of(request, p):
        raise NotFound(f"call {call_id} not found (not in progress)")
    if not body.extension:
        raise InvalidInput("extension is required: the supervisor's phone to ring")
    await conferences.add(call, body.extension, mode=Mode(body.mode))
    room = conferences.rooms.get(call.id)
    return {"call_id": call.id, "parties": [party(call, leg) for leg in (room.parties.values() if room else [])]}


def party(call: Call, leg: Leg) -> str:
    """Who a leg is: the agent's extension for the agent's leg, else the number or extension called."""
    return call.agent if leg.role == "agent" and call.agent else leg.label
