"""Speech on a real call: tongdai runs in this process with its managed rtpengine and answers a caller
(a number leading to a queue where nobody answers); the caller, a UA on the project's SIP stack,
sends espeak-ng's "sales" as PCMU RTP; `app.speech.listen` forks the caller's media, hears "sales"
and removes the fork. A caller who says nothing, or a language without a model, gives None. Through
a call flow: a menu that asks for a word sends the caller who says "sales" to the sales queue."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
import signal
import socket
import struct
import time
from collections.abc import AsyncIterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from tests.conftest import free_port
from tests.media.speech_audio import needs_espeak_and_sox, spoken
from tongdai import demo
from tongdai.app import App, build_app
from tongdai.calls.b2bua import Call, Leg
from tongdai.calls.models import QueueLogEntry
from tongdai.calls.speech import SpeechRecognition
from tongdai.core.config import load_settings
from tongdai.directory.models import Number, Queue
from tongdai.ivr.models import CallFlowVersion
from tongdai.media import g711
from tongdai.media.speech import UnknownWords
from tongdai.sip.dialog import Dialog, new_dialog_ids
from tongdai.sip.message import Request, Response
from tongdai.sip.stack import SipStack

pytestmark = pytest.mark.e2e

MENU = ["sales", "support", "billing"]
NUMBER = "1877"
#: a number whose call flow asks for a spoken choice: silence or a wrong word ends in support
SPOKEN_MENU_NUMBER = "1876"
SPOKEN_MENU_FLOW = {
    "name": "spoken-menu", "version": 1, "language": "en", "languages": ["en"], "entry": "menu",
    "nodes": {
        "menu": {"type": "menu", "prompt": {"en": "Say sales, support or billing."},
                 "speech": {"words": {"sales": "sales", "support": "support", "billing": "support"},
                            "confidence": 0.5},
                 "timeout_s": 6, "retries": 0, "no_input": "support"},
        "sales": {"type": "enqueue", "queue": "sales"},
        "support": {"type": "enqueue", "queue": "support"},
    },
}


@dataclass
class Running:
    app: App
    sip_port: int

    @property
    def b2bua(self):  # type: ignore[no-untyped-def]
        sip = next(s for s in self.app.services if s.name == "sip")
        return sip.core.b2bua  # type: ignore[attr-defined]

    @property
    def speech(self) -> SpeechRecognition:
        return self.app.speech  # type: ignore[attr-defined,no-any-return]


@pytest.fixture
async def tongdai(tmp_path: Path) -> AsyncIterator[Running]:
    """tongdai in this process (SIP and a managed rtpengine) with the demo tenant; NUMBER leads to the
    sales queue, where nobody answers, so the caller stays on the line listening to music."""
    sip_port, rtp = free_port(socket.SOCK_DGRAM), random.randrange(42000, 60000, 400)
    settings = load_settings(overrides={
        "data_dir": str(tmp_path / "var"), "database.url": f"sqlite+aiosqlite:///{tmp_path}/t.db", "http.port": 0,
        "sip.udp_port": sip_port, "sip.tcp_port": sip_port, "media.rtp_port_min": rtp,
        "media.rtp_port_max": rtp + 399, "routing.available_on_register": False})
    app = build_app(settings)
    await app.start()
    try:
        async with app.db.session() as s:
            await demo.load(s)
        async with app.db.session() as s:
            sales = (await s.execute(select(Queue).where(Queue.name == "sales"))).scalar_one()
            s.add(Number(tenant_id=sales.tenant_id, e164=NUMBER, queue_id=sales.id))
            s.add(CallFlowVersion(tenant_id=sales.tenant_id, name="spoken-menu", version=1, status="active",
                                  document=SPOKEN_MENU_FLOW))
            s.add(Number(tenant_id=sales.tenant_id, e164=SPOKEN_MENU_NUMBER, flow="spoken-menu"))
        sip = next(svc for svc in app.services if svc.name == "sip")
        await sip.reload_accounts()  # type: ignore[attr-defined]
        yield Running(app, sip_port)
    finally:
        await app.stop()


class _Quiet:
    def on_request(self, req, source, now):  # type: ignore[no-untyped-def]
        return req.response(200)

    def on_ack(self, req, now):  # type: ignore[no-untyped-def]
        return None

    def on_unacknowledged(self, response, now):  # type: ignore[no-untyped-def]
        return None


@dataclass
class Caller:
    """A UA on the project's SIP stack with an RTP socket, in a call answered by tongdai."""

    stack: SipStack
    rtp: socket.socket
    invite: Request
    ok: Response
    contact: str
    media: tuple[str, int]

    async def say(self, samples: np.ndarray) -> None:
        """Send `samples` as PCMU RTP, 20 ms a packet, paced in real time."""
        loop = asyncio.get_running_loop()
        law = g711.encode(g711.Codec.PCMU, samples).tobytes()
        start = loop.time()
        for seq, at in enumerate(range(0, len(law) - 159, 160)):
            header = struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 0x5EEC)
            self.rtp.sendto(header + law[at:at + 160], self.media)
            await asyncio.sleep(max(0.0, start + (seq + 1) * 0.02 - loop.time()))

    async def hang_up(self, server: tuple[str, int]) -> None:
        await self.stack.request(Dialog.as_uac(self.invite, self.ok, self.contact).request("BYE"), server)


