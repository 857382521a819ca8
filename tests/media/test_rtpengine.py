"""The managed rtpengine service: start, supervise, restart after a crash, report faults, stop; the
external mode; DTMF reports from --dtmf-log-dest turned into events."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import struct
from pathlib import Path

import pytest

from tests.media.conftest import media_settings, needs_rtpengine, start_rtpengine, stop_rtpengine
from tongdai.core.events import Event, EventBus
from tongdai.media.engine_events import RtpengineDigit, RtpengineFailed, RtpengineRestarted
from tongdai.media.probe import HEADER, RtpProbe, sdp_media_address, tone_frames
from tongdai.media.rtpengine import RtpengineService, parse_dtmf_log
from tongdai.media.session import RtpengineAnchor

pytestmark = pytest.mark.e2e


def collect(bus: EventBus) -> list[Event]:
    seen: list[Event] = []
    bus.subscribe(Event, seen.append)
    return seen


async def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return bool(predicate())


@needs_rtpengine
async def test_managed_rtpengine_starts_answers_and_stops_cleanly(tmp_path):
    service = RtpengineService(media_settings(), data_dir=tmp_path, bus=EventBus())
    await service.start()
    try:
        assert service.ready()
        assert await service.ng.ping()
        pid = service.process.pid
        assert (tmp_path / "media" / "rtpengine-recordings").is_dir()
    finally:
        await service.stop()
    assert service.process.returncode is not None
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
    assert not service.ready()


@needs_rtpengine
async def test_given_call_in_progress_when_rtpengine_killed_then_restarted_logged_and_event_published(
        tmp_path, caplog):
    bus = EventBus()
    events = collect(bus)
    service = RtpengineService(media_settings(), data_dir=tmp_path, bus=bus)
    await service.start()
    anchor = RtpengineAnchor(service.ng)
    try:
        a, b = await RtpProbe.open(), await RtpProbe.open()
        b.remote = sdp_media_address(await anchor.offer("crash-1", "a", a.sdp()))
        a.remote = sdp_media_address(await anchor.answer("crash-1", "a", "b", b.sdp()))
        await a.send(tone_frames(440, 0.2))
        first_pid = service.process.pid
        with caplog.at_level(logging.ERROR, logger="tongdai.media.rtpengine"):
            os.kill(first_pid, signal.SIGKILL)
            assert await wait_for(lambda: any(isinstance(e, RtpengineRestarted) for e in events))
        failed = next(e for e in events if isinstance(e, RtpengineFailed))
        assert failed.exit_code == -signal.SIGKILL
        assert "rtpengine exited with code -9" in caplog.text
        assert service.ready() and service.process.pid != first_pid
        await anchor.delete("crash-1")  # the call died with the old process: deleting it is not an error
        b.remote = sdp_media_address(await anchor.offer("crash-2", "a", a.sdp()))
        assert b.remote[1] > 0  # new calls work on the restarted rtpengine
    finally:
        await service.stop()


async def test_given_rtpengine_missing_when_started_then_not_ready_and_clear_log_line(tmp_path, caplog):
    settings = media_settings(rtpengine_binary=str(tmp_path / "no-rtpengine"))
    service = RtpengineService(settings, data_dir=tmp_path, bus=EventBus())
    with caplog.at_level(logging.ERROR):
        await service.start()
    try:
        assert not service.ready()
        assert "rtpengine not found at" in caplog.text and "rtpengine-daemon" in caplog.text
    finally:
        await service.stop()


@needs_rtpengine
async def test_external_rtpengine_is_used_by_address_and_none_is_spawned(tmp_path):
    engine = start_rtpengine(tmp_path / "ext")
    host, port = engine.ng
    settings = media_settings(rtpengine_managed=False, rtpengine_ng_address=f"{host}:{port}")
    service = RtpengineService(settings, data_dir=tmp_path, bus=EventBus())
    try:
        await service.start()
        assert service.ready() and service.process is None
        assert await service.ng.ping()
    finally:
        stop_rtpengine(engine)
        await service.stop()


def telephone_event(digit_code: int, duration: int, end: bool) -> bytes:
    return struct.pack("!BBH", digit_code, (0x80 if end else 0) | 10, duration)


@needs_rtpengine
async def test_rfc4733_digit_sent_by_a_leg_arrives_as_rtpengine_digit_event(tmp_path):
    bus = EventBus()
    events = collect(bus)
    service = RtpengineService(media_settings(), data_dir=tmp_path, bus=bus)
    await service.start()
    anchor = RtpengineAnchor(service.ng)
    try:
        a, b = await RtpProbe.open(), await RtpProbe.open()
        b.remote = sdp_media_address(await anchor.offer("dtmf-1", "caller", a.sdp()))
        a.remote = sdp_media_address(await anchor.answer("dtmf-1", "caller", "callee", b.sdp()))
        await a.send(tone_frames(440, 0.2))
        assert a.transport is not None and a.remote is not None
        for i in range(8):  # digit 7: 5 updates then 3 end packets, same timestamp (RFC 4733 2.5.1)
            header = HEADER.pack(0x80, (0x80 if i == 0 else 0) | 101, 100 + i, 8000, a.ssrc)
            a.transport.sendto(header + telephone_event(7, 160 * min(i + 1, 5), end=i >= 5), a.remote)
            await asyncio.sleep(0.02)
        assert await wait_for(lambda: any(isinstance(e, RtpengineDigit) for e in events), 5)
        digit = next(e for e in events if isinstance(e, RtpengineDigit))
        assert (digit.call_id, digit.source_tag, digit.digit) == ("dtmf-1", "caller", "7")
        assert digit.duration_ms == 100
    finally:
        await service.stop()


def test_dtmf_log_json_maps_event_codes_to_digits_and_ignores_other_datagrams():
    raw = (b'{"callid":"c1","source_tag":"t1","tags":["t1","t2"],"type":"DTMF","timestamp":1795437268,'
           b'"source_ip":"127.0.0.1","event":11,"duration":120,"volume":10}')
    event = parse_dtmf_log(raw)
    assert event is not None and (event.digit, event.duration_ms, event.volume) == ("#", 120, 10)
    assert parse_dtmf_log(b"not json") is None
    assert parse_dtmf_log(b'{"hello": 1}') is None
