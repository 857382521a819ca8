"""The agent desktop in Firefox (Debian's Firefox ESR driven by Playwright over WebDriver BiDi), the
same acceptance as Chromium's in test_agent_desktop.py: agent 1001 logs in, the JsSIP phone registers
over SIP over WebSocket, the agent goes available, SIPp calls the sales line, the screen pop shows the
customer before the answer, the agent answers in Firefox and audio flows both ways (Firefox's getStats,
the caller's RTP counted on loopback), hold and resume, hang-up and wrap-up. And the same with the
keyboard alone: log in and go available with Tab and Enter.

Firefox gets a fake microphone and no permission prompt, gathers ICE candidates on loopback without
mDNS names, has its update, telemetry, remote-settings, safe-browsing and connectivity services off, and
runs with MOZ_DISABLE_NONLOCAL_CONNECTIONS=1, so that every packet of the test stays on loopback (a
capture on eth0 during a run saw nothing from it). See tests/web/firefox_relay.py for why Playwright starts it
through a small relay."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.calls.capture import loopback_capture
from tests.calls.sipp import free_udp_port, sipp_command
from tests.calls.test_b2bua_sipp import finish, start
from tests.calls.tone_pcap import tone_pcap
from tests.web.test_agent_desktop import (
    AGENT,
    CALLER,
    CONNECTION,
    LOOPBACK_ONLY,
    SCENARIOS,
    SENT_MORE,
    STATS,
    agent_state,
    crm_customer,
    sales_line,
    shot,
    wait_for,
    wrap_up,
)
from tongdai.media.pcap import rtp_packets

FIREFOX = "/usr/bin/firefox-esr"
RELAY = Path(__file__).resolve().parent / "firefox_relay.py"

pytestmark = [pytest.mark.e2e, pytest.mark.serial, pytest.mark.skipif(not os.access(FIREFOX, os.X_OK),
                                                  reason="firefox-esr not installed (Debian package firefox-esr)")]

__all__ = ["sales_line"]  # the module's fixture: number 1800 to the sales queue, 60 s of wrap-up

FIREFOX_PREFS: dict[str, str | float | bool] = {
    # a fake microphone, granted without a prompt; audio may play without a user gesture
    "media.navigator.streams.fake": True,
    "media.navigator.permission.disabled": True,
    "media.autoplay.default": 0,
    # Firefox gathers only the default route's address (not 127.0.0.1) unless the page holds a microphone
    # permission; a fake stream granted without a prompt is not one, so the permission's default is "allow"
    "permissions.default.microphone": 1,
    # ICE on loopback: loopback candidates allowed, real addresses instead of mDNS names, no STUN
    "media.peerconnection.ice.loopback": True,
    "media.peerconnection.ice.obfuscate_host_addresses": False,
    "media.peerconnection.ice.default_address_only": False,
    "media.peerconnection.use_document_iceservers": True,
    "media.peerconnection.default_iceservers": "[]",
    # no traffic to the outside: updates, telemetry, safe browsing, captive portal and connectivity checks off
    "app.update.enabled": False,
    "app.update.auto": False,
    "extensions.update.enabled": False,
    "extensions.getAddons.cache.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "browser.safebrowsing.blockedURIs.enabled": False,
    "browser.safebrowsing.provider.mozilla.updateURL": "",
    "datareporting.policy.dataSubmissionEnabled": False,
    "datareporting.healthreport.uploadEnabled": False,
    "toolkit.telemetry.enabled": False,
    "toolkit.telemetry.unified": False,
    "toolkit.telemetry.server": "",
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "network.dns.disablePrefetch": True,
    "network.prefetch-next": False,
    "browser.region.network.url": "",
    "browser.search.update": False,
    "browser.newtabpage.enabled": False,
    "services.settings.server": "data:,#remote-settings-dummy/v1",  # no remote settings (see NONLOCAL)
    "geo.provider.network.url": "",
    "app.normandy.enabled": False,
    "dom.push.connection.enabled": False,
    "extensions.systemAddon.update.enabled": False,
    "extensions.blocklist.enabled": False,
    "media.gmp-manager.updateEnabled": False,
    "network.trr.mode": 5,
    "network.predictor.enabled": False,
    "security.OCSP.enabled": 0,
    "browser.shell.checkDefaultBrowser": False,
}
#: Firefox's test switch: connections to anything but loopback are refused (and remote settings may be
#: pointed at the dummy server above, which release builds otherwise ignore)
NONLOCAL = {"MOZ_DISABLE_NONLOCAL_CONNECTIONS": "1"}
#: Firefox's own view of the call: connection and ICE states, in addition to CONNECTION's SDPs and pairs
PEER_STATE = """() => {
  const pc = window.tongdaiPhone.session && window.tongdaiPhone.session.connection;
  return pc ? {connection: pc.connectionState, ice: pc.iceConnectionState, gathering: pc.iceGatheringState} : 'no call';
}"""


#: every description Firefox is given or makes, and what it said about it, for the failure message
SDP_TRAIL = """
(() => {
  window.sdpTrail = [];
  const note = (what) => window.sdpTrail.push(what);
  for (const name of ['setRemoteDescription', 'setLocalDescription']) {
    const original = RTCPeerConnection.prototype[name];
    RTCPeerConnection.prototype[name] = function (d, ...rest) {
      note(`${name} ${d ? d.type + '\\n' + d.sdp : '(implicit)'}`);
      return original.call(this, d, ...rest).catch((err) => { note(`${name} failed: ${err}`); throw err; });
    };
  }
  // the call ends right after a failure: keep the pairs, DTLS state and the SDP sent for the message now
  const dump = async (pc) => {
    const seen = {};
    (await pc.getStats()).forEach((s) => { seen[s.id] = s; });
    for (const s of Object.values(seen)) {
      if (s.type === 'transport') note(`transport dtls ${s.dtlsState} ice ${s.iceState}`);
      if (s.type !== 'candidate-pair') continue;
      const l = seen[s.localCandidateId] || {}, r = seen[s.remoteCandidateId] || {};
      note(`pair ${l.address}:${l.port} -> ${r.address}:${r.port} ${s.state} answers ${s.responsesReceived} bytes out ${s.bytesSent} in ${s.bytesReceived}`);
    }
    note(`sent to tongdai: ${pc.localDescription && pc.localDescription.sdp}`);
  };
  const Original = RTCPeerConnection;
  window.RTCPeerConnection = function (...args) {
    const pc = new Original(...args);
    let dumped = false;
    const watch = (what, state) => {
      note(`${what} ${state}`);
      if (state === 'failed' && !dumped) { dumped = true; dump(pc); }
    };
    pc.addEventListener('connectionstatechange', () => watch('connection', pc.connectionState));
    pc.addEventListener('iceconnectionstatechange', () => watch('ice', pc.iceConnectionState));
    return pc;
  };
  window.RTCPeerConnection.prototype = Original.prototype;
})();
"""


@pytest.fixture(scope="module")
def firefox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """Firefox ESR, headless, through the BiDi relay; its HOME is a fresh directory of this user."""
    from playwright.sync_api import sync_playwright

    home = tmp_path_factory.mktemp("firefox-home")
    launcher = home / "firefox"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{RELAY}" "$@"\n')
    launcher.chmod(0o755)
    with sync_playwright() as p:
        browser = p.firefox.launch(channel="moz-firefox", executable_path=str(launcher), headless=True,
                                   firefox_user_prefs=FIREFOX_PREFS, env={**os.environ, **NONLOCAL, "HOME": str(home)})
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser, console: list[str]):  # type: ignore[no-untyped-def]
    """A page of a fresh context whose ICE candidates tell rtpengine only 127.0.0.1; console kept for failures."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(LOOPBACK_ONLY)
    context.add_init_script(SDP_TRAIL)
    page = context.new_page()
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    return page