async def call(server: tuple[str, int], number: str = NUMBER) -> Caller:
    stack = SipStack(_Quiet())
    await stack.start(udp_port=0, tcp_port=-1)
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind(("127.0.0.1", 0))
    rtp.setblocking(False)
    call_id, tag = new_dialog_ids()
    contact = f"<sip:0912000777@127.0.0.1:{stack.udp_port}>"
    sdp = (f"v=0\r\no=t 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           f"m=audio {rtp.getsockname()[1]} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n").encode()
    invite = Request("INVITE", f"sip:{number}@{server[0]}:{server[1]}", [
        ("from", f"<sip:0912000777@127.0.0.1>;tag={tag}"), ("to", f"<sip:{number}@127.0.0.1>"),
        ("call-id", call_id), ("cseq", "1 INVITE"), ("contact", contact), ("max-forwards", "70"),
        ("content-type", "application/sdp")], sdp)
    ok = await stack.request(invite, server)
    assert ok.status == 200, ok
    stack.send_ack(invite, ok, server)
    answer = ok.body.decode()
    media = (re.search(r"c=IN IP4 (\S+)", answer).group(1), int(re.search(r"m=audio (\d+)", answer).group(1)))  # type: ignore[union-attr]
    return Caller(stack, rtp, invite, ok, contact, media)


async def answered(running: Running, caller: str = "0912000777", timeout: float = 10.0) -> tuple[Call, Leg]:
    """tongdai's call and caller leg once it answered (its media anchored in rtpengine)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for c in list(running.b2bua.calls.values()):
            leg = c.legs[0] if c.legs else None
            if c.caller.endswith(caller[-9:]) and leg is not None and leg.status == 200 and leg.media_peer_tag:
                return c, leg
        await asyncio.sleep(0.02)
    raise AssertionError("tongdai did not answer the caller")


async def forked(running: Running, call_id: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while call_id not in running.speech.listening:
        assert time.monotonic() < deadline, "the caller's media was not forked"
        await asyncio.sleep(0.01)


@needs_espeak_and_sox
async def test_given_caller_says_sales_as_rtp_then_listen_hears_sales_and_removes_the_fork(tongdai, tmp_path,
                                                                                          caplog):
    caplog.set_level(logging.INFO, logger="tongdai.calls.speech")
    server = ("127.0.0.1", tongdai.sip_port)
    caller = await call(server)
    try:
        c, leg = await answered(tongdai)
        listening = asyncio.create_task(tongdai.speech.listen(c, leg, words=MENU, language="en", timeout_s=8.0))
        await forked(tongdai, c.id)
        quiet = np.zeros(8000 // 2, np.int16)
        await caller.say(np.concatenate([quiet, spoken("sales", tmp_path), quiet, quiet]))
        result = await asyncio.wait_for(listening, 10)
        assert result is not None
        word, confidence = result
        assert word == "sales" and confidence >= 0.5, result  # a spoken menu's default threshold
        assert c.id not in tongdai.speech.listening
        assert not [r for r in caplog.records if "not removed" in r.getMessage()]  # rtpengine took the unsubscribe
        assert tongdai.speech.decoded == 1 and 0 < tongdai.speech.decode_cpu_s < 2
    finally:
        await caller.hang_up(server)
        await caller.stack.stop()
        caller.rtp.close()


async def test_given_caller_says_nothing_then_listen_gives_none_after_the_timeout(tongdai):
    server = ("127.0.0.1", tongdai.sip_port)
    caller = await call(server)
    try:
        c, leg = await answered(tongdai)
        started = time.monotonic()
        listening = asyncio.create_task(tongdai.speech.listen(c, leg, words=MENU, language="en", timeout_s=1.5))
        await forked(tongdai, c.id)
        await caller.say(np.zeros(8000 * 2, np.int16))  # the line is open, the caller silent
        assert await asyncio.wait_for(listening, 10) is None
        assert 1.4 < time.monotonic() - started < 4.0
        assert c.id not in tongdai.speech.listening
    finally:
        await caller.hang_up(server)
        await caller.stack.stop()
        caller.rtp.close()


async def test_given_a_language_without_a_model_then_listen_gives_none_at_once_without_forking(tongdai):
    server = ("127.0.0.1", tongdai.sip_port)
    caller = await call(server)
    try:
        c, leg = await answered(tongdai)
        started = time.monotonic()
        assert await tongdai.speech.listen(c, leg, words=MENU, language="vi", timeout_s=5.0) is None
        assert time.monotonic() - started < 0.1 and tongdai.speech.decoded == 0
    finally:
        await caller.hang_up(server)
        await caller.stack.stop()
        caller.rtp.close()


async def test_given_a_word_the_dictionary_lacks_then_listen_raises_and_removes_the_fork(tongdai):
    server = ("127.0.0.1", tongdai.sip_port)
    caller = await call(server)
    try:
        c, leg = await answered(tongdai)
        with pytest.raises(UnknownWords) as err:
            await tongdai.speech.listen(c, leg, words=["sales", "zzqxv"], language="en", timeout_s=5.0)
        assert err.value.details == {"words": ["zzqxv"]}
        assert c.id not in tongdai.speech.listening and tongdai.speech.decoded == 0
    finally:
        await caller.hang_up(server)
        await caller.stack.stop()
        caller.rtp.close()


async def test_given_a_worker_process_dies_then_that_answer_fails_and_the_next_one_gets_a_new_pool():
    service = SpeechRecognition(workers=1)
    await service.start()
    try:
        worker = await service._run(os.getpid)
        assert worker != os.getpid()
        os.kill(worker, signal.SIGKILL)
        with pytest.raises(BrokenProcessPool):
            await service._run(time.sleep, 5)
        assert await service._run(os.getpid) not in (worker, os.getpid())
    finally:
        await service.stop()


async def test_given_caller_hangs_up_while_listened_to_then_listen_gives_none_soon(tongdai):
    server = ("127.0.0.1", tongdai.sip_port)
    caller = await call(server)
    try:
        c, leg = await answered(tongdai)
        listening = asyncio.create_task(tongdai.speech.listen(c, leg, words=MENU, language="en", timeout_s=30.0))
        await forked(tongdai, c.id)
        started = time.monotonic()
        await caller.hang_up(server)
        assert await asyncio.wait_for(listening, 10) is None
        assert time.monotonic() - started < 2.0 and c.id not in tongdai.speech.listening
    finally:
        await caller.stack.stop()
        caller.rtp.close()


async def queue_entered(running: Running, call_id: str, timeout: float = 10.0) -> list[str]:
    """The queues the call entered, from the queue log (once there is one)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with running.app.db.session() as s:
            rows = (await s.execute(select(QueueLogEntry.queue).where(
                QueueLogEntry.call_id == call_id, QueueLogEntry.event == "entered"))).scalars().all()
        if rows:
            return list(rows)
        await asyncio.sleep(0.1)
    return []


@needs_espeak_and_sox
async def test_given_a_spoken_menu_when_caller_says_sales_as_rtp_then_the_call_enters_the_sales_queue(
        tongdai, tmp_path):
    """The call flow's menu asks for a word; the caller says "sales" after the prompt; the queue log
    shows the call entering sales (silence or any other answer would have led to support)."""
    server = ("127.0.0.1", tongdai.sip_port)
    caller = await call(server, SPOKEN_MENU_NUMBER)
    try:
        c, _leg = await answered(tongdai)
        await forked(tongdai, c.id, timeout=15.0)  # the prompt has played; the menu listens
        quiet = np.zeros(8000 // 2, np.int16)
        await caller.say(np.concatenate([quiet, spoken("sales", tmp_path), quiet, quiet]))
        assert await queue_entered(tongdai, c.id) == ["sales"]
        assert tongdai.speech.decoded == 1
    finally:
        await caller.hang_up(server)
        await caller.stack.stop()
        caller.rtp.close()


def test_speech_settings_reach_app_speech_and_disabled_leaves_menus_keys_only(tmp_path):
    base = {"data_dir": str(tmp_path), "database.url": f"sqlite+aiosqlite:///{tmp_path}/t.db"}
    app = build_app(load_settings(overrides={**base, "speech.workers": 3, "speech.end_silence_s": 0.8}))
    assert isinstance(app.speech, SpeechRecognition)  # type: ignore[attr-defined]
    assert (app.speech.workers, app.speech.end_silence_s) == (3, 0.8)  # type: ignore[attr-defined]
    assert app.speech in app.services  # type: ignore[attr-defined]
    off = build_app(load_settings(overrides={**base, "speech.enabled": False}))
    assert not hasattr(off, "speech") and not [s for s in off.services if s.name == "speech"]


async def test_decoding_processes_ignore_ctrl_c_sent_to_the_process_group():
    # a test run in the background inherits SIGINT ignored; the workers must ignore it by themselves
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    service = SpeechRecognition(workers=1)
    await service.start()
    try:
        worker = await service._run(os.getpid)
        os.kill(worker, signal.SIGINT)
        await asyncio.sleep(0.2)
        assert await service._run(os.getpid) == worker  # the same process, still serving
    finally:
        await service.stop()
        signal.signal(signal.SIGINT, previous)
