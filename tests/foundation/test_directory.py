"""The contact-centre directory over the REST API: CRUD, validation, pagination, filters, tenancy."""

from __future__ import annotations

from tongdai import demo


async def _admin(api):
    return await api.headers(demo.ADMIN_LOGIN)


async def test_given_demo_then_queues_agents_calendar_are_listed(api):
    h = await _admin(api)
    queues = (await api.client.get("/api/v1/queues", headers=h)).json()
    assert sorted(q["name"] for q in queues["items"]) == ["sales", "support"]
    agents = (await api.client.get("/api/v1/agents", headers=h)).json()
    assert agents["total"] == 4
    langs = {lang for a in agents["items"] for lang in a["languages"]}
    assert {"vi", "en", "zh"} <= langs
    cal = (await api.client.get("/api/v1/calendars", headers=h)).json()["items"][0]
    assert cal["timezone"] == "Asia/Ho_Chi_Minh" and cal["weekly"]["mon"] == [["08:00", "17:30"]]


async def test_given_queue_crud_then_create_get_patch_delete_round_trip(api):
    h = await _admin(api)
    r = await api.client.post("/api/v1/queues", headers=h, json={
        "name": "vip", "strategy": "most_skilled", "service_level_target_pct": 90, "service_level_threshold_s": 15})
    assert r.status_code == 201, r.text
    q = r.json()
    assert q["recording_policy"] == "always" and q["channels"] == ["voice"]
    r = await api.client.patch(f"/api/v1/queues/{q['id']}", headers=h, json={"max_wait_s": 120, "recording_policy": "on_demand"})
    assert r.status_code == 200 and r.json()["max_wait_s"] == 120 and r.json()["strategy"] == "most_skilled"
    assert (await api.client.get(f"/api/v1/queues/{q['id']}", headers=h)).json()["recording_policy"] == "on_demand"
    assert (await api.client.delete(f"/api/v1/queues/{q['id']}", headers=h)).status_code == 204
    r = await api.client.get(f"/api/v1/queues/{q['id']}", headers=h)
    assert r.status_code == 404 and r.json()["error_id"] == "not_found"


async def test_given_duplicate_name_then_409_duplicate(api):
    h = await _admin(api)
    r = await api.client.post("/api/v1/queues", headers=h, json={"name": "sales"})
    assert r.status_code == 409 and r.json()["error_id"] == "duplicate"


async def test_given_bad_values_then_422_names_the_field(api):
    h = await _admin(api)
    cases = [
        ("/api/v1/agents", {"name": "X", "extension": "1099", "skills": {"sales": 11}}, "skills"),
        ("/api/v1/agents", {"name": "X", "extension": "12a"}, "extension"),
        ("/api/v1/queues", {"name": "q1", "strategy": "fastest"}, "strategy"),
        ("/api/v1/calendars", {"name": "c", "timezone": "Mars/Olympus"}, "timezone"),
        ("/api/v1/calendars", {"name": "c", "weekly": {"mon": [["18:00", "08:00"]]}}, "weekly"),
        ("/api/v1/numbers", {"e164": "+1 abc"}, "e164"),
        ("/api/v1/reason-codes", {"kind": "lunch", "code": "x", "label": "y"}, "kind"),
    ]
    for path, body, field in cases:
        r = await api.client.post(path, headers=h, json=body)
        assert r.status_code == 422, (path, body, r.text)
        err = r.json()
        assert err["error_id"] == "invalid_input"
        assert any(field in d["loc"] for d in err["details"]), err


async def test_given_patch_with_bad_value_then_422_and_row_unchanged(api):
    h = await _admin(api)
    q = (await api.client.get("/api/v1/queues", headers=h, params={"name": "sales"})).json()["items"][0]
    r = await api.client.patch(f"/api/v1/queues/{q['id']}", headers=h, json={"service_level_target_pct": 150})
    assert r.status_code == 422
    assert (await api.client.get(f"/api/v1/queues/{q['id']}", headers=h)).json()["service_level_target_pct"] == 80


async def test_given_many_rows_then_pagination_and_filters_work(api):
    h = await _admin(api)
    for i in range(12):
        r = await api.client.post("/api/v1/skills", headers=h, json={"name": f"lang-{i:02d}"})
        assert r.status_code == 201
    page1 = (await api.client.get("/api/v1/skills", headers=h, params={"limit": 5})).json()
    page3 = (await api.client.get("/api/v1/skills", headers=h, params={"limit": 5, "offset": 10})).json()
    assert page1["total"] == 15 and len(page1["items"]) == 5 and len(page3["items"]) == 5
    assert not {s["id"] for s in page1["items"]} & {s["id"] for s in page3["items"]}
    only = (await api.client.get("/api/v1/skills", headers=h, params={"name": "lang-07"})).json()
    assert only["total"] == 1 and only["items"][0]["name"] == "lang-07"
    r = await api.client.get("/api/v1/skills", headers=h, params={"limit": 0})
    assert r.status_code == 422


async def test_given_number_then_normalised_to_e164(api):
    h = await _admin(api)
    r = await api.client.post("/api/v1/numbers", headers=h, json={"e164": "+84 28 3823 4567", "flow": "demo"})
    assert r.status_code == 201, r.text
    assert r.json()["e164"] == "+842838234567"


async def test_given_reference_to_other_tenant_row_then_422_invalid_reference(api):
    from tongdai.directory.models import Site
    from tongdai.iam import service

    async with api.app.db.session() as s:
        other = await service.create_tenant(s, slug="acme", name="Acme")
        site = Site(tenant_id=other.id, name="Acme HQ")
        s.add(site)
        await s.flush()
        site_id = site.id
    h = await _admin(api)
    r = await api.client.post("/api/v1/agents", headers=h, json={"name": "Z", "extension": "1500", "site_id": site_id})
    assert r.status_code == 422 and r.json()["error_id"] == "invalid_reference"


async def test_given_provider_admin_then_acts_on_tenant_named_in_header(api):
    h = await api.headers(demo.PROVIDER_LOGIN)
    r = await api.client.get("/api/v1/queues", headers=h)
    assert r.status_code == 422 and r.json()["error_id"] == "tenant_required"
    tid = await api.tenant_id("demo")
    r = await api.client.get("/api/v1/queues", headers={**h, "X-Tenant-Id": tid})
    assert r.status_code == 200 and r.json()["total"] == 2
    r = await api.client.get("/api/v1/tenants", headers=h)
    assert r.status_code == 200 and r.json()["items"][0]["slug"] == "demo"


async def test_given_supervisor_then_can_change_agent_skills_but_not_queues(api):
    h = await api.headers(demo.SUPERVISOR_LOGIN)
    agent = (await api.client.get("/api/v1/agents", headers=h, params={"extension": "1002"})).json()["items"][0]
    r = await api.client.patch(f"/api/v1/agents/{agent['id']}", headers=h, json={"skills": {"sales": 7, "support": 2}})
    assert r.status_code == 200 and r.json()["skills"] == {"sales": 7, "support": 2}
    q = (await api.client.get("/api/v1/queues", headers=h)).json()["items"][0]
    assert (await api.client.patch(f"/api/v1/queues/{q['id']}", headers=h, json={"max_size": 5})).status_code == 403
