"""The supervisor's page in Chromium against `tongdai run --demo`: log in, see the queues and agents, see
a state change made elsewhere arrive within a second, change an agent's state and skills from the page,
a waiting caller past the threshold highlighted as an alert, and the page in Vietnamese and Chinese.
With TONGDAI_SCREENSHOTS=1 each screen is saved to docs/user-guide/wallboard-*.png."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.wallboard.wsclient import token
from tongdai import demo

pytestmark = pytest.mark.e2e
GUIDE = Path(__file__).resolve().parents[2] / "docs" / "user-guide"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def shot(page: Page, name: str) -> None:
    if os.environ.get("TONGDAI_SCREENSHOTS") == "1":
        GUIDE.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(GUIDE / f"{name}.png"), full_page=True)


def agent_row(page: Page, ext: str):  # type: ignore[no-untyped-def]
    return page.locator("#agents tbody tr", has_text=f"({ext})")


def test_supervisor_page_shows_live_changes_acts_on_agents_and_highlights_alerts(running):
    base = running.base
    admin = {"Authorization": f"Bearer {token(base, demo.ADMIN_LOGIN)}"}
    agents = {a["extension"]: a for a in httpx.get(base + "/api/v1/agents", headers=admin).json()["items"]}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900}, locale="en-GB")
        page.goto(base + "/ui/supervisor/")
        shot(page, "wallboard-login")
        page.get_by_label("E-mail").fill(demo.SUPERVISOR_LOGIN[0])
        page.get_by_label("Password").fill(demo.SUPERVISOR_LOGIN[1])
        page.get_by_role("button", name="Log in").click()
        expect(page.locator("#queues tbody tr", has_text="sales")).to_be_visible(timeout=10_000)
        expect(page.locator("#live")).to_have_attribute("data-live", "on")
        expect(agent_row(page, "1002")).to_contain_text("Trần Văn Minh")

        # a change made elsewhere (the routing API) reaches the page within a second
        sent = time.time()
        r = httpx.post(base + "/api/v1/routing/agents/activity", headers=admin,
                       json={"agent_id": agents["1002"]["id"], "activity": "available"})
        assert r.status_code == 200
        expect(agent_row(page, "1002").locator(".badge")).to_have_text("Available", timeout=3_000)
        assert time.time() - sent < 1.0
        expect(page.locator("#queues tbody tr", has_text="sales")).to_contain_text("Available 1")

        # the supervisor sets 1003 not ready from the page; its timer starts from zero and ticks
        row = agent_row(page, "1003")
        row.get_by_label("Change state of Lê Hoàng Anh").select_option("not_ready")
        row.get_by_role("button", name="Apply").click()
        expect(row.locator(".badge")).to_have_text("Not ready", timeout=3_000)
        first = row.locator(".in-state").inner_text()
        assert first in ("0:00", "0:01"), first
        page.wait_for_timeout(2_000)
        expect(row.locator(".in-state")).to_have_text(re.compile(r"^0:0[2-4]$"), timeout=1_500)
        assert row.get_by_role("button", name="Listen").is_disabled()

        # skills and queues edited live: Minh joins support
        agent_row(page, "1002").get_by_role("button", name="Skills and queues").click()
        dialog = page.locator("#skills-dialog")
        expect(dialog).to_be_visible()
        dialog.get_by_label("support").first.fill("4")
        dialog.get_by_role("checkbox", name="support").check()
        shot(page, "wallboard-skills")
        dialog.get_by_role("button", name="Save").click()
        expect(dialog).to_be_hidden()
        expect(agent_row(page, "1002").locator(".agent-queues")).to_have_text("sales, support", timeout=3_000)

        # a caller waiting past a 2 s threshold in support: the queue is highlighted and an alert is announced
        support = next(q for q in httpx.get(base + "/api/v1/queues", headers=admin).json()["items"]
                       if q["name"] == "support")
        assert httpx.patch(f"{base}/api/v1/queues/{support['id']}", headers=admin,
                           json={"service_level_threshold_s": 2}).status_code == 200
        for ext in ("1001", "1002", "1003", "1004"):
            httpx.post(base + "/api/v1/routing/agents/activity", headers=admin,
                       json={"agent_id": agents[ext]["id"], "activity": "not_ready"})
        r = httpx.post(base + "/api/v1/routing/tasks", headers=admin,
                       json={"id": "page-wait", "channel": "voice", "attributes": {"queue": "support", "caller": "+84901"}})
        assert r.status_code == 201, r.text
        queue_row = page.locator("#queues tbody tr", has_text="support")
        expect(queue_row).to_have_class("alert", timeout=6_000)
        expect(page.locator("#alert-list li")).to_contain_text("support: a caller has waited")
        expect(queue_row.locator("td.waiting")).to_have_text("1")
        shot(page, "wallboard")

        page.locator("#lang").select_option("vi")
        expect(page.locator("h1")).to_contain_text("Bảng giám sát")
        expect(agent_row(page, "1003").locator(".badge")).to_have_text("Chưa sẵn sàng")
        shot(page, "wallboard-vi")
        page.locator("#lang").select_option("zh")
        expect(page.locator("h1")).to_contain_text("班长监控大屏")
        page.locator("#lang").select_option("en")

        # the caller is answered elsewhere: the alert goes
        httpx.post(base + "/api/v1/routing/tasks/cancel", headers=admin, json={"task_id": "page-wait"})
        expect(queue_row).not_to_have_class("alert", timeout=3_000)
        browser.close()


def test_agent_log_in_is_refused_on_the_supervisor_page(running):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(running.base + "/ui/supervisor/")
        page.get_by_label("E-mail").fill("lan@demo.example")
        page.get_by_label("Password").fill(demo.AGENT_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.locator("#login-error")).to_contain_text("Only supervisors and administrators")
        assert page.locator("#board").is_hidden()
        browser.close()
