"""Bad JSON, wrong types, oversized bodies, unknown routes: each a clear 4xx with a stable error_id."""

from __future__ import annotations

from tongdai import demo


async def test_given_malformed_json_then_400_invalid_json(sqlite_api):
    api = sqlite_api
    h = await api.headers(demo.ADMIN_LOGIN)
    r = await api.client.post("/api/v1/skills", headers={**h, "Content-Type": "application/json"}, content=b'{"name": "x",')
    assert r.status_code == 400
    assert r.json()["error_id"] == "invalid_json"


async def test_given_wrong_types_then_422_with_location(sqlite_api):
    api = sqlite_api
    h = await api.headers(demo.ADMIN_LOGIN)
    r = await api.client.post("/api/v1/queues", headers=h, json={"name": "q", "max_size": "lots"})
    assert r.status_code == 422
    body = r.json()
    assert body["error_id"] == "invalid_input"
    assert body["details"][0]["loc"] == ["body", "max_size"]
    r = await api.client.post("/api/v1/queues", headers=h, json=["not", "an", "object"])
    assert r.status_code == 422


async def test_given_unknown_field_then_422_extra_forbidden(sqlite_api):
    api = sqlite_api
    h = await api.headers(demo.ADMIN_LOGIN)
    r = await api.client.post("/api/v1/skills", headers=h, json={"name": "x", "colour": "red"})
    assert r.status_code == 422 and r.json()["details"][0]["type"] == "extra_forbidden"


async def test_given_oversized_body_then_413_and_nothing_stored(sqlite_api):
    api = sqlite_api
    h = await api.headers(demo.ADMIN_LOGIN)
    limit = api.app.settings.http.max_body_bytes
    big = {"name": "big", "description": "x" * (limit + 10)}
    r = await api.client.post("/api/v1/skills", headers=h, json=big)
    assert r.status_code == 413 and r.json()["error_id"] == "body_too_large"

    async def chunks():
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536

    r = await api.client.post("/api/v1/skills", headers={**h, "Content-Type": "application/json"}, content=chunks())
    assert r.status_code == 413
    r = await api.client.get("/api/v1/skills", headers=h, params={"name": "big"})
    assert r.json()["total"] == 0


async def test_given_unknown_route_or_method_then_error_body(sqlite_api):
    api = sqlite_api
    r = await api.client.get("/api/v1/no-such-thing")
    assert r.status_code == 404 and r.json()["error_id"] == "not_found"
    r = await api.client.put("/healthz")
    assert r.status_code == 405 and r.json()["error_id"] == "method_not_allowed"
