"""Per-source rate limits and bans: the pure guard with `now` by hand, and a ban on real sockets."""

from __future__ import annotations

import asyncio
import socket

from tests.conftest import free_port
from tests.sip.torture_udp import exchange
from tongdai.sip.digest import answer
from tongdai.sip.guard import SourceGuard
from tongdai.sip.service import Account, SipService
from tongdai.sip.settings import SipSettings


def test_given_burst_then_excess_dropped_and_tokens_refill_over_time():
    g = SourceGuard(rate=10, burst=5)
    assert [g.allow("198.51.100.7", 0.0) for _ in range(7)] == [True] * 5 + [False] * 2
    assert g.allow("198.51.100.7", 0.1)  # one token back after 100 ms
    assert g.allow("203.0.113.9", 0.1)  # other sources are unaffected


def test_given_repeated_auth_failures_then_banned_until_ban_ends():
    g = SourceGuard(max_failures=3, window=60, ban_seconds=600)
    assert not g.auth_failed("198.51.100.7", 0.0)
    assert not g.auth_failed("198.51.100.7", 1.0)
    assert g.auth_failed("198.51.100.7", 2.0)
    assert not g.allow("198.51.100.7", 3.0) and g.banned("198.51.100.7", 3.0)
    assert g.allow("198.51.100.7", 603.0)


def test_given_failures_spread_beyond_window_then_no_ban():
    g = SourceGuard(max_failures=3, window=10)
    for t in (0.0, 20.0, 40.0, 60.0):
        assert not g.auth_failed("198.51.100.7", t)


def test_given_trusted_address_then_never_limited():
    g = SourceGuard(rate=1, burst=1, max_failures=1, exempt=frozenset({"192.0.2.1"}))
    assert all(g.allow("192.0.2.1", 0.0) for _ in range(100))
    assert not g.auth_failed("192.0.2.1", 0.0)


def _register(port: int, n: int, auth: str | None = None) -> bytes:
    a = f"Authorization: {auth}\r\n" if auth else ""
    return (f"REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-reg-{n};rport\r\n"
            f"To: <sip:1001@127.0.0.1>\r\nFrom: <sip:1001@127.0.0.1>;tag=r{n}\r\nCall-ID: reg-{n}\r\nCSeq: {n} REGISTER\r\n"
            f"Contact: <sip:1001@127.0.0.1:{port}>\r\n{a}Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()


async def test_given_ten_wrong_passwords_then_source_banned_even_with_right_password():
    port = free_port(socket.SOCK_DGRAM)
    svc = SipService(SipSettings(udp_port=port, tcp_port=port, ban_after_failures=10))
    svc.credentials.accounts = {"1001": [Account("t", "demo", "1001", "right-password")]}
    await svc.start()

    def run() -> None:
        target = ("127.0.0.1", port)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            me = sock.getsockname()[1]
            for n in range(1, 11):
                sock.sendto(_register(me, n), target)
                reply = sock.recvfrom(65535)[0].decode()
                challenge = next(line.split(":", 1)[1].strip() for line in reply.split("\r\n")
                                 if line.lower().startswith("www-authenticate"))
                creds = answer(challenge, method="REGISTER", uri="sip:127.0.0.1", username="1001", password="wrong")
                assert exchange(sock, target, _register(me, 100 + n, creds), 2.0) == [401]
            assert exchange(sock, target, _register(me, 999), 1.0) == []  # banned: silence

    try:
        await asyncio.to_thread(run)
        assert svc.stack.stats["guarded"] >= 1
    finally:
        await svc.stop()


async def test_given_right_password_then_registered_and_device_event_published_then_unregistered():
    from tongdai.core.events import EventBus
    from tongdai.sip.events import AgentDeviceRegistered, AgentDeviceUnregistered

    bus = EventBus()
    seen: list[object] = []
    bus.subscribe(AgentDeviceRegistered, seen.append)
    bus.subscribe(AgentDeviceUnregistered, seen.append)
    port = free_port(socket.SOCK_DGRAM)
    svc = SipService(SipSettings(udp_port=port, tcp_port=port), bus=bus)
    svc.credentials.accounts = {"1001": [Account("tenant-1", "demo", "1001", "right-password")]}
    await svc.start()

    def run() -> None:
        target = ("127.0.0.1", port)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            me = sock.getsockname()[1]
            for n, expires in ((1, None), (3, "0")):
                sock.sendto(_register(me, n), target)
                reply = sock.recvfrom(65535)[0].decode()
                challenge = next(line.split(":", 1)[1].strip() for line in reply.split("\r\n")
                                 if line.lower().startswith("www-authenticate"))
                creds = answer(challenge, method="REGISTER", uri="sip:127.0.0.1", username="1001", password="right-password")
                msg = _register(me, n + 1, creds)
                if expires is not None:
                    msg = msg.replace(b"Max-Forwards", b"Expires: 0\r\nMax-Forwards")
                assert exchange(sock, target, msg, 2.0) == [200]

    try:
        await asyncio.to_thread(run)
        await asyncio.sleep(0.1)
        assert [type(e).__name__ for e in seen] == ["AgentDeviceRegistered", "AgentDeviceUnregistered"]
        assert all(e.tenant_id == "tenant-1" and e.extension == "1001" for e in seen)  # type: ignore[attr-defined]
    finally:
        await svc.stop()


def _invite_to(port: int, dest: str, n: int, auth: str | None = None) -> bytes:
    a = f"Proxy-Authorization: {auth}\r\n" if auth else ""
    return (f"INVITE sip:{dest}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-inv-{n};rport\r\n"
            f"To: <sip:{dest}@127.0.0.1>\r\nFrom: <sip:1001@127.0.0.1>;tag=i{n}\r\nCall-ID: inv-{n}\r\nCSeq: 1 INVITE\r\n"
            f"Contact: <sip:1001@127.0.0.1:{port}>\r\n{a}Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()


async def test_given_call_to_outside_number_then_caller_must_authenticate_but_public_numbers_are_open():
    port = free_port(socket.SOCK_DGRAM)
    svc = SipService(SipSettings(udp_port=port, tcp_port=port))
    svc.credentials.accounts = {"1001": [Account("t", "demo", "1001", "right-password")]}
    svc.core.public_numbers = {"1000"}
    await svc.start()

    def run() -> None:
        target = ("127.0.0.1", port)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            me = sock.getsockname()[1]
            assert exchange(sock, target, _invite_to(me, "1000", 1), 2.0) == [404]  # public: no challenge
            sock.sendto(_invite_to(me, "0912345678", 2), target)
            sock.settimeout(2.0)
            challenge_reply = sock.recvfrom(65535)[0].decode()  # answered at once: no 100 Trying first
            assert challenge_reply.startswith("SIP/2.0 407"), challenge_reply[:40]
            challenge = next(line.split(":", 1)[1].strip() for line in challenge_reply.split("\r\n")
                             if line.lower().startswith("proxy-authenticate"))
            wrong = answer(challenge, method="INVITE", uri="sip:0912345678@127.0.0.1", username="1001", password="guess")
            assert exchange(sock, target, _invite_to(me, "0912345678", 3, wrong), 2.0) == [407]
            right = answer(challenge, method="INVITE", uri="sip:0912345678@127.0.0.1", username="1001",
                           password="right-password")
            # authenticated: past the toll-fraud rule (nothing routes outside yet, hence 404)
            assert exchange(sock, target, _invite_to(me, "0912345678", 4, right), 2.0) == [404]

    try:
        await asyncio.to_thread(run)
    finally:
        await svc.stop()
