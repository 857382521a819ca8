"""How a conference opens, with a fake B2BUA and a fake DSP worker: plain parties move to the mixer by
a re-INVITE before a browser party is re-anchored through rtpengine in place of the party it faced;
a running recording is switched to the mix; a call between two browsers is refused with
`conference_browser`; a third party is rung on its desk phones, or in its browsers through rtpengine
when it has nothing else."""

from __future__ import annotations

import pytest

from tongdai.calls.b2bua import Call, Destination, Leg
from tongdai.calls.conference import Conferences, desk_phones
from tongdai.core.errors import Conflict
from tongdai.media.g711 import Codec
from tongdai.sip.dialog import Dialog

PLAIN_SDP = b"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 8 101\r\n"


def _leg(call: Call, role: str, tag: str, transport: str = "UDP") -> Leg:
    leg = Leg(call, role, tag, ("127.0.0.1", 5060), sdp=PLAIN_SDP, transport=transport)
    leg.dialog = Dialog(call.id, tag, f"{tag}-peer", "sip:a@x", "sip:b@x", "sip:b@x", "sip:a@x")
    return leg


def _call(agent_transport: str = "WS", caller_transport: str = "UDP") -> tuple[Call, Leg, Leg]:
    call = Call("c-1", "t", "0901", "1800", 0.0)
    caller, agent = _leg(call, "caller", "tag-caller", caller_transport), _leg(call, "agent", "tag-agent", agent_transport)
    caller.peer, agent.peer = agent, caller
    call.legs = [agent, caller]  # the browser first: the conference must still move the plain party first
    return call, caller, agent


class FakeB2bua:
    """Records what the conference asks of call control; every party accepts."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, str, str]] = []

    async def reinvite(self, leg: Leg, body: bytes) -> bytes:
        self.steps.append(("reinvite", leg.label, ""))
        return b"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 5000 RTP/AVP 8\r\n"

    async def originate_browser(self, owner: Leg, dest: Destination, body: bytes, tag: str) -> tuple[Leg, bytes]:
        self.steps.append(("originate_browser", owner.label, tag))
        leg = _leg(owner.call, "callee", "tag-third", "WS")
        leg.status = 200
        return leg, b"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 6100 RTP/AVP 0\r\n"

    async def reanchor_browser(self, browser: Leg, side: Leg, body: bytes) -> bytes:
        self.steps.append(("reanchor", browser.label, side.label))
        return b"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 6000 RTP/AVP 0\r\n"


class FakeLeg:
    codec = Codec.PCMU


class FakeDsp:
    """Hands out mixer legs and remembers where each sends and which recording follows the mix."""

    def __init__(self) -> None:
        self.legs: dict[str, FakeLeg] = {}
        self.remotes: dict[str, tuple[str, int]] = {}
        self.mixed: dict[str, tuple[str, str]] = {}

    async def add_participant(self, conference: str, pid: str, **_: object) -> tuple[str, int]:
        self.legs[pid] = FakeLeg()
        return "127.0.0.1", 7000 + len(self.legs)

    def leg(self, conference: str, pid: str) -> FakeLeg:
        return self.legs[pid]

    def set_remote(self, conference: str, pid: str, remote: tuple[str, int]) -> None:
        self.remotes[pid] = remote

    def record_mix(self, recording: str, conference: str, caller: str) -> None:
        self.mixed[recording] = (conference, caller)

    def unrecord_mix(self, recording: str) -> None:
        self.mixed.pop(recording, None)

    async def remove_participant(self, conference: str, pid: str) -> None:
        self.legs.pop(pid)


async def test_given_a_browser_agent_when_the_call_is_mixed_then_the_caller_moves_first_and_the_browser_is_reanchored():
    call, caller, agent = _call()
    b2bua, dsp = FakeB2bua(), FakeDsp()
    conferences = Conferences(b2bua, dsp)  # type: ignore[arg-type]
    room = await conferences._open(call)
    try:
        assert b2bua.steps == [("reinvite", "tag-caller", ""), ("reanchor", "tag-agent", "tag-caller")]
        assert dsp.remotes == {"tag-caller": ("127.0.0.1", 5000), "tag-agent": ("127.0.0.1", 6000)}
        assert dsp.legs["tag-caller"].codec is Codec.PCMA and dsp.legs["tag-agent"].codec is Codec.PCMU  # as answered
        assert dsp.mixed == {"c-1": ("c-1", "tag-caller")}  # the recording follows the caller into the mix
        assert set(room.parties) == {"tag-caller", "tag-agent"} and caller.peer is None and agent.peer is None
    finally:
        assert room.watcher is not None
        room.watcher.cancel()
    await conferences._close(room)
    assert dsp.mixed == {} and dsp.legs == {}


async def test_given_two_browser_parties_when_the_call_is_mixed_then_it_is_refused_before_anything_moves():
    call, _, _ = _call(agent_transport="WSS", caller_transport="WS")
    b2bua, dsp = FakeB2bua(), FakeDsp()
    with pytest.raises(Conflict) as refused:
        await Conferences(b2bua, dsp)._open(call)  # type: ignore[arg-type]
    assert refused.value.error_id == "conference_browser" and b2bua.steps == [] and dsp.legs == {}


def test_a_third_party_is_rung_on_its_desk_phones_when_it_has_any():
    dest = Destination([("sip:1003@127.0.0.1:5070", ("127.0.0.1", 5070)),
                        ("sip:1003@df7jal23ls0d.invalid;transport=ws", ("127.0.0.1", 8080))], "t", "extension", "1003")
    phones = desk_phones(dest)
    assert phones is not None and [uri for uri, _ in phones.targets] == ["sip:1003@127.0.0.1:5070"]
    assert desk_phones(Destination(dest.targets[1:], "t", "extension", "1003")) is None


async def test_given_a_third_party_only_in_a_browser_when_it_is_added_then_it_is_rung_through_rtpengine():
    call, caller, agent = _call()
    b2bua, dsp = FakeB2bua(), FakeDsp()
    browser_only = Destination([("sip:1002@x.invalid;transport=ws", ("127.0.0.1", 8080))], "t", "extension", "1002")
    b2bua.resolve = lambda target, tenant: browser_only  # type: ignore[attr-defined]
    conferences = Conferences(b2bua, dsp)  # type: ignore[arg-type]
    leg = await conferences.add(call, "1002")
    room = conferences.rooms["c-1"]
    try:
        assert b2bua.steps[-1] == ("originate_browser", "tag-caller", "c-1-party-3-mixer")  # a plain owner
        assert dsp.remotes["party-3"] == ("127.0.0.1", 6100) and room.parties["party-3"] is leg
    finally:
        assert room.watcher is not None
        room.watcher.cancel()
    await conferences._close(room)
