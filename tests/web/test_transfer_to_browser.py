"""A call transferred *to* a browser: two browser contexts (agents 1001 and 1002 of the demo, each
logged into the agent desktop with its JsSIP phone registered over WebSocket); a SIPp caller reaches
1001 through the sales line; 1001 blind-transfers to 1002 in the page; 1002's browser rings and
answers; the caller's A-law audio reaches 1002's browser (getStats) and 1002's fake microphone reaches
the caller's RTP port (captured on loopback); the caller hangs up and both agents wrap up. A second
test: 1002 holds and resumes the transferred call (re-INVITEs reach the caller) and hangs up in the page.
A third: the transferor is a desk phone (SIPp as 1001, REFER to 1002), the target 1002's browser.

With TONGDAI_SCREENSHOTS=1 the transferred call's screen is saved to docs/user-guide/agent-transferred-in.png."""

from __future__ import annotations

import time

from tests.calls.capture import loopback_capture
from tests.calls.sipp import free_udp_port, register, sipp_command
from tests.calls.test_b2bua_sipp import finish, start
from tests.web.test_agent_desktop import (
    AGENT,
    AGENT_STATE_LOG,
    CALLER,
    CAPTURES,
    CHROMIUM_ARGS,
    CONNECTION,
    SCENARIOS,
    STATS,
    agent_page,
    board_delays,
    pytestmark,  # noqa: F401  (e2e, and skipped without chromium)
    sales_line,  # noqa: F401  (the fixture: number 1800 leads to the sales queue)
    shot,
    supervisor_board,
    wait_for,
    wrap_up,
)
from tongdai.media.pcap import rtp_packets

SECOND = ("minh@demo.example", "agent-demo-2026")  # extension 1002, sales (less skilled than 1001)


def caller_to_1001(running, scenario: str, media: int, tmp_path):  # type: ignore[no-untyped-def]
    """A SIPp caller on the sales line playing the A-law capture from RTP port `media`."""
    return start(sipp_command(str(SCENARIOS / scenario), running.sip_port, port=free_udp_port(), calls=1,
                              service="1800", caller=CALLER, workdir=tmp_path, timeout_s=90,
                              keys={"audio_pcap": str(CAPTURES / "g711a.pcap")}) + ["-mp", str(media)], tmp_path)


def two_agents(browser, base: str):  # type: ignore[no-untyped-def]
    """Pages of agents 1001 and 1002, each in its own browser context (its own phone), both available."""
    pages = []
    for login in (AGENT, SECOND):
        pages.append(agent_page(browser, base, login))
    return pages


def transfer_and_answer(lan, minh) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """1001 answers and blind-transfers to 1002, whose browser rings and answers; audio flows both
    ways in 1002's page. When 1001's call was over and when 1002's audio was seen flowing."""
    from playwright.sync_api import expect

    expect(lan.locator("#incoming")).to_be_visible(timeout=20_000)  # the most skilled agent first
    lan.click("#answer")
    expect(lan.locator("#in-call")).to_be_visible(timeout=10_000)
    lan.fill("#transfer-target", "1002")
    lan.click("#blind")
    expect(minh.locator("#incoming")).to_be_visible(timeout=20_000)
    expect(minh.locator("#incoming-number")).to_contain_text(CALLER[1:])
    minh.click("#answer")
    expect(minh.locator("#in-call")).to_be_visible(timeout=10_000)
    expect(lan.locator("#in-call")).to_be_hidden(timeout=15_000)
    joined_at = time.time()  # 1001's call is over: only 1002's media reaches the caller now
    expect(lan.locator("#state")).to_have_attribute("data-state", "wrap_up")
    stats = wait_for(minh, STATS, 25)
    assert stats and stats["ok"], (stats, minh.evaluate(CONNECTION))
    return joined_at, time.time()


def test_given_agent_in_browser_when_it_blind_transfers_to_a_second_browser_then_caller_talks_to_it(
        running, sales_line, tmp_path):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    media = free_udp_port()
    capture = tmp_path / "caller.pcap"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            board = supervisor_board(browser, running.base)  # a supervisor watches from another tab
            lan, minh = two_agents(browser, running.base)
            for page in (lan, minh):
                page.evaluate(AGENT_STATE_LOG)
            with loopback_capture(media, capture):
                caller = caller_to_1001(running, "uac_queue_browser_transfer.xml", media, tmp_path)
                try:
                    joined_at, talk_end = transfer_and_answer(lan, minh)
                    shot(minh, "agent-transferred-in")
                    rc, count, out = finish(caller, timeout=40)  # the caller hangs up 6 s after the join
                finally:
                    if caller.poll() is None:
                        caller.kill()
            assert (rc, count) == (0, {"successful": 1, "failed": 0}), out
            expect(minh.locator("#wrapup")).to_be_visible(timeout=10_000)
            wrap_up(minh, "resolved")
            wrap_up(lan, "escalated")
            page_states = [lan.evaluate("() => window.stateLog.map(c => c.state)"),
                           minh.evaluate("() => window.stateLog.map(c => c.state)")]
            time.sleep(1.0)  # the last change's second on the wallboard
            delays = board_delays(board, {"1001": lan, "1002": minh})
        finally:
            browser.close()
    # the wallboard followed both agents within a second of their own screens: 1001 ringing, talking and
    # (from the transfer) wrapping up; 1002 ringing and talking on the transferred call, wrapping up, free
    assert page_states == [["available", "on_call", "wrap_up", "available"]] * 2, page_states
    print("wallboard delays (s):", delays)
    assert all(d < 1.0 for _, _, d in delays), delays
    # 1002's microphone reached the caller's RTP port once 1001 had left the call
    talking = [t for t, _ in rtp_packets(capture) if joined_at + 0.5 <= t <= talk_end]
    assert len(talking) >= 50, len(talking)
    records = sales_line.get("/api/v1/call-records", callee="1800").json()["items"]
    assert records and records[0]["transferred"] is True, records[:1]


