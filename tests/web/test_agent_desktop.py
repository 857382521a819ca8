"""The agent desktop in a real browser against `tongdai run --demo` with rtpengine: Chromium (fake
microphone) logs agent 1001 in; its JsSIP phone registers over SIP over WebSocket; the agent goes
available; SIPp calls a number of the sales queue and speaks (a 30 s A-law tone); the browser rings and
shows the caller; the agent answers in the page and audio flows both ways (the browser's getStats, and
the caller's RTP port captured on loopback); hold and resume reach the caller as re-INVITEs; the agent
hangs up, wraps up with a disposition and is free again.

With TONGDAI_SCREENSHOTS=1 each screen is saved to docs/user-guide/agent-*.png."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest

from tests.calls.capture import loopback_capture
from tests.calls.sipp import free_udp_port, register, sipp_command
from tests.calls.test_b2bua_sipp import finish, start
from tests.calls.test_call_records import token
from tests.calls.tone_pcap import tone_pcap
from tests.conftest import wait_until
from tests.sip.test_torture import DATA
from tongdai import demo
from tongdai.media.pcap import rtp_packets

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not os.access("/usr/bin/chromium", os.X_OK),
                                                  reason="chromium not installed")]

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
CAPTURES = DATA.parent / "rtp-pcap"
GUIDE = Path(__file__).resolve().parents[2] / "docs" / "user-guide"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns",
]
#: the browser tells rtpengine only its 127.0.0.1 candidates, so that every packet of the test stays on loopback
LOOPBACK_ONLY = """
(() => {
  const desc = Object.getOwnPropertyDescriptor(RTCPeerConnection.prototype, 'localDescription');
  Object.defineProperty(RTCPeerConnection.prototype, 'localDescription', {
    get() {
      const d = desc.get.call(this);
      if (!d) return d;
      const sdp = d.sdp.split('\\r\\n').filter(l => !l.startsWith('a=candidate:') || l.includes(' 127.0.0.1 ')).join('\\r\\n');
      return new RTCSessionDescription({type: d.type, sdp});
    },
  });
})();
"""
AGENT = ("lan@demo.example", "agent-demo-2026")  # extension 1001, the sales queue's most skilled agent
CALLER = "0901234567"


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    if os.environ.get("TONGDAI_SCREENSHOTS") == "1":
        GUIDE.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(GUIDE / f"{name}.png"), full_page=True)


class Admin:
    def __init__(self, base: str) -> None:
        self.base = base
        self.h = {"Authorization": f"Bearer {token(base, 'admin@demo.example', 'admin-demo-2026')}"}

    def get(self, path: str, **params: str) -> httpx.Response:
        return httpx.get(self.base + path, params=params, headers=self.h, timeout=10)

    def send(self, method: str, path: str, body: dict) -> dict:
        r = httpx.request(method, self.base + path, json=body, headers=self.h, timeout=10)
        assert r.status_code in (200, 201), r.text
        return r.json()


@pytest.fixture(scope="module")
def sales_line(running) -> Admin:
    """Number 1800 leads straight to the sales queue, whose calls end in 60 s of wrap-up."""
    admin = Admin(running.base)
    sales = next(q for q in admin.get("/api/v1/queues").json()["items"] if q["name"] == "sales")
    admin.send("PATCH", f"/api/v1/queues/{sales['id']}", {"wrap_up_s": 60})
    admin.send("POST", "/api/v1/numbers", {"e164": "1800", "description": "Sales line", "queue_id": sales["id"]})
    return admin


def crm_customer(admin: Admin) -> dict | None:
    """A customer with the caller's number and an open case, when the CRM is there (None otherwise)."""
    if admin.get("/api/v1/customers/lookup", phone=CALLER).status_code != 200:
        return None
    customer = admin.send("POST", "/api/v1/customers", {"name": "Phạm Quốc Bảo", "vip_tier": "gold",
                                                        "phones": [CALLER]})
    admin.send("POST", "/api/v1/cases", {"customer_id": customer["id"], "subject": "Router keeps rebooting"})
    return customer


def agent_state(admin: Admin) -> dict:
    """Agent 1001's routing state."""
    lan = admin.get("/api/v1/agents", extension="1001").json()["items"][0]
    return next(a for a in admin.get("/api/v1/routing/agents").json() if a["worker_id"] == lan["id"])


