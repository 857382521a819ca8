"""For every route of the API, generated from the route table: no token -> 401, a role the route does not
admit -> 403, another tenant's object -> 404."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute

from tongdai import demo
from tongdai.api.app import api_routes
from tongdai.api.deps import Allow, principal
from tongdai.iam.roles import Role
from tongdai.iam.security import Principal

PUBLIC = {("POST", "/api/v1/auth/token")}


def _allowed_roles(route) -> frozenset[str] | None:
    """The roles the route admits: from its Allow dependency; all roles when it only needs a caller."""
    stack = list(route.dependant.dependencies)
    needs_caller = False
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, Allow):
            return frozenset(dep.call.roles)
        if dep.call is principal:
            needs_caller = True
        stack.extend(dep.dependencies)
    return frozenset(Role) if needs_caller else None


class _Route:
    def __init__(self, path: str, route: APIRoute) -> None:
        self.path, self.dependant = path, route.dependant


def _routes(app):
    for method, path, route in api_routes(app):
        if path.startswith("/api/v1"):
            yield method, _Route(path, route)


def _fill(path: str, value: str) -> str:
    return re.sub(r"\{[^}]+\}", value, path)


async def test_every_api_route_declares_its_roles(sqlite_api):
    missing = [f"{m} {r.path}" for m, r in _routes(sqlite_api.app.http)
               if (m, r.path) not in PUBLIC and _allowed_roles(r) is None]
    assert missing == []


async def test_given_no_token_then_every_protected_route_answers_401(sqlite_api):
    api = sqlite_api
    checked = 0
    for method, route in _routes(api.app.http):
        if (method, route.path) in PUBLIC:
            continue
        r = await api.client.request(method, _fill(route.path, "0" * 32), json={})
        assert r.status_code == 401, (method, route.path, r.text)
        assert r.json()["error_id"] == "unauthenticated"
        checked += 1
    assert checked >= 40


async def test_given_wrong_role_then_every_route_answers_403(sqlite_api):
    api = sqlite_api
    tid = await api.tenant_id("demo")
    checked = 0
    for method, route in _routes(api.app.http):
        allowed = _allowed_roles(route)
        if allowed is None:
            continue
        for role in set(Role) - allowed:
            p = Principal("someone", role.value, None if role == Role.PROVIDER_ADMIN else tid, "x@demo.example")
            h = {"Authorization": f"Bearer {api.app.tokens.issue(p)}", "X-Tenant-Id": tid}
            r = await api.client.request(method, _fill(route.path, "0" * 32), json={}, headers=h)
            assert r.status_code == 403, (method, route.path, role, r.status_code, r.text)
            assert r.json()["error_id"] == "forbidden"
            checked += 1
    assert checked >= 100


async def _ids_of_other_tenant(api) -> dict[str, str]:
    """Create a second tenant with one row of every kind; returns path-prefix -> id."""
    from datetime import datetime

    from tongdai.callbacks.models import ScheduledCallback
    from tongdai.calls.models import CallRecord
    from tongdai.crm.models import Case, Customer, Interaction
    from tongdai.directory import models as m
    from tongdai.iam import service
    from tongdai.iam.models import ApiKey
    from tongdai.ivr.models import CallFlowVersion

    async with api.app.db.session() as s:
        t = await service.create_tenant(s, slug="other", name="Other Co")
        user = await service.create_user(s, tenant_id=t.id, email="boss@other.example", name="Boss",
                                         role=Role.TENANT_ADMIN, password="password123")
        rows = {
            "/api/v1/sites": m.Site(tenant_id=t.id, name="S"),
            "/api/v1/teams": m.Team(tenant_id=t.id, name="T"),
            "/api/v1/skills": m.Skill(tenant_id=t.id, name="k"),
            "/api/v1/agents": m.Agent(tenant_id=t.id, name="A", extension="2001"),
            "/api/v1/queues": m.Queue(tenant_id=t.id, name="q"),
            "/api/v1/numbers": m.Number(tenant_id=t.id, e164="+84901234567"),
            "/api/v1/calendars": m.Calendar(tenant_id=t.id, name="c"),
            "/api/v1/reason-codes": m.ReasonCode(tenant_id=t.id, kind="wrap_up", code="x", label="X"),
            "/api/v1/api-keys": ApiKey(tenant_id=t.id, name="k", role="agent", prefix="abcdefabcdef", key_hash="0"),
            "/api/v1/call-flows": CallFlowVersion(tenant_id=t.id, name="f", version=1, document={}),
            "/api/v1/call-records": CallRecord(tenant_id=t.id, call_id="other-call", kind="internal", caller="2001",
                                               callee="2002", started_at=datetime(2026, 1, 1),
                                               ended_at=datetime(2026, 1, 1), disposition="answered"),
        }
        s.add_all(rows.values())
        await s.flush()
        customer = Customer(tenant_id=t.id, name="C")
        s.add(customer)
        await s.flush()
        crm_rows = {"/api/v1/customers": customer, "/api/v1/cases": Case(tenant_id=t.id, subject="c", customer_id=customer.id),
                    "/api/v1/interactions": Interaction(tenant_id=t.id, customer_id=customer.id, notes="n"),
                    "/api/v1/callbacks": ScheduledCallback(tenant_id=t.id, number="+84901234567", queue="q",
                                                           due_at=datetime(2026, 1, 1))}
        s.add_all(crm_rows.values())
        await s.flush()
        rows |= crm_rows
        ids = {k: v.id for k, v in rows.items()}
        ids["/api/v1/users"] = user.id
        ids["/api/v1/tenants"] = t.id
        ids["/api/v1/calls"] = "other-call"  # no call of this id is in progress in the caller's tenant
    return ids


async def test_given_other_tenants_object_then_every_route_with_an_id_answers_404(api):
    ids = await _ids_of_other_tenant(api)
    h = await api.headers(demo.ADMIN_LOGIN)
    checked = 0
    for method, route in _routes(api.app.http):
        if "{" not in route.path:
            continue
        allowed = _allowed_roles(route) or frozenset()
        if Role.TENANT_ADMIN not in allowed:
            continue  # provider-only routes: a tenant admin is refused before any lookup (403, tested above)
        prefix = route.path.split("/{")[0]
        assert prefix in ids, f"no fixture row for {route.path}"
        r = await api.client.request(method, _fill(route.path, ids[prefix]), json={}, headers=h)
        assert r.status_code == 404, (method, route.path, r.status_code, r.text)
        assert r.json()["error_id"] == "not_found"
        checked += 1
    assert checked >= 29