def test_given_call_transferred_to_a_browser_when_it_holds_resumes_and_hangs_up_then_the_caller_follows(
        running, sales_line, tmp_path):  # noqa: F811
    """After the transfer, 1002's hold and resume reach the caller as re-INVITEs (through the rtpengine
    sides the transfer made) and 1002's hang-up reaches it as a BYE."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            lan, minh = two_agents(browser, running.base)
            caller = caller_to_1001(running, "uac_queue_browser_transfer_hold.xml", free_udp_port(), tmp_path)
            try:
                transfer_and_answer(lan, minh)
                minh.click("#hold")
                expect(minh.locator("#held")).to_be_visible(timeout=10_000)
                minh.click("#hold")
                expect(minh.locator("#held")).to_be_hidden(timeout=10_000)
                stats = wait_for(minh, STATS, 10)  # media again after the resume
                assert stats and stats["ok"], (stats, minh.evaluate(CONNECTION))
                minh.click("#hangup")
                expect(minh.locator("#wrapup")).to_be_visible(timeout=10_000)
                rc, count, out = finish(caller, timeout=30)
            finally:
                if caller.poll() is None:
                    caller.kill()
            assert (rc, count) == (0, {"successful": 1, "failed": 0}), out
            wrap_up(minh, "resolved")
            wrap_up(lan, "escalated")
        finally:
            browser.close()


def test_given_agent_on_a_desk_phone_when_it_blind_transfers_to_a_browser_then_caller_talks_to_it(
        running, sales_line, tmp_path):  # noqa: F811
    """The transferor is a desk phone (SIPp, extension 1001, REFER to 1002): 1002's browser rings,
    answers, and the caller's audio reaches it while its microphone reaches the caller."""
    from playwright.sync_api import expect, sync_playwright

    phone, media = free_udp_port(), free_udp_port()
    capture = tmp_path / "caller.pcap"
    desk = start(sipp_command("uas_transfer.xml", running.sip_port, port=phone, calls=1,
                              keys={"refer_target": "1002"}, workdir=tmp_path), tmp_path)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            minh = agent_page(browser, running.base, SECOND)
            assert register("1001", "sip-demo-1001", phone, running.sip_port) == 200
            lan = sales_line.get("/api/v1/agents", extension="1001").json()["items"][0]
            sales_line.send("POST", "/api/v1/routing/agents/activity", {"agent_id": lan["id"], "activity": "available"})
            with loopback_capture(media, capture):
                caller = caller_to_1001(running, "uac_queue_phone_transfer.xml", media, tmp_path)
                try:
                    expect(minh.locator("#incoming")).to_be_visible(timeout=30_000)
                    expect(minh.locator("#incoming-number")).to_contain_text(CALLER[1:])
                    minh.click("#answer")
                    expect(minh.locator("#in-call")).to_be_visible(timeout=10_000)
                    answered_at = time.time()
                    stats = wait_for(minh, STATS, 25)
                    assert stats and stats["ok"], (stats, minh.evaluate(CONNECTION))
                    talk_end = time.time()
                    rc, count, out = finish(caller, timeout=40)
                finally:
                    if caller.poll() is None:
                        caller.kill()
            assert (rc, count) == (0, {"successful": 1, "failed": 0}), out
            assert finish(desk, timeout=20)[1] == {"successful": 1, "failed": 0}  # REFER taken, leg hung up
            expect(minh.locator("#wrapup")).to_be_visible(timeout=10_000)
            wrap_up(minh, "resolved")
        finally:
            browser.close()
            if desk.poll() is None:
                desk.kill()
            register("1001", "sip-demo-1001", phone, running.sip_port, expires=0)
    talking = [t for t, _ in rtp_packets(capture) if answered_at + 1.0 <= t <= talk_end]
    assert len(talking) >= 50, len(talking)
