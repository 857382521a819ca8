"""The administration pages in a real browser against `tongdai run --demo`: Chromium logs the demo's tenant
admin in; a skill, a queue that needs it and a number leading to that queue are created through the forms;
an agent is given the skill; a call flow with an error is refused with its problem shown, then fixed,
validated, saved as a draft and activated. Every change is read back through the REST API.

With TONGDAI_SCREENSHOTS=1 each screen is saved to docs/user-guide/admin-*.png."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from tests.calls.test_call_records import token
from tests.conftest import RunningTongdai
from tests.web.test_agent_desktop import CHROMIUM_ARGS, Admin, shot

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not os.access("/usr/bin/chromium", os.X_OK),
                                                  reason="chromium not installed")]

FLOW = """name: warranty-line
version: 1
language: en
languages: [en]
entry: greeting
nodes:
  greeting:
    type: play
    prompt: {en: "Warranty service, please hold."}
    next: %s
  warranty:
    type: enqueue
    queue: warranty
"""


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS[:6])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def admin_page(running, browser):  # type: ignore[no-untyped-def]
    """A page of the administration UI, logged in as the demo's tenant admin."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.on("dialog", lambda d: d.accept())  # the delete confirmation
    page.goto(running.base + "/ui/admin/")
    page.get_by_label("E-mail").fill("admin@demo.example")
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Log in").click()
    page.locator("#login-error").get_by_text("Log-in failed").wait_for()
    page.get_by_label("Password").fill("admin-demo-2026")
    shot(page, "admin-login")
    page.get_by_role("button", name="Log in").click()
    page.locator("#rows").get_by_text("admin@demo.example").wait_for()
    yield page
    context.close()


def section(page, name: str) -> None:  # type: ignore[no-untyped-def]
    page.locator("#menu").get_by_role("button", name=name, exact=True).click()
    page.locator("#panel-title").get_by_text(name, exact=True).wait_for()
    page.locator("#panel .pager").wait_for()  # the rows are in: the pager comes after them


def save(page) -> None:  # type: ignore[no-untyped-def]
    page.locator("#edit-form").get_by_role("button", name="Save").click()
    page.locator("#status").get_by_text("Saved.").wait_for()


def test_users_table_lists_the_demo_users_in_pages(running: RunningTongdai, admin_page: Page) -> None:
    page = admin_page
    rows = page.locator("#rows tbody tr")
    total = Admin(running.base).get("/api/v1/users").json()["total"]
    assert rows.count() == min(total, 20)
    assert page.locator(".pager span").inner_text() == f"1–{min(total, 20)} of {total}"
    assert page.get_by_role("button", name="Previous").is_disabled()


def test_user_created_in_the_form_can_log_in(running: RunningTongdai, admin_page: Page) -> None:
    page, api = admin_page, Admin(running.base)
    section(page, "Users")
    page.get_by_role("button", name="New").click()
    form = page.locator("#edit-form")
    form.get_by_label("E-mail").fill("thu@demo.example")
    form.get_by_label("Name").fill("Đỗ Minh Thu")
    form.get_by_label("Role").select_option("supervisor")
    form.get_by_label("Password").fill("short")  # under 8 characters: refused by the API
    page.locator("#edit-form").get_by_role("button", name="Save").click()
    page.locator("#form-error").get_by_text("password: String should have at least 8 characters").wait_for()
    form.get_by_label("Password").fill("thu-supervisor-2026")
    save(page)
    thu = next(u for u in api.get("/api/v1/users", limit="500").json()["items"] if u["email"] == "thu@demo.example")
    assert (thu["name"], thu["role"], thu["active"]) == ("Đỗ Minh Thu", "supervisor", True)
    assert token(running.base, "thu@demo.example", "thu-supervisor-2026")

    page.get_by_role("button", name="Edit Đỗ Minh Thu").click()
    form.get_by_text("Edit: Đỗ Minh Thu").wait_for()
    assert form.get_by_label("E-mail").is_disabled()  # an e-mail is not changed after creation
    form.get_by_label("Role").select_option("quality_analyst")
    save(page)  # the password left empty is kept
    assert api.get(f"/api/v1/users/{thu['id']}").json()["role"] == "quality_analyst"
    assert token(running.base, "thu@demo.example", "thu-supervisor-2026")


