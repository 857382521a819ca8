"""Helpers for call tests: register a contact for an extension from Python, run SIPp scenarios."""

from __future__ import annotations

import re
import socket
import subprocess
from pathlib import Path

from tongdai.sip.digest import answer
from tongdai.sip.message import Response, new_branch, new_tag, parse

SCENARIOS = Path(__file__).resolve().parent / "scenarios"


def register(ext: str, password: str, contact_port: int, server_port: int, expires: int = 300,
             contact_params: str = "") -> int:
    """Register `sip:ext@127.0.0.1:contact_port` (with `contact_params`, e.g. `;transport=tcp`) for
    extension `ext` with digest; the final status."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(3)
    call_id, tag = new_tag() + new_tag(), new_tag()
    uri = f"sip:127.0.0.1:{server_port}"
    auth = ""
    try:
        for cseq in (1, 2):
            msg = (f"REGISTER {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{sock.getsockname()[1]};branch={new_branch()};rport\r\n"
                   f"From: <sip:{ext}@127.0.0.1>;tag={tag}\r\nTo: <sip:{ext}@127.0.0.1>\r\nCall-ID: {call_id}\r\n"
                   f"CSeq: {cseq} REGISTER\r\nContact: <sip:{ext}@127.0.0.1:{contact_port}{contact_params}>;expires={expires}\r\n"
                   f"Max-Forwards: 70\r\n{auth}Content-Length: 0\r\n\r\n")
            sock.sendto(msg.encode(), ("127.0.0.1", server_port))
            resp = parse(sock.recv(65535))
            assert isinstance(resp, Response)
            if resp.status != 401:
                return resp.status
            creds = answer(resp.get("www-authenticate") or "", method="REGISTER", uri=uri, username=ext, password=password)
            auth = f"Authorization: {creds}\r\n"
        return resp.status
    finally:
        sock.close()


def sipp_command(scenario: str, server_port: int, *, port: int, calls: int = 1, rate: int = 10,
                 service: str = "", caller: str = "", keys: dict[str, str] | None = None, workdir: Path,
                 timeout_s: int = 30, local_ip: str = "127.0.0.1", limit: int | None = None,
                 transport: str = "u1") -> list[str]:
    """A SIPp command line for one of the scenarios here ("uas"/"uac": SIPp's built-in ones)."""
    cmd = ["sipp", "-sn" if scenario in ("uas", "uac") else "-sf",
           scenario if scenario in ("uas", "uac") else str(SCENARIOS / scenario)]
    if scenario != "uas" and not scenario.startswith("uas_"):
        cmd.append(f"127.0.0.1:{server_port}")
        cmd += ["-m", str(calls), "-r", str(rate)]
    if service:
        cmd += ["-s", service]
    if limit is not None:
        cmd += ["-l", str(limit)]
    if caller:
        users = workdir / f"users_{caller}.csv"
        users.write_text(f"SEQUENTIAL\n{caller}\n")
        cmd += ["-inf", str(users), "-au", caller, "-ap", f"sip-demo-{caller}"]
    for k, v in (keys or {}).items():
        cmd += ["-key", k, v]
    cmd += ["-t", transport] if transport != "u1" else []
    cmd += ["-i", local_ip, "-p", str(port), "-nostdin", "-timeout", str(timeout_s), "-timeout_error",
            "-trace_err", "-error_file", str(workdir / f"errors-{port}.log")]
    if scenario == "uas" or scenario.startswith("uas_"):
        cmd += ["-m", str(calls)]
    return cmd


def counters(text: str) -> dict[str, int]:
    """SIPp's final successful and failed call counts."""
    def last(name: str) -> int:
        found = re.findall(rf"{name}\s*\|\s*\d+\s*\|\s*(\d+)", text)
        return int(found[-1]) if found else -1

    return {"successful": last("Successful call"), "failed": last("Failed call")}


def run(cmd: list[str], workdir: Path, timeout: float = 60) -> tuple[int, dict[str, int], str]:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=workdir)
    return out.returncode, counters(out.stdout), out.stdout[-3000:] + out.stderr[-2000:]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
