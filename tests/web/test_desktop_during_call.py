"""The agent desktop before and during a call, in a real browser against `tongdai run --demo`: a caller
(SIPp) goes through a call flow, pressing 1 in its menu and entering an account number (RFC 4733 DTMF
captures); the INVITE that rings agent 1001's browser carries the flow's path and the digits, which the
offer shows before the agent answers. During the call the agent, for this unknown caller, adds a
customer with the caller's number, opens two cases and solves one (the lists follow), writes notes,
and starts, pauses and resumes the recording the queue's `on_demand` policy allows (its state read
back through the API). After the wrap-up the agent's own history comes from the server's call records
(it is still there after the page is reloaded), and the call's interaction holds the notes and the case.

With TONGDAI_SCREENSHOTS=1 the offer and the screen during the call are saved to
docs/user-guide/agent-incoming-flow.png and agent-during-call.png."""

from __future__ import annotations

import os
import time

import httpx
import pytest

from tests.calls.sipp import free_udp_port, sipp_command
from tests.calls.test_b2bua_sipp import finish, start
from tests.calls.test_call_records import token
from tests.conftest import wait_until
from tests.web.test_agent_desktop import (
    AGENT,
    CAPTURES,
    CHROMIUM_ARGS,
    SCENARIOS,
    Admin,
    agent_page,
    sales_line,  # noqa: F401  (the fixture: number 1800 leads to the sales queue)
    shot,
    wrap_up,
)
from tests.web.test_transfer_to_browser import caller_to_1001, two_agents

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not os.access("/usr/bin/chromium", os.X_OK),
                                                  reason="chromium not installed")]

CALLER = "0907000111"  # nobody's number yet: the agent adds the customer during the call
FLOW = """
name: deskpop
language: en
languages: [en]
entry: main_menu
nodes:
  main_menu: {type: menu, prompt: {en: "Press 1 for sales."}, choices: {"1": account}, no_input: account,
              timeout_s: 8}
  account: {type: collect, prompt: {en: "Please enter your four digit account number."}, variable: account,
            min_digits: 4, max_digits: 4, timeout_s: 8, next: sales_queue, no_input: sales_queue}
  sales_queue: {type: enqueue, queue: sales}
"""


@pytest.fixture(scope="module")
def flow_line(running) -> Admin:
    """Number 1801 runs the flow above into the sales queue, which records on demand and wraps up in 60 s."""
    admin = Admin(running.base)
    sales = next(q for q in admin.get("/api/v1/queues").json()["items"] if q["name"] == "sales")
    admin.send("PATCH", f"/api/v1/queues/{sales['id']}", {"wrap_up_s": 60, "recording_policy": "on_demand"})
    flow = admin.send("POST", "/api/v1/call-flows", {"document": FLOW})
    admin.send("POST", f"/api/v1/call-flows/{flow['id']}/activate", {})
    admin.send("POST", "/api/v1/numbers", {"e164": "1801", "description": "Flow line", "flow": flow["name"]})
    time.sleep(0.5)  # the SIP side reloads numbers and flows on the change event
    return admin