def test_queue_and_number_created_in_forms_exist_in_the_api(running: RunningTongdai, admin_page: Page) -> None:
    page, api = admin_page, Admin(running.base)
    section(page, "Skills")
    page.get_by_role("button", name="New").click()
    page.get_by_label("Name").fill("warranty")
    page.get_by_label("Description").fill("Repairs under warranty")
    save(page)
    page.locator("#rows").get_by_text("Repairs under warranty").wait_for()

    section(page, "Queues")
    page.get_by_role("button", name="New").click()
    page.wait_for_function("document.activeElement?.id === 'f-name'", timeout=5000)  # the form takes the focus
    page.get_by_label("Name").fill("warranty queue")  # a space: refused by the API
    page.get_by_label("Target expression").fill("skills.warranty >= 1")
    page.get_by_label("Wrap-up (s)").fill("45")
    page.get_by_label("Strategy").select_option("most_skilled")
    page.get_by_label("Business hours").select_option(label="Office hours")
    page.locator("#edit-form").get_by_role("button", name="Save").click()
    error = page.locator("#form-error")
    error.get_by_text("the request does not match the expected shape").wait_for()
    assert "name: String should match pattern" in error.inner_text()
    shot(page, "admin-queue-error")
    page.get_by_label("Name").fill("warranty")
    save(page)
    page.locator("#rows").get_by_text("skills.warranty >= 1").wait_for()
    queue = api.get("/api/v1/queues", name="warranty").json()["items"][0]
    assert (queue["target_expression"], queue["wrap_up_s"], queue["strategy"]) == ("skills.warranty >= 1", 45,
                                                                                   "most_skilled")
    assert queue["calendar_id"] == api.get("/api/v1/calendars", name="Office hours").json()["items"][0]["id"]
    shot(page, "admin-queues")

    section(page, "Numbers")
    page.get_by_role("button", name="New").click()
    page.get_by_label("Number", exact=True).fill("1900")
    page.get_by_label("Description").fill("Warranty line")
    page.get_by_label("Queue").select_option(label="warranty")
    shot(page, "admin-number-form")
    save(page)
    page.locator("#rows").get_by_text("Warranty line").wait_for()
    number = api.get("/api/v1/numbers", e164="1900").json()["items"][0]
    assert (number["description"], number["queue_id"]) == ("Warranty line", queue["id"])
    row = page.locator("#rows tr", has_text="Warranty line")
    assert row.locator("td").nth(3).inner_text() == "warranty"  # the queue by its name, not its id


def test_agent_skills_edited_in_the_form_reach_the_api(running: RunningTongdai, admin_page: Page) -> None:
    page, api = admin_page, Admin(running.base)
    if not api.get("/api/v1/skills", name="warranty").json()["items"]:  # when run alone
        api.send("POST", "/api/v1/skills", {"name": "warranty"})
    section(page, "Agents")
    page.get_by_role("button", name="Edit Trần Văn Minh").click()
    page.get_by_label("warranty").fill("7")
    page.get_by_label("sales", exact=True).fill("6")
    page.get_by_label("Queues (comma-separated)").fill("sales, warranty")
    shot(page, "admin-agent-skills")
    save(page)
    page.locator("#rows").get_by_text("warranty: 7").wait_for()
    minh = api.get("/api/v1/agents", extension="1002").json()["items"][0]
    assert minh["skills"] == {"sales": 6, "warranty": 7}
    assert minh["queues"] == ["sales", "warranty"]
    assert minh["name"] == "Trần Văn Minh"  # the fields not touched are kept


def test_number_deleted_from_the_table_is_gone_from_the_api(running: RunningTongdai, admin_page: Page) -> None:
    page, api = admin_page, Admin(running.base)
    api.send("POST", "/api/v1/numbers", {"e164": "1901", "description": "Old promotion"})
    section(page, "Numbers")
    page.get_by_role("button", name="Delete 1901").click()
    page.locator("#status").get_by_text("Deleted.").wait_for()
    assert page.locator("#rows").get_by_text("Old promotion").count() == 0
    assert api.get("/api/v1/numbers", e164="1901").json()["items"] == []


def test_call_flow_with_an_error_is_refused_then_fixed_validated_saved_and_activated(running: RunningTongdai, admin_page: Page) -> None:
    page, api = admin_page, Admin(running.base)
    section(page, "Call flows")
    editor = page.get_by_label("Flow document (YAML or JSON)")
    editor.fill(FLOW % "warranty_queue")  # a node that does not exist
    page.get_by_role("button", name="Save as draft").click()
    report = page.locator("#flow-report")
    report.get_by_text("the call flow is not valid").wait_for()
    assert "nodes.greeting.next" in report.inner_text() and "warranty_queue" in report.inner_text()
    page.get_by_role("button", name="Validate").click()
    report.locator("ul.problems").wait_for()
    assert "warranty_queue" in report.locator("ul.problems").inner_text()
    shot(page, "admin-flow-problem")
    assert api.get("/api/v1/call-flows", name="warranty-line").json()["total"] == 0

    editor.fill(FLOW % "warranty")
    page.get_by_role("button", name="Validate").click()
    report.get_by_text("The flow is valid.").wait_for()
    page.get_by_role("button", name="Save as draft").click()
    page.locator("#status").get_by_text("Saved as warranty-line version 1 (draft).").wait_for()
    assert page.locator("#flow-selected").inner_text() == "Activate applies to warranty-line version 1 (draft)."
    draft = api.get("/api/v1/call-flows", name="warranty-line").json()["items"]
    assert [(f["version"], f["status"]) for f in draft] == [(1, "draft")]
    assert draft[0]["document"]["nodes"]["warranty"]["queue"] == "warranty"

    page.locator("#panel .row").get_by_role("button", name="Activate").click()
    page.locator("#status").get_by_text("warranty-line version 1 is active.").wait_for()
    assert page.locator(f'#flows tr[data-id="{draft[0]["id"]}"] .badge').inner_text() == "active"
    assert api.get(f"/api/v1/call-flows/{draft[0]['id']}").json()["status"] == "active"
    assert page.locator("#flow-activate").is_disabled()  # the opened version is the active one now
    shot(page, "admin-flows")

    if not api.get("/api/v1/numbers", e164="1900").json()["items"]:  # when run alone
        api.send("POST", "/api/v1/numbers", {"e164": "1900", "description": "Warranty line"})
    section(page, "Numbers")
    page.get_by_role("button", name="Edit 1900").click()
    page.get_by_label("Call flow").select_option("warranty-line")
    save(page)
    assert api.get("/api/v1/numbers", e164="1900").json()["items"][0]["flow"] == "warranty-line"


