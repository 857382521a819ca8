"""Browser to browser: agents 1001 and 1002 of the demo, each in its own Chromium context with its JsSIP
phone registered over WebSocket. 1001 dials 1002 from the keypad; 1002's browser rings and answers;
audio flows both ways (getStats in both pages), both legs WebRTC through one rtpengine call; a hang-up
on either side ends both. Then an attended transfer to a browser: a sales caller (SIPp) talks to 1001,
1001 consults 1002 with the Consult button, 1002 answers, 1001 completes the transfer: the caller and
1002 talk (the caller's RTP port captured, getStats in 1002's page) and 1001 is free."""

from __future__ import annotations

import time

from tests.calls.capture import loopback_capture
from tests.calls.sipp import free_udp_port
from tests.calls.test_b2bua_sipp import finish
from tests.web.test_agent_desktop import (
    CHROMIUM_ARGS,
    CONNECTION,
    STATS,
    pytestmark,  # noqa: F401  (e2e, and skipped without chromium)
    sales_line,  # noqa: F401  (the fixture: number 1800 leads to the sales queue)
    wait_for,
    wrap_up,
)
from tests.web.test_transfer_to_browser import caller_to_1001, two_agents
from tongdai.media.pcap import rtp_packets

#: packets each way counted from a baseline (the consulted agent's call carried 1001's audio before)
MORE_STATS = """async (base) => {
  const s = await window.tongdaiPhone.stats();
  return {...s, ok: s.inPackets - base.inPackets >= 100 && s.outPackets - base.outPackets >= 100};
}"""


#: the ICE credentials and candidate ports of the call's local and remote descriptions
ICE = """() => {
  const pc = window.tongdaiPhone.session.connection;
  const of = (sdp) => ({ufrag: (sdp.match(/a=ice-ufrag:(\\S+)/) || [])[1],
                        ports: [...sdp.matchAll(/a=candidate:\\S+ \\d+ udp \\d+ \\S+ (\\d+)/gi)].map(m => m[1])});
  return {local: of(pc.localDescription.sdp), remote: of(pc.remoteDescription.sdp)};
}"""


def through_rtpengine(one, other) -> None:  # type: ignore[no-untyped-def]
    """Each browser's ICE peer is rtpengine, not the other browser: neither sees the other's ICE
    credentials or candidate ports (rtpengine ends ICE and DTLS on both sides)."""
    a, b = one.evaluate(ICE), other.evaluate(ICE)
    for mine, theirs in ((a, b), (b, a)):
        assert mine["remote"]["ufrag"] and mine["remote"]["ufrag"] != theirs["local"]["ufrag"], (a, b)
        assert mine["remote"]["ports"] and not set(mine["remote"]["ports"]) & set(theirs["local"]["ports"]), (a, b)


def stats_of(page) -> dict:  # type: ignore[no-untyped-def]
    """The page's packet counts now."""
    return page.evaluate("async () => await window.tongdaiPhone.stats()")


def dial_and_answer(caller, callee, extension: str) -> float:  # type: ignore[no-untyped-def]
    """`caller` dials `extension` from the keypad, `callee` rings and answers; both see audio both ways.
    Seconds from the dial to audio flowing both ways in both pages."""
    from playwright.sync_api import expect

    dialled_at = time.monotonic()
    caller.fill("#dial", extension)
    caller.locator("#dial-form").evaluate("f => f.requestSubmit()")
    expect(callee.locator("#incoming")).to_be_visible(timeout=20_000)
    callee.click("#answer")
    expect(callee.locator("#in-call")).to_be_visible(timeout=10_000)
    expect(caller.locator("#in-call")).to_be_visible(timeout=10_000)
    for page in (caller, callee):
        stats = wait_for(page, STATS, 25)
        assert stats and stats["ok"], (stats, page.evaluate(CONNECTION))
    flowing = time.monotonic() - dialled_at
    through_rtpengine(caller, callee)
    return flowing


def hang_up(by, other) -> None:  # type: ignore[no-untyped-def]
    """`by` hangs up in the page; the call ends in both pages."""
    from playwright.sync_api import expect

    by.click("#hangup")
    for page in (by, other):
        expect(page.locator("#in-call")).to_be_hidden(timeout=15_000)
    for page in (by, other):  # a direct call has no queue task: each page is free at once or after wrap-up
        if page.locator("#wrapup").is_visible():
            wrap_up(page, "resolved")


def test_given_two_agents_in_browsers_when_one_dials_the_other_then_they_talk_and_either_hangs_up_for_both(
        running, sales_line):  # noqa: F811
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            lan, minh = two_agents(browser, running.base)
            first = dial_and_answer(lan, minh, "1002")
            hang_up(lan, minh)  # the caller's side hangs up
            second = dial_and_answer(minh, lan, "1001")
            hang_up(lan, minh)  # the called side hangs up
        finally:
            browser.close()
    print(f"dial to audio both ways: {first:.2f} s and {second:.2f} s")
    assert first < 30 and second < 30


def test_given_caller_with_agent_in_browser_when_it_consults_a_second_browser_and_completes_then_they_talk(
        running, sales_line, tmp_path):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    media = free_udp_port()
    capture = tmp_path / "caller.pcap"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            lan, minh = two_agents(browser, running.base)
            with loopback_capture(media, capture):
                caller = caller_to_1001(running, "uac_queue_browser_consulted.xml", media, tmp_path)
                try:
                    expect(lan.locator("#incoming")).to_be_visible(timeout=20_000)  # the most skilled agent first
                    lan.click("#answer")
                    expect(lan.locator("#in-call")).to_be_visible(timeout=10_000)
                    lan.fill("#transfer-target", "1002")
                    lan.click("#consult")
                    expect(lan.locator("#held")).to_be_visible(timeout=10_000)
                    expect(minh.locator("#incoming")).to_be_visible(timeout=20_000)
                    minh.click("#answer")
                    expect(minh.locator("#in-call")).to_be_visible(timeout=10_000)
                    expect(lan.locator("#complete")).to_be_visible(timeout=15_000)
                    before = stats_of(minh)
                    completed_at = time.monotonic()
                    lan.click("#complete")
                    expect(lan.locator("#in-call")).to_be_hidden(timeout=15_000)
                    joined_at = time.time()
                    expect(lan.locator("#state")).to_have_attribute("data-state", "wrap_up")
                    expect(minh.locator("#in-call")).to_be_visible()
                    stats = wait_for(minh, MORE_STATS, 12, before)  # the caller hangs up 14 s after the transfer
                    assert stats and stats["ok"], (before, stats, minh.evaluate(CONNECTION))
                    to_audio = time.monotonic() - completed_at
                    talk_end = time.time()
                    rc, count, out = finish(caller, timeout=40)
                finally:
                    if caller.poll() is None:
                        caller.kill()
            assert (rc, count) == (0, {"successful": 1, "failed": 0}), out
            expect(minh.locator("#wrapup")).to_be_visible(timeout=10_000)
            wrap_up(minh, "resolved")
            wrap_up(lan, "escalated")  # 1001 is free for the next call
        finally:
            browser.close()
    talking = [t for t, _ in rtp_packets(capture) if joined_at + 0.5 <= t <= talk_end]
    print(f"complete to 100 packets each way in 1002's page: {to_audio:.2f} s ({stats}); "
          f"packets at the caller's port meanwhile: {len(talking)}")
    assert len(talking) >= 50, len(talking)  # 1002's microphone reached the caller
    records = sales_line.get("/api/v1/call-records", callee="1800").json()["items"]
    assert records and records[0]["transferred"] is True, records[:1]