#: the agent page's own state changes, with the browser's clock: window.stateLog = [{state, at}]
AGENT_STATE_LOG = """() => {
  window.stateLog = [{state: document.getElementById('state').dataset.state, at: Date.now()}];
  new MutationObserver(() => {
    const state = document.getElementById('state').dataset.state;
    if (state !== window.stateLog[window.stateLog.length - 1].state) window.stateLog.push({state, at: Date.now()});
  }).observe(document.getElementById('state'), {attributes: true, attributeFilter: ['data-state']});
}"""
#: what the supervisor's wallboard shows of each agent, with the same clock: window.boardLog = [{ext, state, at}]
BOARD_LOG = """() => {
  window.boardLog = [];
  const note = (cell) => {
    const ext = (cell.closest('tr').cells[0].textContent.match(/\\((\\d+)\\)/) || [])[1];
    if (ext && cell.dataset.state) window.boardLog.push({ext, state: cell.dataset.state, at: Date.now()});
  };
  document.querySelectorAll('#agents tbody td.state').forEach(note);
  new MutationObserver((changes) => changes.forEach((c) => {
    if (c.type === 'attributes' && c.target.matches && c.target.matches('td.state')) note(c.target);
  })).observe(document.getElementById('agents'), {attributes: true, attributeFilter: ['data-state'], subtree: true});
}"""
#: the wallboard's states that show an agent page's state
SHOWN_AS = {"available": {"available"}, "on_call": {"ringing", "talking"}, "wrap_up": {"wrap_up"},
            "not_ready": {"not_ready"}, "offline": {"offline"}}


def supervisor_board(browser, base: str):  # type: ignore[no-untyped-def]
    """The supervisor's wallboard page, logged in, recording what it shows of each agent."""
    from playwright.sync_api import expect

    page = browser.new_context().new_page()
    page.goto(f"{base}/ui/supervisor/")
    page.fill("#email", demo.SUPERVISOR_LOGIN[0])
    page.fill("#password", demo.SUPERVISOR_LOGIN[1])
    page.click("#login-form button[type=submit]")
    expect(page.locator("#agents tbody tr", has_text="(1001)")).to_be_visible(timeout=10_000)
    page.evaluate(BOARD_LOG)
    return page


def board_delays(board, pages: dict[str, object]) -> list[tuple[str, str, float]]:  # type: ignore[type-arg]
    """For each state change an agent's page showed: (extension, state, seconds until the wallboard
    showed it too). The wallboard may show it first (the page learns of some changes by asking): 0 then."""
    seen = board.evaluate("() => window.boardLog")
    delays = []
    for ext, page in pages.items():
        log = page.evaluate("() => window.stateLog")  # type: ignore[attr-defined]
        for change in log[1:]:
            shown = [b["at"] for b in seen if b["ext"] == ext and b["state"] in SHOWN_AS[change["state"]]
                     and b["at"] >= change["at"] - 3000]
            delays.append((ext, change["state"], max(0.0, (min(shown) - change["at"]) / 1000) if shown else float("inf")))
    return delays


def wait_for(page, predicate: str, timeout_s: float, arg=None):  # type: ignore[no-untyped-def]
    """Poll `predicate` (an async JS function) in the page until it answers truthy; its last answer."""
    deadline = time.monotonic() + timeout_s
    value = None
    while time.monotonic() < deadline:
        value = page.evaluate(predicate, arg)
        if value and (not isinstance(value, dict) or value.get("ok")):
            return value
        time.sleep(0.25)
    return value


STATS = """async () => {
  const s = await window.tongdaiPhone.stats();
  return {...s, ok: s.inPackets >= 100 && s.outPackets >= 100};
}"""


#: the browser has sent 100 packets more than `sent` (2 s of voice at 20 ms a packet)
SENT_MORE = """async (sent) => {
  const s = await window.tongdaiPhone.stats();
  return {...s, ok: s.outPackets >= sent + 100};
}"""


