"""The agent desktop's scheduled callbacks in Chromium against `tongdai run --demo`: while agent 1001
talks with a SIPp caller the form's number follows the caller's; after the call the agent books a
callback for themselves (tomorrow 10:00 in the browser's time), sees it in their list, is told the
API's error for a time in the past, reads the section in Vietnamese, and cancels it."""

from __future__ import annotations

import httpx

from tests.calls.sipp import free_udp_port, sipp_command
from tests.calls.test_b2bua_sipp import finish, start
from tests.web.test_agent_desktop import (  # noqa: F401  (sales_line is a fixture)
    AGENT,
    CALLER,
    CHROMIUM_ARGS,
    SCENARIOS,
    agent_page,
    pytestmark,
    sales_line,
    shot,
)

NOTE = "Send the new router"


def callbacks(admin, **params) -> list[dict]:  # type: ignore[no-untyped-def]
    r = admin.get("/api/v1/callbacks", **params)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_given_agent_after_a_call_when_it_books_a_callback_in_the_desk_then_it_is_stored_listed_and_cancelled(
        running, sales_line, tmp_path):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    lan = sales_line.get("/api/v1/agents", extension="1001").json()["items"][0]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = agent_page(browser, running.base, AGENT, viewport={"width": 1280, "height": 1100})
            expect(page.locator("#cb-empty")).to_be_visible()
            caller = start(sipp_command(str(SCENARIOS / "uac_queue_browser_until_bye.xml"), running.sip_port,
                                        port=free_udp_port(), service="1800", caller=CALLER, workdir=tmp_path,
                                        timeout_s=90), tmp_path)
            try:
                expect(page.locator("#incoming")).to_be_visible(timeout=20_000)
                page.click("#answer")
                expect(page.locator("#in-call")).to_be_visible(timeout=10_000)
                # the form's number follows the caller's
                expect(page.locator("#cb-number")).to_have_value(CALLER, timeout=5_000)
                page.click("#hangup")
                expect(page.locator("#wrapup")).to_be_visible(timeout=10_000)
                rc, count, out = finish(caller, timeout=30)
                assert count == {"successful": 1, "failed": 0}, out
            finally:
                if caller.poll() is None:
                    caller.kill()
            # a time in the past: the API's error is shown with its id
            page.fill("#cb-when", "2020-01-01T10:00")
            page.click("#cb-form button[type=submit]")
            expect(page.locator("#cb-message")).to_have_attribute("data-error-id", "callback_due_in_past")
            # tomorrow 10:00 in the browser's time (the form's default), for agent 1001 herself
            page.reload()
            expect(page.locator("#registration")).to_have_attribute("data-status", "registered", timeout=15_000)
            expect(page.locator("#cb-queue")).to_have_value("sales", timeout=5_000)
            due = page.evaluate("new Date(document.getElementById('cb-when').value).toISOString()")
            page.fill("#cb-number", CALLER)
            page.fill("#cb-note", NOTE)
            expect(page.locator("#cb-me")).to_be_checked()
            page.click("#cb-form button[type=submit]")
            expect(page.locator("#cb-message")).to_contain_text("Callback scheduled for")
            item = page.locator("#cb-list li", has_text=NOTE)
            expect(item).to_contain_text("scheduled")
            expect(page.locator("#cb-empty")).to_be_hidden()
            shot(page, "agent-callbacks")
            [stored] = [c for c in callbacks(sales_line) if c["note"] == NOTE]
            assert (stored["number"], stored["queue"], stored["agent_id"], stored["status"]) == (
                "+84901234567", "sales", lan["id"], "scheduled")
            from datetime import datetime

            assert datetime.fromisoformat(stored["due_at"]) == datetime.fromisoformat(due.replace("Z", "+00:00"))
            # the section speaks Vietnamese too
            page.select_option("#lang", "vi")
            expect(page.locator("#cb-title")).to_have_text("Lịch gọi lại")
            expect(page.locator("#cb-form button[type=submit]")).to_have_text("Đặt lịch gọi lại")
            page.select_option("#lang", "en")
            # cancelled from the list: gone from it, cancelled in the API
            page.locator("#cb-list li", has_text=NOTE).get_by_role("button", name="Cancel").click()
            expect(page.locator("#cb-message")).to_have_text("Callback cancelled")
            expect(page.locator("#cb-list li", has_text=NOTE)).to_have_count(0)
            r = httpx.get(f"{running.base}/api/v1/callbacks/{stored['id']}", headers=sales_line.h, timeout=10)
            assert r.json()["status"] == "cancelled"
        finally:
            browser.close()
