"""The ng client against a real rtpengine: typed commands, errors, retries and cookie matching."""

from __future__ import annotations

import asyncio
import socket

import pytest

from tongdai.media.ng import NgClient, NgError, NgTimeout
from tongdai.media.probe import RtpProbe, sdp_media_address, tone_frames

pytestmark = pytest.mark.e2e


async def bridged(ng: NgClient, call_id: str) -> tuple[RtpProbe, RtpProbe]:
    a, b = await RtpProbe.open(), await RtpProbe.open()
    offer = await ng.offer(call_id, "caller", a.sdp())
    b.remote = sdp_media_address(offer.sdp)
    answer = await ng.answer(call_id, "caller", "callee", b.sdp())
    a.remote = sdp_media_address(answer.sdp)
    return a, b


async def test_ping_answers_pong(rtpengine):
    ng = rtpengine.client()
    try:
        assert await ng.ping()
    finally:
        await ng.close()


async def test_offer_answer_rewrites_sdp_to_rtpengine_ports_and_relays_both_ways(rtpengine):
    ng = rtpengine.client()
    try:
        a, b = await bridged(ng, "ng-bridge")
        assert a.remote != b.address and b.remote != a.address  # each side talks to rtpengine
        frames = tone_frames(440, 0.6)
        await asyncio.gather(a.send(frames), b.send(frames))
        await asyncio.sleep(0.15)
        assert a.received.packets == b.received.packets == len(frames)
        assert "ng-bridge" in await ng.list_calls()
        query = await ng.query("ng-bridge")
        assert set(query["tags"]) == {"caller", "callee"}
        final = await ng.delete("ng-bridge")
        assert final["result"] == "ok"
        assert "ng-bridge" not in await ng.list_calls()
    finally:
        await ng.close()


async def test_error_from_rtpengine_becomes_ng_error_with_its_reason(rtpengine):
    ng = rtpengine.client()
    try:
        with pytest.raises(NgError) as info:
            await ng.answer("no-such-call", "x", "y", "v=0\r\n")
        assert info.value.reason == "Unknown call-id"
        assert info.value.error_id == "media_engine_error"
    finally:
        await ng.close()


async def test_play_dtmf_block_silence_recording_and_statistics_commands_are_accepted(rtpengine):
    ng = rtpengine.client()
    try:
        a, b = await bridged(ng, "ng-cmds")
        await asyncio.gather(a.send(tone_frames(440, 0.3)), b.send(tone_frames(440, 0.3)))
        await ng.play_dtmf("ng-cmds", "caller", "5")
        for command in (ng.block_dtmf, ng.unblock_dtmf, ng.silence_media, ng.unsilence_media):
            assert (await command("ng-cmds", "caller"))["result"] == "ok"
        assert (await ng.start_recording("ng-cmds"))["result"] == "ok"
        assert (await ng.stop_recording("ng-cmds"))["result"] == "ok"
        stats = await ng.statistics()
        assert stats["currentstatistics"]["sessionsown"] >= 1
        await ng.delete("ng-cmds")
    finally:
        await ng.close()


async def test_subscribe_request_and_answer_fork_a_legs_media_to_a_listener(rtpengine):
    ng = rtpengine.client()
    try:
        a, b = await bridged(ng, "ng-fork")
        listener = await RtpProbe.open()
        offer = await ng.subscribe_request("ng-fork", ["caller"])
        await ng.subscribe_answer("ng-fork", str(offer.reply["to-tag"]), listener.sdp())
        await a.send(tone_frames(440, 0.5))
        await asyncio.sleep(0.15)
        assert listener.received.packets >= 20  # the caller's audio reaches the listener too
        assert b.received.packets == a.sent
        await ng.delete("ng-fork")
    finally:
        await ng.close()


async def test_when_no_reply_then_request_is_retried_with_same_cookie_then_times_out():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.setblocking(False)
        ng = NgClient(silent.getsockname(), timeout=0.05, retries=2)
        try:
            with pytest.raises(NgTimeout):
                await ng.ping()
        finally:
            await ng.close()
        datagrams = []
        while True:
            try:
                datagrams.append(silent.recv(2048))
            except BlockingIOError:
                break
    assert len(datagrams) == 3
    assert len({d.split(b" ")[0] for d in datagrams}) == 1


async def test_replies_are_matched_by_cookie_and_strangers_are_ignored():
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.setblocking(False)
        ng = NgClient(server.getsockname(), timeout=1.0, retries=0)
        try:
            first = asyncio.create_task(ng.ping())
            second = asyncio.create_task(ng.request("query", {"call-id": "x"}))
            got = [await loop.sock_recvfrom(server, 2048) for _ in range(2)]
            by_command = {data.split(b" ", 1)[1]: (data.split(b" ")[0], addr) for data, addr in got}
            q_cookie, addr = next(v for k, v in by_command.items() if b"query" in k)
            p_cookie, _ = next(v for k, v in by_command.items() if b"ping" in k)
            server.sendto(b"stranger d6:result4:ponge", addr)
            server.sendto(q_cookie + b" d6:result2:ok5:state4:livee", addr)
            server.sendto(p_cookie + b" d6:result4:ponge", addr)
            assert await first is True
            assert (await second)["state"] == "live"
        finally:
            await ng.close()
