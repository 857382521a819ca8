"""A trunk over TLS (RFC 3261 26.2): tongdai connects to the carrier's TLS port, checks its
certificate against `sip.tls_ca_file`, and the call and its BYE travel over that connection. The
carrier here is a second `tongdai run` listening for TLS on its own loopback address (the Debian SIPp
build has no TLS)."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.calls.sipp import free_udp_port, run, sipp_command
from tests.calls.test_inbound_queue import Admin
from tests.conftest import RunningTongdai, free_port, wait_until

pytestmark = pytest.mark.e2e
CARRIER = "127.0.0.3"


@pytest.fixture(scope="module")
def carrier_and_centre(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "carrier.pem", d / "carrier.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", f"/CN={CARRIER}", "-addext", f"subjectAltName=IP:{CARRIER}"],
                   check=True, capture_output=True, timeout=60)
    tls_port = free_port()
    (d / "carrier").mkdir()
    (d / "centre").mkdir()
    carrier = RunningTongdai(d / "carrier", "--set", f"sip.host={CARRIER}", "--set", f"sip.tls_port={tls_port}",
                             "--set", f"sip.tls_cert_file={cert}", "--set", f"sip.tls_key_file={key}")
    trunk = {"name": "carrier", "gateways": [f"{CARRIER}:{tls_port}"], "transport": "tls",
             "outbound_pattern": "^8[0-9]{4}$"}
    centre = RunningTongdai(d / "centre", "--set", f"sip.trunks={json.dumps([trunk])}", "--set", f"sip.tls_ca_file={cert}")
    (d / "untrusting").mkdir()
    untrusting = RunningTongdai(d / "untrusting", "--set", f"sip.trunks={json.dumps([trunk])}")  # system CAs only
    try:
        for t in (carrier, centre, untrusting):
            t.wait_ready()
        yield carrier, centre, untrusting
    finally:
        for t in (untrusting, centre, carrier):
            t.stop()


def test_given_tls_trunk_when_agent_dials_out_then_call_goes_over_tls_and_is_answered(carrier_and_centre, tmp_path):
    carrier, centre, _ = carrier_and_centre
    admin = Admin(carrier.base)  # the carrier's side answers 81000 with a queue (music), like a far-end number
    sales = next(q for q in admin.get("/api/v1/queues")["items"] if q["name"] == "sales")
    admin.post("/api/v1/numbers", {"e164": "81000", "queue_id": sales["id"]})
    rc, count, out = run(sipp_command("uac_call.xml", centre.sip_port, port=free_udp_port(), calls=1, service="81000",
                                      caller="1001", workdir=tmp_path), tmp_path)
    assert (rc, count) == (0, {"successful": 1, "failed": 0}), out

    def carrier_record() -> dict | None:
        items = admin.get("/api/v1/call-records", callee="81000")["items"]
        return items[0] if items else None

    # the trunk's only gateway is the carrier's TLS port (nothing else listens there), so the call, its
    # ACK and its BYE reached the carrier over TLS, and its record closes when the BYE arrives
    assert wait_until(lambda: carrier_record() is not None, timeout=10)
    assert carrier_record()["kind"] == "inbound"
    centre_admin = Admin(centre.base)
    assert centre_admin.get("/api/v1/call-records", callee="81000")["items"][0]["disposition"] == "answered"


def test_given_carrier_certificate_not_trusted_then_no_call_leaves(carrier_and_centre, tmp_path):
    carrier, _, untrusting = carrier_and_centre
    rc, count, out = run(sipp_command("uac_call.xml", untrusting.sip_port, port=free_udp_port(), calls=1,
                                      service="82000", caller="1001", workdir=tmp_path), tmp_path)
    assert count["failed"] == 1, out  # the handshake fails: the caller gets an error, not a call
    assert Admin(carrier.base).get("/api/v1/call-records", callee="82000")["total"] == 0
    assert "could not reach" in (untrusting.workdir / "tongdai.log").read_text()