def diagnosis(page, running, console: list[str]) -> str:  # type: ignore[no-untyped-def]
    """What went wrong with the media: Firefox's states, SDPs and pairs, its console, rtpengine's last lines."""
    log = Path(running.workdir) / "var" / "media" / "rtpengine.log"
    tail = log.read_text(errors="replace").splitlines()[-40:] if log.exists() else ["(no rtpengine log)"]
    trail = page.evaluate("() => window.sdpTrail || []")
    return "\n".join([str(page.evaluate(PEER_STATE)), str(page.evaluate(CONNECTION)), *trail, *console[-30:], *tail])


def log_in(page, base: str) -> None:  # type: ignore[no-untyped-def]
    """Agent 1001 logs in with the mouse; its phone registers."""
    from playwright.sync_api import expect

    page.goto(f"{base}/ui/agent/")
    page.fill("#email", AGENT[0])
    page.fill("#password", AGENT[1])
    page.click("#login-form button[type=submit]")
    expect(page.locator("#registration")).to_have_attribute("data-status", "registered", timeout=15_000)


def test_given_agent_in_firefox_when_customer_calls_then_it_rings_answers_talks_holds_and_wraps_up(
        running, sales_line, firefox, tmp_path):
    from playwright.sync_api import expect

    customer = crm_customer(sales_line)
    media = free_udp_port()
    capture = tmp_path / "caller.pcap"
    # the caller speaks for 30 s (not the 7 s capture): on a loaded machine DTLS may take seconds to come up
    speech = tone_pcap(tmp_path / "speech.pcap", 440, 30)
    console: list[str] = []
    page = new_page(firefox, console)
    try:
        log_in(page, running.base)
        page.click("#go-available")
        expect(page.locator("#state")).to_have_attribute("data-state", "available", timeout=5_000)
        with loopback_capture(media, capture):
            caller = start(sipp_command(str(SCENARIOS / "uac_queue_browser.xml"), running.sip_port, port=free_udp_port(),
                                        calls=1, service="1800", caller=CALLER, workdir=tmp_path, timeout_s=90,
                                        keys={"audio_pcap": str(speech)}) + ["-mp", str(media)],
                           tmp_path)
            try:
                # the offer shows who calls before the agent answers
                expect(page.locator("#incoming")).to_be_visible(timeout=20_000)
                expect(page.locator("#incoming-number")).to_contain_text(CALLER[1:])
                if customer is not None:
                    expect(page.locator("#pop-name")).to_have_text(customer["name"], timeout=5_000)
                    expect(page.locator("#pop-cases")).to_contain_text("Router keeps rebooting")
                else:
                    expect(page.locator("#pop-error")).to_have_text("Customer details unavailable", timeout=5_000)
                page.click("#answer")
                expect(page.locator("#in-call")).to_be_visible(timeout=10_000)
                answered_at = time.time()
                # the caller's capture reaches Firefox, Firefox's fake microphone reaches rtpengine
                stats = wait_for(page, STATS, 25)
                if not (stats and stats["ok"]):
                    pytest.fail(f"no audio both ways in Firefox: {stats}\n{diagnosis(page, running, console)}")
                # two seconds more of Firefox's voice, so that the caller's capture has a window to count in
                more = wait_for(page, SENT_MORE, 15, stats["outPackets"])
                assert more and more["ok"], (more, diagnosis(page, running, console))
                talk_end = time.time()
                shot(page, "agent-firefox-in-call")

                page.click("#hold")
                expect(page.locator("#held")).to_be_visible(timeout=10_000)
                expect(page.locator("#hold")).to_have_attribute("aria-pressed", "true")
                page.click("#hold")
                expect(page.locator("#held")).to_be_hidden(timeout=10_000)

                page.click("#hangup")
                expect(page.locator("#wrapup")).to_be_visible(timeout=10_000)
                expect(page.locator("#state")).to_have_attribute("data-state", "wrap_up")
                rc, count, out = finish(caller, timeout=30)
            finally:
                if caller.poll() is None:
                    caller.kill()
        assert (rc, count) == (0, {"successful": 1, "failed": 0}), out
        wrap_up(page, "resolved")
        expect(page.locator("#history li").first).to_contain_text("Resolved")
        state = agent_state(sales_line)
        assert (state["activity"], state["tasks"]) == ("available", []), state
    finally:
        page.context.close()

    # Firefox's audio reached the caller's RTP port once the agent had answered
    talking = [t for t, _ in rtp_packets(capture) if answered_at + 1.0 <= t <= talk_end]
    assert len(talking) >= 50, len(talking)


