"""Send the torture messages over UDP to a running SIP endpoint and read what comes back."""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

from tests.sip.test_torture import verdicts

VIA_RE = re.compile(rb"(?im)^((?:via|v)\s*:\s*SIP\s*/\s*\d+\.\d+\s*/\s*[A-Za-z]+\s+)([^;,\s]+)")
STATUS_RE = re.compile(rb"^SIP/2\.0 (\d{3})")


def rewrite_top_via(data: bytes, port: int) -> tuple[bytes, bool]:
    """Point only the top Via's sent-by at our own loopback socket, so every answer stays here."""
    new, n = VIA_RE.subn(lambda m: m.group(1) + f"127.0.0.1:{port}".encode(), data, count=1)
    return new, bool(n)


CALL_ID_RE = re.compile(rb"(?im)^(?:call-id|i)[ \t]*:[ \t]*(\S+)")


def exchange(sock: socket.socket, target: tuple[str, int], data: bytes, wait: float) -> list[int]:
    """Send one datagram; the status code of the first final answer with its Call-ID within `wait` s."""
    m = CALL_ID_RE.search(data)
    call_id = m.group(1) if m else None
    sock.sendto(data, target)
    codes: list[int] = []
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            reply, _ = sock.recvfrom(65535)
        except TimeoutError:
            break
        m = STATUS_RE.match(reply)
        got = CALL_ID_RE.search(reply)
        if call_id is not None and (got is None or got.group(1) != call_id):
            continue  # a late answer (or a retransmission) for an earlier message
        if m and int(m.group(1)) >= 200:
            codes.append(int(m.group(1)))
            break
    return codes


def options_answered(sock: socket.socket, target: tuple[str, int]) -> bool:
    port = sock.getsockname()[1]
    msg = (f"OPTIONS sip:{target[0]}:{target[1]} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-alive-{time.time_ns()}\r\n"
           f"To: <sip:{target[0]}>\r\nFrom: <sip:probe@127.0.0.1>;tag=probe\r\nCall-ID: alive-{time.time_ns()}\r\n"
           "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()
    return exchange(sock, target, msg, 3.0) == [200]


def run_corpus(target: tuple[str, int]) -> list[str]:
    """Every message of the corpus; returns the list of mismatches (empty when all are as expected)."""
    problems: list[str] = []
    for name, path, expected in verdicts():
        # a socket of its own per message: many messages share a branch, and a new sent-by keeps
        # each one a new transaction (RFC 3261 17.2.3)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        try:
            data, rewritten = rewrite_top_via(Path(path).read_bytes(), port)
            is_response = data.lstrip().startswith(b"SIP/")
            if not rewritten and not is_response:
                problems.append(f"{name}: no Via to rewrite")
                continue
            allowed = expected.split("|")
            codes = exchange(sock, target, data, 0.4 if "drop" in allowed else 2.0)
            got = str(codes[0]) if codes else "drop"
            ok = got in allowed or ("process" in allowed and got not in ("400", "505", "drop"))
            if not ok:
                problems.append(f"{name}: expected {expected}, got {got}")
        finally:
            sock.close()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        if not options_answered(sock, target):
            problems.append("OPTIONS not answered after the corpus")
    return problems
