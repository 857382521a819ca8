"""`tongdai run` with its managed rtpengine: kill -9 it during a call and tongdai restarts it, logs
it and stays up; without rtpengine tongdai still runs and /readyz says what is missing."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import RunningTongdai
from tests.media.conftest import needs_rtpengine
from tongdai.media.ng import NgClient
from tongdai.media.probe import RtpProbe, sdp_media_address, tone_frames
from tongdai.media.rtpengine import free_udp_port
from tongdai.media.session import RtpengineAnchor

pytestmark = pytest.mark.e2e


def rtpengine_children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            if "rtpengine" in Path(f"/proc/{child}/comm").read_text():
                found.append(int(child))
    return found


def readyz(t: RunningTongdai) -> tuple[int, dict]:
    r = httpx.get(t.base + "/readyz", timeout=2)
    return r.status_code, r.json()["checks"]


def wait_until(predicate, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


async def call_through(ng_port: int, call_id: str) -> int:
    ng = NgClient(("127.0.0.1", ng_port))
    anchor = RtpengineAnchor(ng)
    try:
        a, b = await RtpProbe.open(), await RtpProbe.open()
        b.remote = sdp_media_address(await anchor.offer(call_id, "a", a.sdp()))
        a.remote = sdp_media_address(await anchor.answer(call_id, "a", "b", b.sdp()))
        await a.send(tone_frames(440, 0.3))
        await asyncio.sleep(0.1)
        return b.received.packets
    finally:
        await ng.close()


@needs_rtpengine
def test_given_call_when_rtpengine_killed_then_tongdai_restarts_it_logs_it_and_stays_up(tmp_path):
    ng_port = free_udp_port("127.0.0.1")
    t = RunningTongdai(tmp_path, "--set", f"media.rtpengine_ng_address=127.0.0.1:{ng_port}",
                       "--set", "media.rtp_port_min=47000", "--set", "media.rtp_port_max=47999")
    try:
        t.wait_ready()
        assert readyz(t) == (200, readyz(t)[1]) and readyz(t)[1]["rtpengine"] is True
        [first] = rtpengine_children(t.proc.pid)
        assert asyncio.run(call_through(ng_port, "run-crash-1")) == 15
        os.kill(first, signal.SIGKILL)
        assert wait_until(lambda: len(rtpengine_children(t.proc.pid)) == 1
                          and rtpengine_children(t.proc.pid)[0] != first and readyz(t)[0] == 200)
        assert t.proc.poll() is None
        assert asyncio.run(call_through(ng_port, "run-crash-2")) == 15  # calls work again
        log = t.log.read_text()
        assert "rtpengine exited with code -9" in log and "rtpengine restarted" in log
        [second] = rtpengine_children(t.proc.pid)
    finally:
        assert t.stop(signal.SIGTERM) == 0
    assert wait_until(lambda: not Path(f"/proc/{second}").exists(), 5)  # stopped with tongdai


def test_given_no_rtpengine_program_then_tongdai_runs_and_readyz_reports_rtpengine_false(tmp_path):
    t = RunningTongdai(tmp_path, "--set", f"media.rtpengine_binary={tmp_path}/missing/rtpengine")
    try:
        assert wait_until(lambda: t.proc.poll() is None and _answers(t), 60)
        status, checks = readyz(t)
        assert status == 503 and checks["rtpengine"] is False and checks["database"] is True
        assert "rtpengine not found at" in t.log.read_text()
    finally:
        assert t.stop(signal.SIGTERM) == 0


def _answers(t: RunningTongdai) -> bool:
    try:
        return httpx.get(t.base + "/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
