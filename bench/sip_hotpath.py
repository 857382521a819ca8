"""SIP hot path micro-benchmark: SIPp `uac`-shaped datagrams (INVITE, ACK, BYE; the same bytes SIPp
3.6 sends) fed straight into `SipStack.datagram` of a tongdai SIP endpoint answering 9196, inside a
running event loop (timers armed as in production; they never come due, so finished transactions pile up as they
would for their 32 s at about 1,000 calls/s), with no sockets. Prints messages and calls per
CPU second (the median of `--repeat` rounds); `--profile` prints a cProfile of one round.

    .venv/bin/python bench/sip_hotpath.py [--calls 10000] [--repeat 5] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tongdai.sip.service import SipService  # noqa: E402
from tongdai.sip.settings import SipSettings  # noqa: E402
from tongdai.sip.stack import Source  # noqa: E402

PEER = ("127.0.0.1", 5061)
SDP = ("v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
HEAD = ("{method} sip:9196@127.0.0.1:5060 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-4242-{n}-{b}\r\n"
        "From: sipp <sip:sipp@127.0.0.1:5061>;tag=4242SIPpTag00{n}\r\n"
        "To: 9196 <sip:9196@127.0.0.1:5060>{to_tag}\r\n"
        "Call-ID: {n}-4242@127.0.0.1\r\n"
        "CSeq: {cseq} {method}\r\n"
        "Contact: sip:sipp@127.0.0.1:5061\r\n"
        "Max-Forwards: 70\r\n"
        "Subject: Performance Test\r\n")
TAG_RE = re.compile(rb"\r\nTo: [^\r]*;tag=([^;\r]+)")


def invite(n: int) -> bytes:
    head = HEAD.format(method="INVITE", n=n, b=0, to_tag="", cseq=1)
    return (head + f"Content-Type: application/sdp\r\nContent-Length:   {len(SDP)}\r\n\r\n{SDP}").encode()


def in_dialog(method: str, n: int, tag: str, cseq: int, b: int) -> bytes:
    head = HEAD.format(method=method, n=n, b=b, to_tag=f";tag={tag}", cseq=cseq)
    return (head + "Content-Length: 0\r\n\r\n").encode()


async def one_round(service: SipService, first: int, calls: int) -> dict[str, float]:
    """`calls` whole calls; CPU seconds spent inside `datagram` only (building the peer's bytes excluded)."""
    stack = service.stack
    sent: list[bytes] = []
    source = Source("UDP", PEER, lambda data, addr: sent.append(data))
    spent = 0.0
    messages = 0
    clock = time.process_time
    for n in range(first, first + calls):
        data = invite(n)
        t0 = clock()
        stack.datagram(data, source)
        spent += clock() - t0
        m = TAG_RE.search(sent[-1])
        assert m is not None and sent[-1].startswith(b"SIP/2.0 200"), sent[-1][:80]
        tag = m.group(1).decode()
        ack, bye = in_dialog("ACK", n, tag, 1, 5), in_dialog("BYE", n, tag, 2, 7)
        t0 = clock()
        stack.datagram(ack, source)
        stack.datagram(bye, source)
        spent += clock() - t0
        assert sent[-1].startswith(b"SIP/2.0 200"), sent[-1][:80]
        messages += 3
        sent.clear()
        if n % 500 == 0:
            await asyncio.sleep(0)  # let the loop run the stack's timer as it would between datagrams
    return {"messages": messages, "cpu_s": spent}


async def run(calls: int, repeat: int, profile: bool) -> dict[str, object]:
    service = SipService(SipSettings(udp_port=0, tcp_port=0, host="127.0.0.1", rate_limit_per_s=1e9,
                                      max_transactions=1_000_000))
    service.stack._loop = asyncio.get_running_loop()  # timers armed on this loop, no sockets
    # the loop clock barely moves between datagrams here: the guard still runs, with a limit never hit
    await one_round(service, 1, 2000)  # warm-up
    rates = []
    first = 10_000
    for _ in range(repeat):
        r = await one_round(service, first, calls)
        first += calls
        rates.append(r["messages"] / r["cpu_s"])
    if profile:
        prof = cProfile.Profile()
        prof.enable()
        await one_round(service, first, calls)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(35)
    median = statistics.median(rates)
    return {"calls_per_round": calls, "rounds": repeat, "messages_per_cpu_s": round(median),
            "calls_per_cpu_s": round(median / 3), "cpu_s_per_1000_calls": round(3000 / median, 4),
            "all_rounds_messages_per_cpu_s": [round(r) for r in rates]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    print(json.dumps(asyncio.run(run(args.calls, args.repeat, args.profile))))


if __name__ == "__main__":
    main()
