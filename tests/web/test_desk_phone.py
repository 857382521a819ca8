"""The agent desktop with a desk SIP phone instead of the browser phone: agent 1001 chooses "my desk
phone" in the page (no WebRTC, no microphone), a SIPp desk phone is registered as 1001; a SIPp caller
reaches the sales line; while the desk phone rings, the page shows the caller, the matched customer
and the queue (from the `agent.call` events, not from an INVITE); the desk phone answers, the page
shows the call and its recording controls; the desk phone hangs up and the page is in wrap-up; the
disposition goes into the customer's timeline."""

from __future__ import annotations

import time

from tests.calls.sipp import free_udp_port, register, sipp_command
from tests.calls.test_b2bua_sipp import finish, start
from tests.conftest import wait_until
from tests.web.test_agent_desktop import (
    AGENT,
    CALLER,
    CHROMIUM_ARGS,
    SCENARIOS,
    crm_customer,
    pytestmark,  # noqa: F401  (e2e, and skipped without chromium)
    sales_line,  # noqa: F401  (the fixture: number 1800 leads to the sales queue)
    shot,
    wrap_up,
)


def test_given_agent_on_a_desk_phone_when_a_customer_calls_then_the_page_pops_follows_and_wraps_up_the_call(
        running, sales_line, tmp_path):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    customer = crm_customer(sales_line)
    phone = free_udp_port()
    desk = start(sipp_command("uas_desk_phone.xml", running.sip_port, port=phone, calls=1, workdir=tmp_path,
                              timeout_s=60), tmp_path)
    caller = None
    try:
        assert register("1001", "sip-demo-1001", phone, running.sip_port) == 200
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            try:
                page = browser.new_context().new_page()
                page.goto(f"{running.base}/ui/agent/")
                page.fill("#email", AGENT[0])
                page.fill("#password", AGENT[1])
                page.click("#login-form button[type=submit]")
                expect(page.locator("#phone-mode")).to_be_visible(timeout=15_000)
                page.select_option("#phone-mode", "desk")  # the page reloads, still logged in
                expect(page.locator("#registration")).to_have_attribute("data-status", "desk_phone", timeout=15_000)
                expect(page.locator("#registration")).to_have_text("Calls ring your desk phone")
                expect(page.locator("#phone-mode")).to_have_value("desk")
                expect(page.locator("#dial-form")).to_be_hidden()  # the browser phone's controls are gone
                page.click("#go-available")
                expect(page.locator("#state")).to_have_attribute("data-state", "available", timeout=5_000)

                caller = start(sipp_command(str(SCENARIOS / "uac_queue_browser_until_bye.xml"), running.sip_port,
                                            port=free_udp_port(), calls=1, service="1800", caller=CALLER,
                                            workdir=tmp_path, timeout_s=60), tmp_path)
                # the desk phone rings for 4 s: the page shows who calls before it answers
                expect(page.locator("#incoming")).to_be_visible(timeout=20_000)
                offered_at = time.time()
                expect(page.locator("#incoming-number")).to_contain_text(CALLER[1:])
                expect(page.locator("#incoming-queue")).to_have_text("sales")
                expect(page.locator("#incoming")).to_contain_text("Answer on your desk phone.")
                expect(page.locator("#answer")).to_be_hidden()
                if customer is not None:
                    expect(page.locator("#pop-name")).to_have_text(customer["name"], timeout=5_000)
                    expect(page.locator("#pop-cases")).to_contain_text("Router keeps rebooting")
                assert time.time() - offered_at < 4.0  # all of it while the desk phone still rang
                shot(page, "agent-desk-phone-incoming")
                # the desk phone answers: the page shows the call, its notes and recording state
                expect(page.locator("#in-call")).to_be_visible(timeout=10_000)
                expect(page.locator("#call-with")).to_contain_text(CALLER[1:])
                expect(page.locator("#hangup")).to_be_hidden()
                page.fill("#call-notes", "Asked about the reboot schedule")
                # the desk phone hangs up after 3 s: wrap-up in the page
                expect(page.locator("#wrapup")).to_be_visible(timeout=15_000)
                expect(page.locator("#state")).to_have_attribute("data-state", "wrap_up", timeout=5_000)
                wrap_up(page, "resolved")
            finally:
                browser.close()
        assert finish(desk, timeout=20)[1] == {"successful": 1, "failed": 0}
        rc, count, out = finish(caller, timeout=20)
        assert (rc, count) == (0, {"successful": 1, "failed": 0}), out
    finally:
        for proc in (desk, caller):
            if proc is not None and proc.poll() is None:
                proc.kill()
        register("1001", "sip-demo-1001", phone, running.sip_port, expires=0)
    if customer is not None:  # the call is in the customer's timeline with the agent's disposition and notes
        def timeline() -> list[dict]:
            return sales_line.get(f"/api/v1/customers/{customer['id']}/timeline").json()["items"]

        assert wait_until(lambda: any(i["disposition"] == "resolved" for i in timeline()), timeout=10), timeline()
        item = next(i for i in timeline() if i["disposition"] == "resolved")
        assert (item["agent"], item["queue"], item["notes"]) == ("1001", "sales", "Asked about the reboot schedule")
