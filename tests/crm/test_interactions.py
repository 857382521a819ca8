"""Every call leaves an interaction: a CallEnded published on a real app's bus is matched to the customer
by the caller's number and shows in the customer's timeline through the API (with the CDR's recording);
calls from unknown numbers are kept with no customer; internal calls are not customer contacts."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import update

from tongdai import demo
from tongdai.calls.events import CallEnded
from tongdai.calls.models import CallRecord


def _ended(tenant_id: str, call_id: str, caller: str = "0918000888", **kw) -> CallEnded:
    now = time.time()
    fields = dict(tenant_id=tenant_id, at=now, call_id=call_id, kind="inbound", caller=caller, callee="1000",
                  answered=True, started_at=now - 40, answered_at=now - 31, ring_seconds=9.0, talk_seconds=31.0,
                  cause="caller hung up", queue="sales", agent="1002", wait_seconds=4.5)
    return CallEnded(**(fields | kw))


async def _written(api, count: int) -> None:
    recorder = api.app.http.state.interactions
    for _ in range(200):  # bounded: 10 s
        if recorder.written >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{recorder.written} interactions written, {count} expected")


async def _tuan(api, h) -> dict:
    return (await api.client.get("/api/v1/customers", headers=h, params={"phone": "0918000888"})).json()["items"][0]


async def test_given_call_ended_from_known_number_then_interaction_in_customers_timeline(api):
    tid = await api.tenant_id("demo")
    h = await api.headers(demo.SUPERVISOR_LOGIN)
    api.app.http.state.interactions.remember("call-1", ivr_path=["main", "sales"], collected={"account": "1234"})
    await api.app.bus.publish(_ended(tid, "call-1"))
    await _written(api, 1)
    async with api.app.db.session() as s:  # the CDR (written by the call records) links to its recording
        await s.execute(update(CallRecord).where(CallRecord.call_id == "call-1").values(recording="2026/11/23/call-1.wav"))
    customer = await _tuan(api, h)
    page = (await api.client.get(f"/api/v1/customers/{customer['id']}/timeline", headers=h)).json()
    assert page["total"] == 1
    item = page["items"][0]
    assert (item["call_id"], item["channel"], item["direction"], item["number"]) == ("call-1", "voice", "inbound", "+84918000888")
    assert (item["queue"], item["agent"], item["wait_s"], item["talk_s"]) == ("sales", "1002", 4.5, 31.0)
    assert (item["disposition"], item["recording"]) == ("answered", "2026/11/23/call-1.wav")
    assert (item["ivr_path"], item["collected"]) == (["main", "sales"], {"account": "1234"})
    pop = (await api.client.get("/api/v1/customers/lookup", headers=h, params={"phone": "0918000888"})).json()
    assert [i["call_id"] for i in pop["recent_interactions"]] == ["call-1"]


async def test_given_unknown_caller_then_interaction_without_customer_is_the_numbers_history(sqlite_api):
    api = sqlite_api
    tid = await api.tenant_id("demo")
    h = await api.headers(demo.SUPERVISOR_LOGIN)
    await api.app.bus.publish(_ended(tid, "call-u", caller="0977111222", answered=False, answered_at=None,
                                     talk_seconds=0.0, agent=""))
    await _written(api, 1)
    pop = (await api.client.get("/api/v1/customers/lookup", headers=h, params={"phone": "0977 111 222"})).json()
    assert pop["customer"] is None
    assert [(i["call_id"], i["customer_id"], i["disposition"]) for i in pop["recent_interactions"]] == [
        ("call-u", None, "abandoned")]
    # the agent creates the customer and links the interaction to it at wrap-up
    c = (await api.client.post("/api/v1/customers", headers=h, json={"name": "Mới", "phones": ["0977111222"]})).json()
    interaction = pop["recent_interactions"][0]
    r = await api.client.patch(f"/api/v1/interactions/{interaction['id']}", headers=h,
                               json={"customer_id": c["id"], "notes": "called about prices", "disposition": "no_sale"})
    assert r.status_code == 200 and (r.json()["customer_id"], r.json()["disposition"]) == (c["id"], "no_sale")
    timeline = (await api.client.get(f"/api/v1/customers/{c['id']}/timeline", headers=h)).json()
    assert [i["notes"] for i in timeline["items"]] == ["called about prices"]


async def test_given_same_event_twice_then_one_interaction(sqlite_api):
    api = sqlite_api
    tid = await api.tenant_id("demo")
    h = await api.headers(demo.SUPERVISOR_LOGIN)
    event = _ended(tid, "call-twice")
    await api.app.bus.publish(event)
    await _written(api, 1)
    await api.app.bus.publish(event)
    recorder = api.app.http.state.interactions
    for _ in range(100):
        if not recorder._tasks:
            break
        await asyncio.sleep(0.05)
    customer = await _tuan(api, h)
    page = (await api.client.get(f"/api/v1/customers/{customer['id']}/timeline", headers=h)).json()
    assert page["total"] == 1


async def test_given_internal_call_then_no_interaction_and_outbound_call_is_matched_by_callee(sqlite_api):
    api = sqlite_api
    tid = await api.tenant_id("demo")
    h = await api.headers(demo.SUPERVISOR_LOGIN)
    await api.app.bus.publish(_ended(tid, "call-int", caller="1001", callee="1002", kind="internal"))
    await api.app.bus.publish(_ended(tid, "call-out", caller="1001", callee="0918000888", kind="outbound", queue=""))
    await _written(api, 1)
    customer = await _tuan(api, h)
    page = (await api.client.get(f"/api/v1/customers/{customer['id']}/timeline", headers=h)).json()
    assert [(i["call_id"], i["direction"]) for i in page["items"]] == [("call-out", "outbound")]
    assert api.app.http.state.interactions.written == 1


async def test_given_callback_to_customer_then_outbound_interaction_with_customers_number(sqlite_api):
    api = sqlite_api
    tid = await api.tenant_id("demo")
    h = await api.headers(demo.SUPERVISOR_LOGIN)
    await api.app.bus.publish(_ended(tid, "call-back", caller="0918000888", callee="1002", kind="callback"))
    await _written(api, 1)
    customer = await _tuan(api, h)
    page = (await api.client.get(f"/api/v1/customers/{customer['id']}/timeline", headers=h)).json()
    assert [(i["call_id"], i["direction"], i["number"]) for i in page["items"]] == [("call-back", "outbound", "+84918000888")]


async def test_given_interaction_linked_to_case_then_case_shows_it(sqlite_api):
    api = sqlite_api
    tid = await api.tenant_id("demo")
    h = await api.headers(("anh@demo.example", demo.AGENT_PASSWORD))
    await api.app.bus.publish(_ended(tid, "call-case"))
    await _written(api, 1)
    customer = await _tuan(api, h)
    pop = (await api.client.get("/api/v1/customers/lookup", headers=h, params={"phone": "0918000888"})).json()
    case_id = pop["open_cases"][0]["id"]
    interaction_id = pop["recent_interactions"][0]["id"]
    r = await api.client.patch(f"/api/v1/interactions/{interaction_id}", headers=h, json={"case_id": case_id})
    assert r.status_code == 200
    detail = (await api.client.get(f"/api/v1/cases/{case_id}", headers=h)).json()
    assert [i["call_id"] for i in detail["interactions"]] == ["call-case"]
    r = await api.client.post(f"/api/v1/customers/{customer['id']}/interactions", headers=h,
                              json={"channel": "email", "notes": "sent the router's manual", "case_id": case_id})
    assert r.status_code == 201
    detail = (await api.client.get(f"/api/v1/cases/{case_id}", headers=h)).json()
    assert sorted(i["channel"] for i in detail["interactions"]) == ["email", "voice"]


async def test_given_customer_deleted_then_number_free_and_interactions_and_cases_stay_unlinked(api):
    tid = await api.tenant_id("demo")
    h = await api.headers(demo.ADMIN_LOGIN)
    await api.app.bus.publish(_ended(tid, "call-before-delete"))
    await _written(api, 1)
    customer = await _tuan(api, h)
    assert (await api.client.delete(f"/api/v1/customers/{customer['id']}", headers=h)).status_code == 204
    pop = (await api.client.get("/api/v1/customers/lookup", headers=h, params={"phone": "0918000888"})).json()
    assert pop["customer"] is None
    assert [(i["call_id"], i["customer_id"]) for i in pop["recent_interactions"]] == [("call-before-delete", None)]
    cases = (await api.client.get("/api/v1/cases", headers=h, params={"status": "open"})).json()["items"]
    assert [(c["subject"], c["customer_id"]) for c in cases] == [("Internet drops every evening", None)]
    r = await api.client.post("/api/v1/customers", headers=h, json={"name": "New owner", "phones": ["0918000888"]})
    assert r.status_code == 201
