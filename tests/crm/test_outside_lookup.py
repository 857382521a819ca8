"""The outside CRM asked by webhook, against a small HTTP server the test starts on 127.0.0.1: its record
joins the screen pop; when it fails or is slower than crm.lookup_timeout_s, the local match is answered
alone and in time."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from tests.foundation.conftest import make_api
from tongdai import demo
from tongdai.crm.lookup import to_external

RECORDS = {
    "+84918000888": {"customer": {"id": 9001, "name": "Pham Minh Tuan (ERP)", "vip": "Gold", "lang": "vi"}},
    "+84977111222": {"name": "Đặng Quốc Bảo", "vip_tier": "silver", "language": "en", "external_id": "ERP-77"},
}
SLOW = "+84966000111"
BROKEN = "+84966000222"


class _Crm(BaseHTTPRequestHandler):
    asked: list[dict[str, list[str]]] = []

    def do_GET(self) -> None:  # noqa: N802
        query = parse_qs(urlparse(self.path).query)
        self.asked.append(query)
        phone = query.get("phone", [""])[0]
        if phone == SLOW:
            time.sleep(3)
        if phone == BROKEN:
            self.send_response(500)
            self.end_headers()
            return
        record = RECORDS.get(phone)
        body = json.dumps(record).encode()
        self.send_response(200 if record else 404)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def outside_crm() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Crm)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/lookup"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
async def api(outside_crm: str, tmp_path: Path):
    a = await make_api(f"sqlite+aiosqlite:///{tmp_path / 't.db'}", tmp_path,
                       **{"crm.lookup_url": outside_crm, "crm.lookup_timeout_s": 0.5})
    try:
        yield a
    finally:
        await a.client.aclose()
        await a.app.stop()


async def _pop(api, phone: str) -> dict:
    h = await api.headers(demo.SUPERVISOR_LOGIN)
    r = await api.client.get("/api/v1/customers/lookup", headers=h, params={"phone": phone})
    assert r.status_code == 200, r.text
    return r.json()


async def test_given_number_only_the_outside_crm_knows_then_its_record_is_the_screen_pop(api):
    pop = await _pop(api, "0977 111 222")
    assert (pop["source"], pop["customer"]) == ("external", None)
    assert (pop["external"]["name"], pop["external"]["external_id"]) == ("Đặng Quốc Bảo", "ERP-77")
    assert (pop["vip_tier"], pop["language"]) == ("silver", "en")
    tid = await api.tenant_id("demo")
    assert {"phone": ["+84977111222"], "tenant": [tid]} in _Crm.asked


async def test_given_local_match_and_outside_record_then_local_customer_with_the_outside_one_beside(api):
    pop = await _pop(api, "0918000888")
    assert (pop["source"], pop["customer"]["name"], pop["vip_tier"]) == ("local", "Phạm Minh Tuấn", "gold")
    assert (pop["external"]["name"], pop["external"]["vip_tier"], pop["external"]["external_id"]) == (
        "Pham Minh Tuan (ERP)", "gold", "9001")


async def test_given_outside_crm_slower_than_timeout_then_local_answer_within_the_limit(api):
    h = await api.headers(demo.ADMIN_LOGIN)
    await api.client.post("/api/v1/customers", headers=h, json={"name": "Slow Line", "phones": [SLOW]})
    start = time.monotonic()
    pop = await _pop(api, SLOW)
    elapsed = time.monotonic() - start
    assert (pop["source"], pop["customer"]["name"], pop["external"]) == ("local", "Slow Line", None)
    assert elapsed < 2.5, elapsed  # the outside CRM sleeps 3 s; the limit is 0.5 s


async def test_given_outside_crm_failing_or_not_knowing_then_local_match_only(api):
    assert (await _pop(api, BROKEN))["source"] is None
    pop = await _pop(api, "0988 000 000")
    assert (pop["source"], pop["customer"], pop["external"]) == (None, None, None)


def test_outside_answers_are_mapped_to_customer_like_records():
    assert to_external([{"full_name": "A", "tier": "VIP"}]).vip_tier == "vip"
    assert to_external({"customer": {"name": "B", "id": 5}}).external_id == "5"
    assert to_external({"nobody": True}) is None
    assert to_external([]) is None
    assert to_external("text") is None
