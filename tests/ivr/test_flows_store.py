"""Stored call flows through the API on SQLite and PostgreSQL: the demo's active flow, uploads refused
with errors at their node, versions, one active version per name, roles."""

from __future__ import annotations

from sqlalchemy import select

from tongdai import demo
from tongdai.ivr.models import CallFlowVersion
from tongdai.ivr.validate import FLOWS

DEMO_YAML = (FLOWS / "demo.yaml").read_text()


async def test_demo_main_number_flow_is_stored_active_and_supervisors_read_it(api):
    sup = await api.headers(demo.SUPERVISOR_LOGIN)
    page = (await api.client.get("/api/v1/call-flows", headers=sup, params={"name": "demo"})).json()
    assert [(f["version"], f["status"]) for f in page["items"]] == [(1, "active")]
    one = (await api.client.get(f"/api/v1/call-flows/{page['items'][0]['id']}", headers=sup)).json()
    assert one["document"]["entry"] == "hours" and one["document"]["nodes"]["menu"]["choices"]["1"] == "sales"
    agent = await api.headers(("lan@demo.example", demo.AGENT_PASSWORD))
    assert (await api.client.get("/api/v1/call-flows", headers=agent)).status_code == 403
    r = await api.client.post("/api/v1/call-flows", headers=sup, json={"document": DEMO_YAML})
    assert r.status_code == 403  # supervisors read, admins manage


async def test_invalid_upload_is_422_with_errors_at_node_and_nothing_stored(api):
    h = await api.headers(demo.ADMIN_LOGIN)
    bad = DEMO_YAML.replace('"1": sales', '"1": salse')
    r = await api.client.post("/api/v1/call-flows", headers=h, json={"document": bad})
    assert r.status_code == 422 and r.json()["error_id"] == "flow_invalid"
    assert r.json()["details"]["problems"] == ["nodes.menu.choices.1: unknown target 'salse'"]
    r = await api.client.post("/api/v1/call-flows/validate", headers=h, json={"document": bad})
    assert r.json() == {"valid": False, "problems": ["nodes.menu.choices.1: unknown target 'salse'"], "warnings": []}
    r = await api.client.post("/api/v1/call-flows/validate", headers=h, json={"document": DEMO_YAML})
    assert r.json() == {"valid": True, "problems": [], "warnings": []}
    assert (await api.client.get("/api/v1/call-flows", headers=h)).json()["total"] == 1


async def test_new_version_activated_archives_the_previous_one_active_version_unique(api):
    h = await api.headers(demo.ADMIN_LOGIN)
    changed = DEMO_YAML.replace('"1": sales, "2": support', '"1": support, "2": sales')
    r = await api.client.post("/api/v1/call-flows", headers=h, json={"document": changed})
    assert r.status_code == 201, r.text
    v2 = r.json()
    assert (v2["name"], v2["version"], v2["status"]) == ("demo", 2, "draft")
    assert (await api.client.post(f"/api/v1/call-flows/{v2['id']}/activate", headers=h)).json()["status"] == "active"
    states = {f["version"]: f["status"] for f in
              (await api.client.get("/api/v1/call-flows", headers=h, params={"name": "demo"})).json()["items"]}
    assert states == {1: "archived", 2: "active"}
    async with api.app.db.session() as s:
        active = (await s.execute(select(CallFlowVersion).where(CallFlowVersion.name == "demo",
                                                                CallFlowVersion.status == "active"))).scalars().all()
    assert [row.version for row in active] == [2]
    assert (await api.client.post(f"/api/v1/call-flows/{v2['id']}/archive", headers=h)).json()["status"] == "archived"


async def test_json_document_upload_is_stored_like_yaml(api):
    h = await api.headers(demo.ADMIN_LOGIN)
    document = {"name": "night", "entry": "bye", "languages": ["vi"], "nodes": {"bye": {"type": "hangup"}}}
    r = await api.client.post("/api/v1/call-flows", headers=h, json={"document": document})
    assert r.status_code == 201 and r.json()["version"] == 1 and r.json()["document"]["nodes"] == {
        "bye": {"type": "hangup"}}
