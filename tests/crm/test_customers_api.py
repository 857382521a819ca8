"""Customers over the REST API: create with phones read in the tenant's country, search, contact points,
tenant isolation, roles; cases with status changes and comments; the screen pop's look-up."""

from __future__ import annotations

from tongdai import demo
from tongdai.iam import service as iam
from tongdai.iam.roles import Role

AGENT_LOGIN = ("lan@demo.example", demo.AGENT_PASSWORD)


async def _admin(api):
    return await api.headers(demo.ADMIN_LOGIN)


async def _create(api, h, **body):
    r = await api.client.post("/api/v1/customers", headers=h, json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def test_given_local_numbers_when_customer_created_then_phones_stored_in_e164(sqlite_api):
    api = sqlite_api
    h = await _admin(api)
    c = await _create(api, h, name="Đỗ Thu Hà", vip_tier="silver", language="vi", phones=["0901 234 567"],
                      emails=["Ha.Do@Example.VN"])
    points = {(cp["kind"], cp["value"]) for cp in c["contact_points"]}
    assert points == {("phone", "+84901234567"), ("email", "ha.do@example.vn")}
    got = (await api.client.get(f"/api/v1/customers/{c['id']}", headers=h)).json()
    assert got["name"] == "Đỗ Thu Hà" and got["vip_tier"] == "silver"


async def test_given_bad_phone_then_422_invalid_phone_and_nothing_created(sqlite_api):
    api = sqlite_api
    h = await _admin(api)
    r = await api.client.post("/api/v1/customers", headers=h, json={"name": "X", "phones": ["12"]})
    assert r.status_code == 422 and r.json()["error_id"] == "invalid_phone"
    found = (await api.client.get("/api/v1/customers", headers=h, params={"name": "X"})).json()
    assert found["total"] == 0


async def test_given_number_of_another_customer_then_409_duplicate(sqlite_api):
    api = sqlite_api
    h = await _admin(api)
    r = await api.client.post("/api/v1/customers", headers=h, json={"name": "Copycat", "phones": ["+84918000888"]})
    assert r.status_code == 409 and r.json()["error_id"] == "duplicate"


async def test_given_search_by_name_phone_email_and_q_then_the_right_customer(api):
    h = await _admin(api)
    await _create(api, h, name="Hoàng Văn Nam", phones=["0987654321"], emails=["nam@shop.example"])

    async def names(**params):
        r = await api.client.get("/api/v1/customers", headers=h, params=params)
        assert r.status_code == 200, r.text
        return [c["name"] for c in r.json()["items"]]

    assert await names(name="văn nam") == ["Hoàng Văn Nam"]
    assert await names(phone="0987654321") == ["Hoàng Văn Nam"]
    assert await names(phone="+84987654321") == ["Hoàng Văn Nam"]
    assert await names(phone="7654") == ["Hoàng Văn Nam"]  # a fragment of digits
    assert await names(email="nam@shop") == ["Hoàng Văn Nam"]
    assert await names(q="0918000888") == ["Phạm Minh Tuấn"]
    assert await names(q="DEMO-003") == ["John Carter"]
    assert await names(vip_tier="platinum") == ["Li Wei"]


async def test_given_contact_points_then_add_list_delete(sqlite_api):
    api = sqlite_api
    h = await _admin(api)
    c = await _create(api, h, name="Vũ Hải")
    base = f"/api/v1/customers/{c['id']}/contact-points"
    r = await api.client.post(base, headers=h, json={"kind": "phone", "value": "024 3825 1234", "label": "work"})
    assert r.status_code == 201 and r.json()["value"] == "+842438251234"
    listed = (await api.client.get(base, headers=h)).json()
    assert [cp["value"] for cp in listed] == ["+842438251234"]
    assert (await api.client.delete(f"{base}/{listed[0]['id']}", headers=h)).status_code == 204
    assert (await api.client.get(base, headers=h)).json() == []


async def test_given_customer_patch_then_fields_change_and_delete_answers_404_after(sqlite_api):
    api = sqlite_api
    h = await _admin(api)
    c = await _create(api, h, name="Trịnh Lan", external_id="X-1")
    r = await api.client.patch(f"/api/v1/customers/{c['id']}", headers=h, json={"vip_tier": "gold", "language": "en"})
    assert r.status_code == 200 and (r.json()["vip_tier"], r.json()["language"], r.json()["name"]) == ("gold", "en", "Trịnh Lan")
    r = await api.client.patch(f"/api/v1/customers/{c['id']}", headers=h, json={"external_id": "DEMO-001"})
    assert r.status_code == 409
    assert (await api.client.delete(f"/api/v1/customers/{c['id']}", headers=h)).status_code == 204
    assert (await api.client.get(f"/api/v1/customers/{c['id']}", headers=h)).status_code == 404


async def test_given_another_tenants_customer_then_404_and_not_in_search(api):
    async with api.app.db.session() as s:
        other = await iam.create_tenant(s, slug="other", name="Other Co")
        await iam.create_user(s, tenant_id=other.id, email="boss@other.example", name="Boss", role=Role.TENANT_ADMIN,
                              password="password-other-1")
    theirs = await api.headers(("boss@other.example", "password-other-1"))
    c = await _create(api, theirs, name="Their customer", phones=["0918000888"])  # the same number, another tenant
    ours = await _admin(api)
    for method, path in [("GET", f"/api/v1/customers/{c['id']}"), ("PATCH", f"/api/v1/customers/{c['id']}"),
                         ("GET", f"/api/v1/customers/{c['id']}/timeline"), ("DELETE", f"/api/v1/customers/{c['id']}")]:
        r = await api.client.request(method, path, headers=ours, json={})
        assert r.status_code == 404, (method, path, r.text)
    found = (await api.client.get("/api/v1/customers", headers=ours, params={"q": "Their"})).json()
    assert found["total"] == 0
    pop = (await api.client.get("/api/v1/customers/lookup", headers=ours, params={"phone": "0918000888"})).json()
    assert pop["customer"]["name"] == "Phạm Minh Tuấn"
    pop = (await api.client.get("/api/v1/customers/lookup", headers=theirs, params={"phone": "0918000888"})).json()
    assert pop["customer"]["name"] == "Their customer" and pop["open_cases"] == []


async def test_given_agent_then_may_create_customer_and_case_but_not_delete_or_import(sqlite_api):
    api = sqlite_api
    h = await api.headers(AGENT_LOGIN)
    c = await _create(api, h, name="Walk-in")
    r = await api.client.post("/api/v1/cases", headers=h, json={"customer_id": c["id"], "subject": "Question"})
    assert r.status_code == 201
    assert (await api.client.delete(f"/api/v1/customers/{c['id']}", headers=h)).status_code == 403
    r = await api.client.post("/api/v1/customers/import", headers=h | {"content-type": "text/csv"}, content=b"name\nA\n")
    assert r.status_code == 403


async def test_given_case_status_changes_then_each_is_a_comment_and_solved_at_is_set(api):
    h = await _admin(api)
    c = await _create(api, h, name="Bùi Mai")
    r = await api.client.post("/api/v1/cases", headers=h, json={"customer_id": c["id"], "subject": "Refund", "priority": "high"})
    case = r.json()
    assert (case["status"], case["priority"], case["solved_at"]) == ("open", "high", None)
    r = await api.client.patch(f"/api/v1/cases/{case['id']}", headers=h, json={"status": "pending", "comment": "waiting for bank"})
    assert r.status_code == 200 and r.json()["status"] == "pending"
    r = await api.client.post(f"/api/v1/cases/{case['id']}/comments", headers=h, json={"body": "called the bank"})
    assert r.status_code == 201
    r = await api.client.patch(f"/api/v1/cases/{case['id']}", headers=h, json={"status": "solved"})
    assert r.json()["solved_at"] is not None
    detail = (await api.client.get(f"/api/v1/cases/{case['id']}", headers=h)).json()
    assert [(x["status_change"], x["body"]) for x in detail["comments"]] == [
        ("open -> pending", "waiting for bank"), ("", "called the bank"), ("pending -> solved", "status pending -> solved")]
    listed = (await api.client.get("/api/v1/cases", headers=h, params={"customer_id": c["id"], "status": "solved"})).json()
    assert [x["id"] for x in listed["items"]] == [case["id"]]
    r = await api.client.patch(f"/api/v1/cases/{case['id']}", headers=h, json={"status": "closed"})
    assert r.status_code == 422


async def test_given_case_for_another_tenants_customer_then_422_invalid_reference(sqlite_api):
    api = sqlite_api
    async with api.app.db.session() as s:
        other = await iam.create_tenant(s, slug="other2", name="Other")
        from tongdai.crm.models import Customer

        theirs = Customer(tenant_id=other.id, name="Theirs")
        s.add(theirs)
        await s.flush()
        their_id = theirs.id
    h = await _admin(api)
    r = await api.client.post("/api/v1/cases", headers=h, json={"customer_id": their_id, "subject": "x"})
    assert r.status_code == 422 and r.json()["error_id"] == "invalid_reference"


async def test_given_demo_caller_then_lookup_shows_gold_vi_and_open_and_solved_cases(api):
    h = await api.headers(AGENT_LOGIN)
    r = await api.client.get("/api/v1/customers/lookup", headers=h, params={"phone": "0918000888"})
    assert r.status_code == 200, r.text
    pop = r.json()
    assert pop["phone"] == "+84918000888" and pop["source"] == "local"
    assert (pop["customer"]["name"], pop["vip_tier"], pop["language"]) == ("Phạm Minh Tuấn", "gold", "vi")
    assert [c["subject"] for c in pop["open_cases"]] == ["Internet drops every evening"]
    assert [c["subject"] for c in pop["solved_cases"]] == ["Change of billing address"]


async def test_given_unknown_number_then_lookup_answers_nobody(sqlite_api):
    api = sqlite_api
    h = await api.headers(AGENT_LOGIN)
    pop = (await api.client.get("/api/v1/customers/lookup", headers=h, params={"phone": "0977111222"})).json()
    assert (pop["phone"], pop["source"], pop["customer"], pop["vip_tier"]) == ("+84977111222", None, None, "")
    pop = (await api.client.get("/api/v1/customers/lookup", headers=h, params={"phone": "anonymous"})).json()
    assert (pop["phone"], pop["customer"]) == (None, None)


async def test_match_caller_gives_customer_vip_language_and_open_cases(api):
    from tongdai.crm.service import match_caller

    tid = await api.tenant_id("demo")
    m = await match_caller(api.app.db, tid, "+84918000888")
    assert m is not None and (m.name, m.vip_tier, m.language, m.open_cases) == ("Phạm Minh Tuấn", "gold", "vi", 1)
    assert await match_caller(api.app.db, tid, "+84977111222") is None
    assert await match_caller(api.app.db, "0" * 32, "+84918000888") is None
