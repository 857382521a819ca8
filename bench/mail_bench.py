"""Outgoing mail: what durability costs when a voicemail is accepted, and how fast the outbox drains.

1. Accepting (`Outbox.put` of a voicemail e-mail with a 60 s WAV, about 1.3 MB once encoded), wall
   time per message, side by side in the same run with two peers on the same disk: the standard
   library's `mailbox.Maildir.add` (temporary file + rename, no fsync) and the floor of durability
   (one write + fsync of the same bytes, no rename, no directory fsync). `serialise_only` is the
   standard library's `as_bytes` of the message, which `put` does first.
2. Draining: `MailService` (aiosmtplib, one SMTP session per message) sending 40 voicemail e-mails with
   a 10 s WAV to an aiosmtpd server (a separate process, discarding) on 127.0.0.1, against the peer
   `smtplib` (standard library, blocking, also one session per message) sending the same messages to
   the same server. Messages per second of wall time.

Run: `.venv/bin/python bench/mail_bench.py --runs 5` (prints JSON; `--json FILE` writes it).
"""

from __future__ import annotations

import argparse
import asyncio
import email.policy
import json
import mailbox
import os
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

import pytest

from tongdai.notify.mail import MailService, Outbox
from tongdai.notify.settings import MailSettings


def voicemail(seconds: float, to: str = "sales@bench.example", wav: bytes | None = None) -> EmailMessage:
    """A voicemail-shaped e-mail: text and a WAV of `seconds` of 8 kHz 16-bit noise (or `wav`)."""
    msg = EmailMessage()
    msg["To"], msg["From"], msg["Subject"] = to, "tongdai@bench.example", "Voicemail from 0913000333 in queue sales"
    msg.set_content("0913000333 left a voicemail in queue sales.\n")
    msg.add_attachment(wav if wav is not None else os.urandom(int(seconds * 16000)), maintype="audio",
                       subtype="wav", filename="vm.wav")
    return msg


def accept_times(folder: Path, count: int) -> dict[str, float]:
    """Median wall seconds per message for the outbox (serialising included) and its two peers."""
    wav = os.urandom(60 * 16000)
    data = voicemail(60.0, wav=wav).as_bytes()
    outbox, maildir = Outbox(folder / "outbox"), mailbox.Maildir(str(folder / "maildir"), create=True)
    floor = folder / "floor"
    floor.mkdir()

    def durable_write(i: int) -> None:
        with (floor / f"{i}.eml").open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    timings: dict[str, list[float]] = {"outbox_put": [], "serialise_only": [], "maildir_add": [], "write_fsync": []}
    for i in range(count):  # interleaved, so disk noise falls on all three alike
        # built before the clock starts, as the voicemail code does; a fresh one for each (the email
        # package caches part of the work of a first serialisation)
        msg, fresh = voicemail(60.0, wav=wav), voicemail(60.0, wav=wav)
        for name, step in (("outbox_put", lambda msg=msg: outbox.put(msg)),
                           ("serialise_only", lambda fresh=fresh: fresh.as_bytes(policy=email.policy.SMTP)),
                           ("maildir_add", lambda: maildir.add(data)),
                           ("write_fsync", lambda i=i: durable_write(i))):
            start = time.perf_counter()
            step()
            timings[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in timings.items()}


def smtp_server() -> tuple[subprocess.Popen[bytes], int]:
    """aiosmtpd in its own process, discarding what it receives."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
                             "-c", "aiosmtpd.handlers.Sink"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("aiosmtpd did not start")


async def drain_outbox(folder: Path, port: int, count: int) -> float:
    """Messages per second: `count` queued voicemails sent by MailService."""
    outbox, wav = Outbox(folder), os.urandom(10 * 16000)
    for _ in range(count):
        outbox.put(voicemail(10.0, wav=wav))
    settings = MailSettings(smtp_host="127.0.0.1", smtp_port=port, sender="tongdai@bench.example", keep_sent=False)
    svc = MailService.from_settings(settings, outbox)
    start = time.perf_counter()
    await svc.start()
    while outbox.queued():
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - start
    await svc.stop()
    return count / elapsed


def drain_smtplib(port: int, count: int) -> float:
    """Messages per second: the same messages sent with smtplib, one session each."""
    msg = voicemail(10.0)
    start = time.perf_counter()
    for _ in range(count):
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.send_message(msg, from_addr="tongdai@bench.example", to_addrs=["sales@bench.example"])
    return count / (time.perf_counter() - start)


def run_all(runs: int, count: int) -> dict[str, object]:
    """Every figure, medians of `runs` runs, ratios taken per run then the median."""
    accept, drain = [], []
    proc, port = smtp_server()
    try:
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as tmp:
                accept.append(accept_times(Path(tmp), 20))
                ours = asyncio.run(drain_outbox(Path(tmp) / "drain", port, count))
                peer = drain_smtplib(port, count)
                drain.append({"mail_service_per_s": ours, "smtplib_per_s": peer})
    finally:
        proc.kill()
        proc.wait()

    def med(values: list[float]) -> float:
        return round(statistics.median(values), 6)

    return {
        "date": "2026-11-23", "runs": runs, "message_bytes_60s_wav": len(voicemail(60.0).as_bytes()),
        "accept_s": {k: med([a[k] for a in accept]) for k in accept[0]},
        "accept_ratio_vs_maildir": med([a["outbox_put"] / a["maildir_add"] for a in accept]),
        "accept_ratio_vs_serialise_plus_maildir": med([a["outbox_put"] / (a["serialise_only"] + a["maildir_add"])
                                                       for a in accept]),
        "accept_ratio_vs_write_fsync": med([a["outbox_put"] / a["write_fsync"] for a in accept]),
        "drain_per_s": {k: med([d[k] for d in drain]) for k in drain[0]},
        "drain_ratio_vs_smtplib": med([d["mail_service_per_s"] / d["smtplib_per_s"] for d in drain]),
    }


def main(argv: list[str] | None = None) -> None:
    """Command line: print the figures as JSON (and write them to --json)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--messages", type=int, default=40)
    args = parser.parse_args(argv)
    text = json.dumps(run_all(args.runs, args.messages), indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


@pytest.mark.bench
def test_mail_benchmark(tmp_path: Path) -> None:
    """`make bench` entry: run the script in its own process and check the figures are sane."""
    out = tmp_path / "mail.json"
    subprocess.run([sys.executable, __file__, "--json", str(out), "--runs", "3"], check=True, timeout=1800)
    data = json.loads(out.read_text())
    assert data["drain_per_s"]["mail_service_per_s"] > 0 and data["accept_s"]["outbox_put"] > 0


if __name__ == "__main__":
    main()