def recording_state(base: str, headers: dict[str, str], call_id: str) -> str:
    r = httpx.get(f"{base}/api/v1/calls/{call_id}/recording", headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    return str(r.json()["state"])


def test_given_caller_through_menu_and_digits_when_agent_works_the_call_then_pop_cases_recording_and_history_follow(
        running, flow_line, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    lan = {"Authorization": f"Bearer {token(running.base, *AGENT)}"}
    keys = {f"key{i}": str(CAPTURES / f"dtmf_2833_{d}.pcap") for i, d in enumerate("14271", start=1)}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = agent_page(browser, running.base, AGENT, viewport={"width": 1280, "height": 1000})
            caller = start(sipp_command(str(SCENARIOS / "uac_flow_digits_browser.xml"), running.sip_port,
                                        port=free_udp_port(), calls=1, service="1801", caller=CALLER,
                                        workdir=tmp_path, timeout_s=150, keys=keys), tmp_path)
            try:
                # before answering: the queue, the path through the flow with the key pressed, the digits
                expect(page.locator("#incoming")).to_be_visible(timeout=40_000)
                expect(page.locator("#incoming-queue")).to_have_text("sales")
                expect(page.locator("#incoming-ivr")).to_have_text("main_menu (1) > account > sales_queue")
                expect(page.locator("#incoming-digits")).to_have_text("account = 4271")
                expect(page.locator("#pop-digits")).to_have_text("account = 4271")
                expect(page.locator("#pop-name")).to_have_text("Unknown caller", timeout=5_000)
                call_id = page.locator("#pop").get_attribute("data-call-id")
                assert call_id
                shot(page, "agent-incoming-flow")
                page.click("#answer")
                expect(page.locator("#in-call")).to_be_visible(timeout=10_000)

                # an unknown caller becomes a customer with their number
                expect(page.locator("#customer-form")).to_be_visible(timeout=5_000)
                page.fill("#customer-name", "Đỗ Thị Hoa")
                page.click("#customer-form button[type=submit]")
                expect(page.locator("#pop-name")).to_have_text("Đỗ Thị Hoa", timeout=5_000)
                # two cases opened for them, one solved with a comment: the lists follow
                expect(page.locator("#case-form")).to_be_visible()
                page.fill("#case-subject", "Wants a faster plan")
                page.select_option("#case-priority", "high")
                page.click("#case-form button[type=submit]")
                expect(page.locator("#pop-cases")).to_contain_text("Wants a faster plan (open, high)", timeout=5_000)
                page.fill("#case-subject", "Invoice shows twice")
                page.keyboard.press("Enter")  # the form sends from the keyboard too
                invoice = page.locator("#pop-cases li", has_text="Invoice shows twice")
                expect(invoice).to_be_visible(timeout=5_000)
                invoice.locator("select.case-status").select_option("solved")
                invoice.locator("input.case-comment").fill("Duplicate removed, credit note sent")
                invoice.locator("button").click()
                expect(page.locator("#pop-solved")).to_contain_text("Invoice shows twice (solved", timeout=5_000)
                expect(page.locator("#pop-cases")).not_to_contain_text("Invoice shows twice")
                expect(page.locator("#pop-message")).to_have_text("Case “Invoice shows twice” updated")
                # the keyboard stays on the case just updated, in its new list
                expect(page.locator("#pop-solved li", has_text="Invoice shows twice").locator("select")).to_be_focused()
                page.fill("#call-notes", "Asked about fibre plans; duplicate invoice removed")

                # recording on demand: started, paused, resumed; the API says the same
                expect(page.locator("#recording")).to_be_visible(timeout=10_000)
                expect(page.locator("#rec-state")).to_have_attribute("data-rec-state", "stopped")
                expect(page.locator("#rec-pause")).to_be_hidden()
                page.click("#rec-start")
                expect(page.locator("#rec-state")).to_have_attribute("data-rec-state", "recording", timeout=10_000)
                assert recording_state(running.base, lan, call_id) == "recording"
                page.click("#rec-pause")
                expect(page.locator("#rec-state")).to_have_attribute("data-rec-state", "paused", timeout=5_000)
                expect(page.locator("#rec-resume")).to_be_visible()
                assert recording_state(running.base, lan, call_id) == "paused"
                shot(page, "agent-during-call")
                # in Vietnamese and Chinese the call's work speaks the language too, then back to English
                for code, solved, paused, open_case in (("vi", "đã giải quyết", "tạm dừng", "Mở yêu cầu"),
                                                        ("zh", "已解决", "已暂停", "新建工单")):
                    page.select_option("#lang", code)
                    expect(page.locator("#pop-solved")).to_contain_text(solved, timeout=5_000)
                    expect(page.locator("#rec-state")).to_have_text(paused)
                    expect(page.locator("#case-form button[type=submit]")).to_have_text(open_case)
                page.select_option("#lang", "en")
                expect(page.locator("#rec-state")).to_have_text("paused")
                page.click("#rec-resume")
                expect(page.locator("#rec-state")).to_have_attribute("data-rec-state", "recording", timeout=5_000)
                assert recording_state(running.base, lan, call_id) == "recording"

                page.click("#hangup")
                expect(page.locator("#wrapup")).to_be_visible(timeout=10_000)
                expect(page.locator("#notes")).to_have_value("Asked about fibre plans; duplicate invoice removed")
                rc, count, out = finish(caller, timeout=30)
            finally:
                if caller.poll() is None:
                    caller.kill()
            assert (rc, count) == (0, {"successful": 1, "failed": 0}), out

            page.select_option("#disposition", "resolved")
            page.click("#wrapup-form button[type=submit]")
            expect(page.locator("#wrapup")).to_be_hidden(timeout=10_000)
            mine = page.locator(f"#history li[data-call-id='{call_id}']")
            expect(mine).to_contain_text(CALLER, timeout=10_000)
            expect(mine).to_contain_text("Resolved")
            # from the server, not this tab: still there after a reload
            page.reload()
            expect(page.locator("#desk")).to_be_visible(timeout=10_000)
            expect(page.locator(f"#history li[data-call-id='{call_id}']")).to_contain_text("sales", timeout=10_000)
        finally:
            browser.close()

    records = httpx.get(f"{running.base}/api/v1/call-records", params={"agent": "me"}, headers=lan, timeout=10)
    assert any(r["call_id"] == call_id and r["agent"] == "1001" for r in records.json()["items"]), records.text
    # the call's interaction: the new customer's, with the notes, the disposition and the first case opened
    customer = flow_line.get("/api/v1/customers", phone=CALLER).json()["items"][0]
    cases = {c["subject"]: c for c in flow_line.get("/api/v1/cases", customer_id=customer["id"]).json()["items"]}
    assert (cases["Wants a faster plan"]["status"], cases["Wants a faster plan"]["priority"]) == ("open", "high")
    assert cases["Invoice shows twice"]["status"] == "solved"

    def interaction() -> dict | None:
        items = flow_line.get(f"/api/v1/customers/{customer['id']}/timeline").json()["items"]
        return next((i for i in items if i["call_id"] == call_id and i["disposition"] == "resolved"), None)

    assert wait_until(lambda: interaction() is not None, timeout=10)
    item = interaction()
    assert item is not None and item["case_id"] == cases["Wants a faster plan"]["id"]
    assert item["notes"] == "Asked about fibre plans; duplicate invoice removed"
    assert item["ivr_path"] == ["main_menu", "account", "sales_queue"] and item["collected"]["account"] == "4271"


def test_given_queued_call_blind_transferred_to_a_second_browser_then_its_offer_shows_the_same_pop(
        running, sales_line, flow_line, tmp_path):  # noqa: F811
    """Agent 1001 takes a sales-line call and blind-transfers it to 1002's browser: the INVITE to 1002
    carries the call's X-Tongdai-* headers again, so 1002 sees the queue and the same call id; the call
    (its task) is 1002's from then on: 1002 may control its recording, 1001 no longer may."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            lan, minh = two_agents(browser, running.base)
            caller = caller_to_1001(running, "uac_queue_browser_transfer.xml", free_udp_port(), tmp_path)
            try:
                expect(lan.locator("#incoming")).to_be_visible(timeout=20_000)
                expect(lan.locator("#incoming-queue")).to_have_text("sales")
                call_id = lan.locator("#pop").get_attribute("data-call-id")
                assert call_id
                lan.click("#answer")
                expect(lan.locator("#in-call")).to_be_visible(timeout=10_000)
                lan.fill("#transfer-target", "1002")
                lan.click("#blind")
                expect(minh.locator("#incoming")).to_be_visible(timeout=20_000)
                expect(minh.locator("#incoming-queue")).to_have_text("sales")
                assert minh.locator("#pop").get_attribute("data-call-id") == call_id
                minh.click("#answer")
                expect(minh.locator("#in-call")).to_be_visible(timeout=10_000)
                expect(lan.locator("#in-call")).to_be_hidden(timeout=15_000)  # the transfer is done
                minh_h = {"Authorization": f"Bearer {token(running.base, 'minh@demo.example', AGENT[1])}"}
                lan_h = {"Authorization": f"Bearer {token(running.base, AGENT[0], AGENT[1])}"}
                recording = f"{running.base}/api/v1/calls/{call_id}/recording"
                assert wait_until(lambda: httpx.get(recording, headers=minh_h, timeout=10).status_code == 200,
                                  timeout=5)
                assert httpx.get(recording, headers=minh_h, timeout=10).json()["policy"] == "on_demand"
                refused = httpx.get(recording, headers=lan_h, timeout=10)
                assert refused.status_code == 403, refused.text
                rc, count, out = finish(caller, timeout=40)  # the caller hangs up 6 s after the join
            finally:
                if caller.poll() is None:
                    caller.kill()
            assert (rc, count) == (0, {"successful": 1, "failed": 0}), out
            expect(minh.locator("#wrapup")).to_be_visible(timeout=10_000)
            wrap_up(minh, "resolved")
            wrap_up(lan, "escalated")
        finally:
            browser.close()