def test_business_hours_per_weekday_are_stored_as_intervals(running: RunningTongdai, admin_page: Page) -> None:
    page, api = admin_page, Admin(running.base)
    section(page, "Business hours")
    page.get_by_role("button", name="New").click()
    page.get_by_label("Name").fill("Warranty hours")
    page.get_by_label("Monday").fill("08:00-12:00, 13:00-17:00")
    page.get_by_label("Friday").fill("")
    page.get_by_label("Saturday").fill("18:00-09:00")  # ends before it starts: refused
    page.locator("#edit-form").get_by_role("button", name="Save").click()
    page.locator("#form-error").get_by_text("ends before it starts").wait_for()
    shot(page, "admin-hours-error")
    page.get_by_label("Saturday").fill("08:00-11:30")
    save(page)
    row = page.locator("#rows tr", has_text="Warranty hours")
    assert row.locator("td").nth(2).inner_text() == ("mon 08:00–12:00, 13:00–17:00 · tue 08:00–17:30 · "
                                                      "wed 08:00–17:30 · thu 08:00–17:30 · sat 08:00–11:30")
    hours = api.get("/api/v1/calendars", name="Warranty hours").json()["items"][0]
    assert hours["weekly"] == {"mon": [["08:00", "12:00"], ["13:00", "17:00"]], "tue": [["08:00", "17:30"]],
                               "wed": [["08:00", "17:30"]], "thu": [["08:00", "17:30"]], "sat": [["08:00", "11:30"]]}


def test_skills_are_paged_twenty_at_a_time(running: RunningTongdai, admin_page: Page) -> None:
    page, api = admin_page, Admin(running.base)
    for i in range(21):
        api.send("POST", "/api/v1/skills", {"name": f"product-{i:02d}"})
    total = api.get("/api/v1/skills").json()["total"]
    section(page, "Skills")
    assert page.locator("#rows tbody tr").count() == 20
    page.get_by_role("button", name="Next").click()
    page.locator(".pager span").get_by_text(f"21–{min(total, 40)} of {total}").wait_for()
    shown = page.locator("#rows tbody tr td:first-child").all_inner_texts()
    second = [s["name"] for s in api.get("/api/v1/skills", limit="20", offset="20").json()["items"]]
    assert shown == second
    page.get_by_role("button", name="Previous").click()
    page.locator(".pager span").get_by_text(f"1–20 of {total}").wait_for()


def test_a_skill_is_created_with_the_keyboard_alone(running: RunningTongdai, admin_page: Page) -> None:
    page = admin_page
    page.keyboard.press("Control+Home")
    page.locator(".skip").focus()
    page.keyboard.press("Enter")  # the skip link leads to the content
    page.locator("#menu").get_by_role("button", name="Skills").focus()
    page.keyboard.press("Enter")
    page.wait_for_function("document.activeElement?.id === 'panel-title'", timeout=5000)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "New"
    page.keyboard.press("Enter")
    page.wait_for_function("document.activeElement?.id === 'f-name'", timeout=5000)
    page.keyboard.type("installation")
    page.keyboard.press("Tab")
    page.keyboard.type("Installs at home")
    page.keyboard.press("Enter")  # submits the form
    page.locator("#status").get_by_text("Saved.").wait_for()
    assert page.evaluate("document.activeElement.id") == "panel-title"  # the keyboard goes on from the title
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # New again, then Escape closes the form
    page.wait_for_function("document.activeElement?.id === 'f-name'", timeout=5000)
    page.keyboard.press("Escape")
    assert page.locator("#edit-form").count() == 0
    skill = Admin(running.base).get("/api/v1/skills", name="installation").json()["items"]
    assert [s["description"] for s in skill] == ["Installs at home"]


def test_pages_speak_vietnamese_and_chinese(admin_page: Page) -> None:
    page = admin_page
    page.get_by_label("Language").select_option("vi")
    page.locator("#menu").get_by_role("button", name="Hàng đợi").click()
    page.locator("#panel-title").get_by_text("Hàng đợi").wait_for()
    page.locator("#panel .pager").wait_for()
    assert page.locator("#rows th").first.inner_text() == "Tên"
    shot(page, "admin-vi")
    page.get_by_label("Ngôn ngữ").select_option("zh")
    page.locator("#menu").get_by_role("button", name="呼叫流程").wait_for()
    assert page.get_by_role("button", name="新建").count() == 1
    page.get_by_label("语言").select_option("en")