def focus_by_tab(page, target: str, most: int = 20) -> list[str]:  # type: ignore[no-untyped-def]
    """Press Tab until element `target` has the focus (at most `most` times); the ids passed on the way."""
    path: list[str] = []
    for _ in range(most):
        page.keyboard.press("Tab")
        path.append(page.evaluate("() => document.activeElement && (document.activeElement.id || document.activeElement.tagName)"))
        if path[-1] == target:
            break
    return path


def test_in_firefox_the_agent_logs_in_and_goes_available_with_the_keyboard_alone(running, sales_line, firefox):
    from playwright.sync_api import expect

    console: list[str] = []
    page = new_page(firefox, console)
    try:
        page.goto(f"{running.base}/ui/agent/")
        path = focus_by_tab(page, "email")
        assert path[-1] == "email", path
        page.keyboard.type(AGENT[0])
        page.keyboard.press("Tab")
        page.keyboard.type(AGENT[1])
        page.keyboard.press("Enter")  # submits the form
        expect(page.locator("#registration")).to_have_attribute("data-status", "registered", timeout=15_000)
        path = focus_by_tab(page, "go-available")
        assert path[-1] == "go-available", path
        page.keyboard.press("Enter")
        expect(page.locator("#state")).to_have_attribute("data-state", "available", timeout=5_000)
        assert agent_state(sales_line)["activity"] == "available", console
    finally:
        page.context.close()
