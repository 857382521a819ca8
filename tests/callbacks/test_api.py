"""Scheduled callbacks over the REST API on SQLite and PostgreSQL: booking with the number in E.164 and
the time in the tenant's zone, the stable error ids of bad bookings, who sees and changes what (agents:
their own and their queues'; supervisors: the whole tenant), cancel and reschedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from tongdai import demo

LAN = ("lan@demo.example", demo.AGENT_PASSWORD)  # sales and support
MINH = ("minh@demo.example", demo.AGENT_PASSWORD)  # sales only
ANH = ("anh@demo.example", demo.AGENT_PASSWORD)  # support only


def _in(minutes: float) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


async def _book(api, login, **body):
    h = await api.headers(login)
    payload = {"number": "0901 234 567", "queue": "sales", "due_at": _in(60), **body}
    return await api.client.post("/api/v1/callbacks", headers=h, json=payload)


async def test_given_local_number_and_utc_time_then_stored_in_e164_and_shown_in_tenant_zone(api):
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    r = await _book(api, LAN, due_at=due.isoformat(), note="Promised a refund update")
    assert r.status_code == 201, r.text
    cb = r.json()
    assert cb["number"] == "+84901234567" and cb["status"] == "scheduled" and cb["attempts"] == 0
    assert cb["timezone"] == "Asia/Ho_Chi_Minh" and cb["due_at"].endswith("+07:00")
    assert datetime.fromisoformat(cb["due_at"]) == due


async def test_given_time_without_offset_then_read_in_tenant_zone(sqlite_api):
    api = sqlite_api
    due = (datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")) + timedelta(hours=3)).replace(microsecond=0)
    r = await _book(api, LAN, due_at=due.replace(tzinfo=None).isoformat())  # "2026-11-24T01:00:00": Hanoi's
    assert r.status_code == 201, r.text
    assert datetime.fromisoformat(r.json()["due_at"]) == due and r.json()["due_at"].endswith("+07:00")


async def test_given_number_of_a_known_customer_then_customer_linked_and_named(sqlite_api):
    api = sqlite_api
    r = await _book(api, LAN, number="+14155550100")  # John Carter of the demo CRM
    assert r.status_code == 201, r.text
    assert r.json()["customer_id"] and r.json()["customer_name"] == "John Carter"


async def test_bad_bookings_answer_stable_error_ids(sqlite_api):
    api = sqlite_api
    cases = [({"due_at": _in(-5)}, 422, "callback_due_in_past"),
             ({"due_at": _in(60 * 24 * 400)}, 422, "callback_due_too_far"),
             ({"number": "12"}, 422, "invalid_phone"),
             ({"queue": "nosuchqueue"}, 404, "queue_not_found"),
             ({"assign": "agent", "agent_id": "0" * 32}, 404, "agent_not_found"),
             ({"customer_id": "0" * 32}, 404, "customer_not_found"),
             ({"number": ""}, 422, "invalid_input")]
    for body, status, error_id in cases:
        r = await _book(api, LAN, **body)
        assert (r.status_code, r.json().get("error_id")) == (status, error_id), (body, r.text)
    r = await _book(api, demo.SUPERVISOR_LOGIN, assign="me")
    assert (r.status_code, r.json()["error_id"]) == (422, "not_an_agent")
    r = await _book(api, ANH, assign="me")  # Anh does not serve sales
    assert (r.status_code, r.json()["error_id"]) == (422, "agent_not_in_queue")
    h = await api.headers(demo.ADMIN_LOGIN)
    assert (await api.client.get("/api/v1/callbacks", headers=h)).json()["total"] == 0  # nothing stored


async def test_agents_see_their_own_and_their_queues_supervisors_all(api):
    sales = (await _book(api, MINH)).json()
    mine = (await _book(api, MINH, assign="me")).json()
    support = (await _book(api, ANH, queue="support")).json()

    async def ids(login, **params):
        r = await api.client.get("/api/v1/callbacks", headers=await api.headers(login), params=params)
        assert r.status_code == 200, r.text
        return {c["id"] for c in r.json()["items"]}

    assert await ids(MINH) == {sales["id"], mine["id"]}  # support is not his queue
    assert await ids(ANH) == {support["id"]}
    assert await ids(LAN) == {sales["id"], mine["id"], support["id"]}  # both queues
    assert await ids(demo.SUPERVISOR_LOGIN) == {sales["id"], mine["id"], support["id"]}
    assert await ids(MINH, mine="true") == {sales["id"], mine["id"]}
    assert await ids(LAN, mine="true") == set()
    r = await api.client.get(f"/api/v1/callbacks/{support['id']}", headers=await api.headers(MINH))
    assert (r.status_code, r.json()["error_id"]) == (404, "not_found")
    admin = await api.headers(demo.ADMIN_LOGIN)
    qa = {"email": "qa@demo.example", "name": "QA", "role": "quality_analyst", "password": "qa-password-2026"}
    assert (await api.client.post("/api/v1/users", headers=admin, json=qa)).status_code == 201
    r = await api.client.get("/api/v1/callbacks", headers=await api.headers((qa["email"], qa["password"])))
    assert (r.status_code, r.json()["error_id"]) == (403, "forbidden")  # not a role that makes calls


async def test_cancel_and_reschedule_by_owner_refused_to_other_agents_and_after_cancel(api):
    cb = (await _book(api, MINH, note="first")).json()
    path = f"/api/v1/callbacks/{cb['id']}"
    r = await api.client.patch(path, headers=await api.headers(LAN), json={"status": "cancelled"})
    assert (r.status_code, r.json()["error_id"]) == (403, "callback_not_yours")  # sees it (sales), not hers
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    r = await api.client.patch(path, headers=await api.headers(MINH), json={"due_at": later.isoformat(), "note": "moved"})
    assert r.status_code == 200, r.text
    assert datetime.fromisoformat(r.json()["due_at"]) == later and r.json()["note"] == "moved"
    r = await api.client.patch(path, headers=await api.headers(MINH), json={"due_at": _in(-1)})
    assert (r.status_code, r.json()["error_id"]) == (422, "callback_due_in_past")
    r = await api.client.patch(path, headers=await api.headers(demo.SUPERVISOR_LOGIN), json={"status": "cancelled"})
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    r = await api.client.patch(path, headers=await api.headers(MINH), json={"due_at": _in(30)})
    assert (r.status_code, r.json()["error_id"]) == (409, "callback_not_scheduled")
    listed = (await api.client.get("/api/v1/callbacks", headers=await api.headers(MINH),
                                   params={"status": "scheduled"})).json()
    assert listed["total"] == 0


async def test_another_tenants_callback_is_not_found(sqlite_api):
    api = sqlite_api
    cb = (await _book(api, MINH)).json()
    h = await api.headers(demo.PROVIDER_LOGIN)
    other = await api.client.post("/api/v1/tenants", headers=h, json={"slug": "other", "name": "Other"})
    assert other.status_code == 201, other.text
    r = await api.client.get(f"/api/v1/callbacks/{cb['id']}", headers={**h, "X-Tenant-Id": other.json()["id"]})
    assert (r.status_code, r.json()["error_id"]) == (404, "not_found")