#: what went wrong when no audio flows: ICE and DTLS states, candidate pairs, both SDPs
CONNECTION = """async () => {
  const pc = window.tongdaiPhone.session && window.tongdaiPhone.session.connection;
  if (!pc) return 'no call';
  const out = {ice: pc.iceConnectionState, remote: pc.remoteDescription && pc.remoteDescription.sdp,
               local: pc.localDescription && pc.localDescription.sdp, pairs: []};
  (await pc.getStats()).forEach(s => { if (s.type === 'candidate-pair') out.pairs.push([s.state, s.requestsSent, s.responsesReceived]);
                                       if (s.type === 'transport') out.dtls = s.dtlsState; });
  return JSON.stringify(out);
}"""


def test_given_agent_in_browser_when_customer_calls_then_it_rings_answers_talks_holds_and_wraps_up(
        running, sales_line, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    customer = crm_customer(sales_line)
    media = free_udp_port()
    capture = tmp_path / "caller.pcap"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(permissions=["microphone"], viewport={"width": 1280, "height": 900})
            context.add_init_script(LOOPBACK_ONLY)
            page = context.new_page()
            page.goto(f"{running.base}/ui/agent/")
            page.fill("#email", AGENT[0])
            page.fill("#password", AGENT[1])
            shot(page, "agent-login")
            page.click("#login-form button[type=submit]")
            expect(page.locator("#registration")).to_have_attribute("data-status", "registered", timeout=15_000)
            board = supervisor_board(browser, running.base)  # a supervisor watches from another tab
            page.evaluate(AGENT_STATE_LOG)
            page.click("#go-available")
            expect(page.locator("#state")).to_have_attribute("data-state", "available", timeout=5_000)
            shot(page, "agent-available")
            # the interface in Vietnamese and Chinese, then back to English (the choice is remembered)
            for code, available, answer in (("vi", "Sẵn sàng", "Trả lời"), ("zh", "就绪", "接听")):
                page.select_option("#lang", code)
                expect(page.locator("#state")).to_have_text(available)
                expect(page.locator("#answer")).to_have_text(answer)
                expect(page.locator("html")).to_have_attribute("lang", code)
                expect(page.locator("#registration")).to_have_text({"vi": "Điện thoại sẵn sàng", "zh": "电话已就绪"}[code])
                shot(page, f"agent-{code}")
            page.select_option("#lang", "en")
            expect(page.locator("#state")).to_have_text("Available")

            with loopback_capture(media, capture):
                # the caller speaks for 30 s (not the 7 s capture): on a loaded machine DTLS may take seconds to come up
                speech = tone_pcap(tmp_path / "speech.pcap", 440, 30)
                caller = start(sipp_command(str(SCENARIOS / "uac_queue_browser.xml"), running.sip_port, port=free_udp_port(), calls=1,
                                            service="1800", caller=CALLER, workdir=tmp_path, timeout_s=90,
                                            keys={"audio_pcap": str(speech)}) + ["-mp", str(media)],
                               tmp_path)
                try:
                    # the offer shows who calls before the agent answers
                    expect(page.locator("#incoming")).to_be_visible(timeout=20_000)
                    expect(page.locator("#incoming-number")).to_contain_text(CALLER[1:])
                    expect(page.locator("#state")).to_have_attribute("data-state", "on_call")
                    if customer is not None:
                        expect(page.locator("#pop-name")).to_have_text(customer["name"], timeout=5_000)
                        expect(page.locator("#pop-vip")).to_have_text("gold")
                        expect(page.locator("#pop-cases")).to_contain_text("Router keeps rebooting")
                    else:  # no CRM in this build: the number alone, and a word that details are missing
                        expect(page.locator("#pop-error")).to_have_text("Customer details unavailable", timeout=5_000)
                    shot(page, "agent-incoming")
                    page.click("#answer")
                    expect(page.locator("#in-call")).to_be_visible(timeout=10_000)
                    answered_at = time.time()
                    # the caller's capture reaches the browser, the fake microphone reaches rtpengine
                    stats = wait_for(page, STATS, 25)
                    assert stats and stats["ok"], (stats, page.evaluate(CONNECTION))
                    # two seconds more of the browser's voice, so that the caller's capture has a window to count in
                    more = wait_for(page, SENT_MORE, 15, stats["outPackets"])
                    assert more and more["ok"], (more, page.evaluate(CONNECTION))
                    shot(page, "agent-in-call")
                    talk_end = time.time()

                    page.click("#hold")
                    expect(page.locator("#held")).to_be_visible(timeout=10_000)
                    expect(page.locator("#hold")).to_have_attribute("aria-pressed", "true")
                    shot(page, "agent-on-hold")
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

            page.select_option("#disposition", "resolved")
            page.fill("#notes", "Explained the reboot schedule")
            shot(page, "agent-wrap-up")
            page.click("#wrapup-form button[type=submit]")
            expect(page.locator("#wrapup")).to_be_hidden(timeout=10_000)
            expect(page.locator("#history li").first).to_contain_text("Resolved")
            expect(page.locator("#state")).to_have_attribute("data-state", "available", timeout=10_000)
            shot(page, "agent-after-call")
            # each of the agent's changes (available, ringing and talking, wrap-up, available) was on the
            # supervisor's wallboard within a second of the agent's own screen
            states = page.evaluate("() => window.stateLog.map(c => c.state)")
            time.sleep(1.0)
            delays = board_delays(board, {"1001": page})
            print("wallboard delays (s):", delays)
            assert states[-4:] == ["available", "on_call", "wrap_up", "available"], states
            assert all(d < 1.0 for _, _, d in delays), delays
            # wrap-up done: the agent is free for the next call (no task left, available)
            state = agent_state(sales_line)
            assert (state["activity"], state["tasks"]) == ("available", []), state
            if customer is not None:  # the call is in the customer's timeline with the agent's disposition
                def timeline() -> list[dict]:
                    return sales_line.get(f"/api/v1/customers/{customer['id']}/timeline").json()["items"]

                assert wait_until(lambda: any(i["disposition"] == "resolved" for i in timeline()), timeout=10), \
                    timeline()
                call = next(i for i in timeline() if i["disposition"] == "resolved")
                assert call["agent"] == "1001" and call["queue"] == "sales" and call["notes"] == \
                    "Explained the reboot schedule"
        finally:
            browser.close()

    # the browser's audio reached the caller's RTP port once the agent had answered (no more music then)
    talking = [t for t, _ in rtp_packets(capture) if answered_at + 1.0 <= t <= talk_end]
    assert len(talking) >= 50, len(talking)
    # the browser closed: its WebSocket went, so did its registration, and the agent is offline
    assert wait_until(lambda: agent_state(sales_line)["activity"] == "offline", timeout=10)


def wrap_up(page, disposition: str) -> None:  # type: ignore[no-untyped-def]
    """Finish the wrap-up in the page: the agent is offered calls again at once (not after the queue's 60 s)."""
    from playwright.sync_api import expect

    page.select_option("#disposition", disposition)
    page.click("#wrapup-form button[type=submit]")
    expect(page.locator("#wrapup")).to_be_hidden(timeout=10_000)
    expect(page.locator("#state")).to_have_attribute("data-state", "available", timeout=10_000)


def agent_page(browser, base: str, login: tuple[str, str], **options):  # type: ignore[no-untyped-def]
    """`login`'s desktop in a context of its own (its own phone; `options` for the context, e.g. a
    viewport): fake microphone allowed, loopback candidates only, logged in, phone registered, available."""
    context = browser.new_context(permissions=["microphone"], **options)
    context.add_init_script(LOOPBACK_ONLY)
    return logged_in(context, base, login)


def logged_in(context, base: str, login: tuple[str, str]):  # type: ignore[no-untyped-def]
    """A page of the agent desktop logged in as `login`, its phone registered, the agent available."""
    from playwright.sync_api import expect

    page = context.new_page()
    page.goto(f"{base}/ui/agent/")
    page.fill("#email", login[0])
    page.fill("#password", login[1])
    page.click("#login-form button[type=submit]")
    expect(page.locator("#registration")).to_have_attribute("data-status", "registered", timeout=15_000)
    page.click("#go-available")
    expect(page.locator("#state")).to_have_attribute("data-state", "available", timeout=5_000)
    return page


def test_given_agent_on_a_call_when_it_transfers_to_a_desk_phone_then_the_caller_talks_there(
        running, sales_line, tmp_path):
    """Blind transfer from the browser (REFER) to agent 1002's desk phone (SIPp): the phone rings and
    answers, the caller is re-INVITEd to it, the browser's call ends in wrap-up, the CDR says transferred."""
    from playwright.sync_api import expect, sync_playwright

    phone = free_udp_port()
    desk = start(sipp_command("uas", running.sip_port, port=phone, calls=1, workdir=tmp_path), tmp_path)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            lan = agent_page(browser, running.base, AGENT)
            assert register("1002", "sip-demo-1002", phone, running.sip_port) == 200
            caller = start(sipp_command(str(SCENARIOS / "uac_queue_browser_transfer.xml"), running.sip_port,
                                        port=free_udp_port(), calls=1, service="1800", caller=CALLER,
                                        workdir=tmp_path, timeout_s=90,
                                        keys={"audio_pcap": str(CAPTURES / "g711a.pcap")}), tmp_path)
            try:
                expect(lan.locator("#incoming")).to_be_visible(timeout=20_000)  # the most skilled agent first
                lan.click("#answer")
                expect(lan.locator("#in-call")).to_be_visible(timeout=10_000)
                lan.fill("#transfer-target", "1002")
                lan.click("#blind")
                expect(lan.locator("#in-call")).to_be_hidden(timeout=15_000)
                expect(lan.locator("#state")).to_have_attribute("data-state", "wrap_up")
                shot(lan, "agent-transferred")
                rc, count, out = finish(caller, timeout=40)
            finally:
                if caller.poll() is None:
                    caller.kill()
            assert (rc, count) == (0, {"successful": 1, "failed": 0}), out
            assert finish(desk, timeout=20)[1] == {"successful": 1, "failed": 0}
            wrap_up(lan, "escalated")
        finally:
            browser.close()
            if desk.poll() is None:
                desk.kill()
            register("1002", "sip-demo-1002", phone, running.sip_port, expires=0)
    records = sales_line.get("/api/v1/call-records", callee="1800").json()["items"]
    assert records and records[0]["transferred"] is True, records[:1]


def test_given_agent_consults_a_desk_phone_when_it_completes_the_transfer_then_caller_and_phone_are_joined(
        running, sales_line, tmp_path):
    """Attended transfer from the browser: Consult holds the caller and calls agent 1003's desk phone from
    the browser (a call out of the browser through rtpengine); Complete transfer sends REFER with
    Replaces; tongdai re-INVITEs the phone and the caller, joins them and ends both of the browser's calls."""
    from playwright.sync_api import expect, sync_playwright

    phone = free_udp_port()
    desk = start(sipp_command("uas_reinvited.xml", running.sip_port, port=phone, calls=1, workdir=tmp_path), tmp_path)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            lan = agent_page(browser, running.base, AGENT)
            assert register("1003", "sip-demo-1003", phone, running.sip_port) == 200  # support: no sales calls
            caller = start(sipp_command(str(SCENARIOS / "uac_queue_browser_attended.xml"), running.sip_port,
                                        port=free_udp_port(), calls=1, service="1800", caller=CALLER,
                                        workdir=tmp_path, timeout_s=90,
                                        keys={"audio_pcap": str(CAPTURES / "g711a.pcap")}), tmp_path)
            try:
                expect(lan.locator("#incoming")).to_be_visible(timeout=20_000)
                lan.click("#answer")
                expect(lan.locator("#in-call")).to_be_visible(timeout=10_000)
                lan.fill("#transfer-target", "1003")
                lan.click("#consult")
                expect(lan.locator("#held")).to_be_visible(timeout=10_000)
                expect(lan.locator("#complete")).to_be_visible(timeout=15_000)  # the phone answered the consult
                lan.click("#complete")
                expect(lan.locator("#in-call")).to_be_hidden(timeout=15_000)
                expect(lan.locator("#complete")).to_be_hidden()
                expect(lan.locator("#state")).to_have_attribute("data-state", "wrap_up")
                rc, count, out = finish(caller, timeout=40)
            finally:
                if caller.poll() is None:
                    caller.kill()
            assert (rc, count) == (0, {"successful": 1, "failed": 0}), out
            assert finish(desk, timeout=20)[1] == {"successful": 1, "failed": 0}
            wrap_up(lan, "escalated")
        finally:
            browser.close()
            if desk.poll() is None:
                desk.kill()
            register("1003", "sip-demo-1003", phone, running.sip_port, expires=0)
    records = sales_line.get("/api/v1/call-records", callee="1800").json()["items"]
    assert records and records[0]["transferred"] is True, records[:1]
