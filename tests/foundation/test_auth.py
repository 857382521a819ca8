"""Log-in, tokens, API keys, lock-out and the audit trail, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select

from tongdai import demo
from tongdai.iam.models import AuditEntry


async def test_given_demo_admin_when_logging_in_then_token_identifies_tenant_admin(api):
    h = await api.headers(demo.ADMIN_LOGIN)
    r = await api.client.get("/api/v1/auth/me", headers=h)
    assert r.status_code == 200
    me = r.json()
    assert me["role"] == "tenant_admin"
    assert me["tenant_id"] == await api.tenant_id("demo")
    assert me["email"] == demo.ADMIN_LOGIN[0]


async def test_given_wrong_password_then_401_bad_credentials_and_failure_audited(api):
    r = await api.client.post("/api/v1/auth/token", data={"username": demo.ADMIN_LOGIN[0], "password": "nope-nope"})
    assert r.status_code == 401
    assert r.json()["error_id"] == "bad_credentials"
    async with api.app.db.session() as s:
        actions = [a.action for a in (await s.execute(select(AuditEntry))).scalars()]
    assert "auth.login_failed" in actions


async def test_given_unknown_user_then_same_error_as_wrong_password(api):
    r = await api.client.post("/api/v1/auth/token", data={"username": "ghost@nowhere.example", "password": "whatever1"})
    assert r.status_code == 401
    assert r.json()["error_id"] == "bad_credentials"


async def test_given_repeated_failures_then_account_locks_even_for_right_password(sqlite_api):
    api = sqlite_api
    limit = api.app.settings.security.login_max_failures
    for _ in range(limit):
        r = await api.client.post("/api/v1/auth/token", data={"username": demo.SUPERVISOR_LOGIN[0], "password": "bad-guess"})
        assert r.status_code == 401
    r = await api.client.post("/api/v1/auth/token", data={"username": demo.SUPERVISOR_LOGIN[0], "password": demo.SUPERVISOR_LOGIN[1]})
    assert r.status_code == 401
    assert r.json()["error_id"] == "account_locked"


async def test_given_login_then_success_audited_with_tenant(sqlite_api):
    api = sqlite_api
    h = await api.headers(demo.ADMIN_LOGIN)
    r = await api.client.get("/api/v1/audit", headers=h, params={"action": "auth.login"})
    assert r.status_code == 200
    assert r.json()["total"] >= 1
    assert r.json()["items"][0]["actor"] == demo.ADMIN_LOGIN[0]


async def test_given_garbage_or_tampered_token_then_401(sqlite_api):
    api = sqlite_api
    r = await api.client.get("/api/v1/auth/me", headers={"Authorization": "Bearer not.a.token"})
    assert r.status_code == 401 and r.json()["error_id"] == "invalid_token"
    good = await api.token(*demo.ADMIN_LOGIN)
    head, body, sig = good.split(".")
    r = await api.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {head}.{body}.{sig[::-1]}"})
    assert r.status_code == 401


async def test_given_expired_token_then_401_token_expired(sqlite_api):
    api = sqlite_api
    from tongdai.iam.security import Principal

    old = api.app.tokens.issue(Principal("u", "tenant_admin", "t"), now=1_000_000.0)
    r = await api.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {old}"})
    assert r.status_code == 401 and r.json()["error_id"] == "token_expired"


async def test_given_api_key_then_it_authenticates_with_its_role_until_revoked(api):
    h = await api.headers(demo.ADMIN_LOGIN)
    r = await api.client.post("/api/v1/api-keys", headers=h, json={"name": "crm sync", "role": "reporting_viewer"})
    assert r.status_code == 201, r.text
    key, key_id = r.json()["key"], r.json()["id"]
    r = await api.client.get("/api/v1/queues", headers={"X-API-Key": key})
    assert r.status_code == 200 and r.json()["total"] == 2
    r = await api.client.post("/api/v1/queues", headers={"X-API-Key": key}, json={"name": "vip"})
    assert r.status_code == 403
    assert (await api.client.delete(f"/api/v1/api-keys/{key_id}", headers=h)).status_code == 204
    r = await api.client.get("/api/v1/queues", headers={"X-API-Key": key})
    assert r.status_code == 401 and r.json()["error_id"] == "invalid_api_key"


async def test_given_tenant_admin_when_granting_provider_admin_then_refused(sqlite_api):
    api = sqlite_api
    h = await api.headers(demo.ADMIN_LOGIN)
    r = await api.client.post("/api/v1/users", headers=h, json={
        "email": "evil@demo.example", "name": "x", "role": "provider_admin", "password": "password123"})
    assert r.status_code == 403 and r.json()["error_id"] == "role_not_grantable"


async def test_given_role_change_then_audited_with_before_and_after(sqlite_api):
    api = sqlite_api
    h = await api.headers(demo.ADMIN_LOGIN)
    r = await api.client.post("/api/v1/users", headers=h, json={
        "email": "qa@demo.example", "name": "QA", "role": "agent", "password": "password123"})
    uid = r.json()["id"]
    r = await api.client.patch(f"/api/v1/users/{uid}", headers=h, json={"role": "quality_analyst"})
    assert r.status_code == 200 and r.json()["role"] == "quality_analyst"
    r = await api.client.get("/api/v1/audit", headers=h, params={"action": "user.role_changed"})
    entry = r.json()["items"][0]
    assert entry["target_id"] == uid
    assert entry["details"] == {"from": "agent", "to": "quality_analyst"}
    assert (await api.client.post("/api/v1/auth/token", data={"username": "qa@demo.example", "password": "password123"})).status_code == 200


async def test_given_export_then_csv_returned_and_audited(sqlite_api):
    api = sqlite_api
    h = await api.headers(demo.ADMIN_LOGIN)
    r = await api.client.get("/api/v1/agents/export.csv", headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = r.text.strip().splitlines()
    assert len(lines) == 1 + len(demo.AGENTS)
    assert "sip_password" not in lines[0]
    r = await api.client.get("/api/v1/audit", headers=h, params={"action": "data.export"})
    assert r.json()["items"][0]["target_type"] == "agents"
