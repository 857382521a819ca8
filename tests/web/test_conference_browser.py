"""Conferences with a browser party, against `tongdai run --demo` with rtpengine: agent 1001 answers a
SIPp caller in the agent desktop (Chromium, fake microphone) and presses Conference with 1003 (a SIPp
desk phone that speaks a 1700 Hz tone). The caller (speaking the A-law capture) is moved onto the
DSP mixer by a re-INVITE; the browser is re-offered through rtpengine (its ICE and DTLS kept) with
its mixer leg as the other side.
The caller hears the third party (the tone in its decoded RTP) and not itself, the third party hears
the caller (its RTP correlates with the capture) and not itself, the browser keeps receiving audio
after the mix (getStats), and the call's recording has the tone on its agent channel. A second test: a
supervisor's desk phone (speaking the tone) listens in on such a call, then whispers: it hears the
caller; the browser agent hears the tone only once it whispers (Web Audio analyser on the received
track); the caller never hears it."""

from __future__ import annotations

import time

import httpx
import numpy as np
import pytest

from tests.calls.capture import loopback_capture
from tests.calls.sipp import free_udp_port, register, sipp_command
from tests.calls.test_b2bua_sipp import finish, start
from tests.calls.test_call_records import token
from tests.calls.tone_pcap import tone_pcap, tone_share
from tests.web.test_agent_desktop import (
    AGENT,
    CAPTURES,
    CHROMIUM_ARGS,
    CONNECTION,
    SCENARIOS,
    agent_page,
    sales_line,  # noqa: F401  (the fixture: number 1800 leads to the sales queue)
    shot,
    wait_for,
    wrap_up,
)
from tests.web.test_agent_desktop import (
    pytestmark as desktop_marks,
)
from tests.web.test_transfer_to_browser import caller_to_1001
from tongdai.media.g711 import Codec, decode
from tongdai.media.pcap import rtp_packets

# audio quality is measured: run alone, not beside another test (see the Makefile)
pytestmark = [*desktop_marks, pytest.mark.serial]

TONE = 1700.0
#: what the browser has received so far
IN_PACKETS = "async () => (await window.tongdaiPhone.stats()).inPackets"
#: the browser's call is up and its microphone reaches rtpengine (the caller says nothing before the mix)
SENDING = """async () => {
  const s = await window.tongdaiPhone.stats();
  return {...s, ok: s.state === 'connected' && s.outPackets >= 100};
}"""


#: the share of 100 ms looks at the browser's received audio (Web Audio analyser on the remote track)
#: in which a tone of the given frequency stands 30 dB above the spectrum's median
HEARS = """async (freqs) => {
  const pc = window.tongdaiPhone.session && window.tongdaiPhone.session.connection;
  const receiver = pc && pc.getReceivers().find((r) => r.track && r.track.kind === 'audio');
  if (!receiver) return null;
  const ctx = new AudioContext();
  await ctx.resume();
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 2048;
  ctx.createMediaStreamSource(new MediaStream([receiver.track])).connect(analyser);
  const data = new Float32Array(analyser.frequencyBinCount);
  const levels = freqs.map(() => []);
  for (let i = 0; i < 15; i++) {
    await new Promise((done) => setTimeout(done, 100));
    analyser.getFloatFrequencyData(data);
    freqs.forEach((f, k) => {
      const bin = Math.round(f * analyser.fftSize / ctx.sampleRate);
      levels[k].push(Math.max(...data.slice(bin - 2, bin + 3)));
    });
  }
  await ctx.close();
  return levels;
}"""


def spoken() -> np.ndarray:
    """The capture both SIPp parties speak, as linear PCM."""
    payloads = b"".join(p.payload for _, p in rtp_packets(CAPTURES / "g711a.pcap", payload_type=8))
    return decode(Codec.PCMA, np.frombuffer(payloads, dtype=np.uint8)).astype(np.float64)


def heard(capture, since: float) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The G.711 audio captured after `since`, decoded in arrival order."""
    packets = [(t, p) for t, p in rtp_packets(capture) if t >= since and p.payload_type in (0, 8)]
    packets.sort(key=lambda tp: tp[0])
    chunks = [decode(Codec.PCMA if p.payload_type == 8 else Codec.PCMU, np.frombuffer(p.payload, np.uint8))
              for _, p in packets]
    return np.concatenate(chunks).astype(np.float64) if chunks else np.zeros(0)


def best_correlation(x: np.ndarray, reference: np.ndarray, window_s: float = 2.0) -> float:
    """The highest correlation of any 2 s of `reference` with `x` at its best lag (the other voices in
    the mix, e.g. the browser's beeps, lower it; silence cannot raise it)."""
    best = 0.0
    n = int(window_s * 8000)
    for start_at in range(0, len(reference) - n, n // 2):
        ref = reference[start_at:start_at + n]
        if np.std(ref) < 100:
            continue  # a quiet stretch of the capture matches anything
        size = len(x) + n
        xcorr = np.fft.irfft(np.fft.rfft(x, size) * np.conj(np.fft.rfft(ref, size)), size)[:max(len(x) - n, 1)]
        lag = int(np.argmax(np.abs(xcorr)))
        segment = x[lag:lag + n]
        if len(segment) == n and np.std(segment) > 0:
            best = max(best, abs(float(np.corrcoef(segment, ref)[0, 1])))
    return best


def answered_by_1001(admin, seen: set[str | None]) -> str | None:  # type: ignore[no-untyped-def]
    """The id of the newest call agent 1001 answered that is not in `seen` (queue log), waited for."""
    deadline = time.monotonic() + 10
    while True:
        rows = admin.get("/api/v1/queue-log", limit="50").json()["items"]
        fresh = [r["call_id"] for r in rows if r["event"] == "answered" and r["agent"] == "1001"
                 and r["call_id"] not in seen]
        if fresh or seen == set() or time.monotonic() > deadline:
            return fresh[0] if fresh else None
        time.sleep(0.25)


def answer_in_browser(page) -> int:  # type: ignore[no-untyped-def]
    """The agent answers the ringing call and its audio flows; the packets received so far."""
    from playwright.sync_api import expect

    expect(page.locator("#incoming")).to_be_visible(timeout=20_000)
    page.click("#answer")
    expect(page.locator("#in-call")).to_be_visible(timeout=10_000)
    stats = wait_for(page, SENDING, 25)
    assert stats and stats["ok"], (stats, page.evaluate(CONNECTION))
    return int(page.evaluate(IN_PACKETS))


def tone_level(page) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """The level (dB) of the tone's band in what the browser hears over 1.5 s, and of the loudest of
    three other bands (medians of the last 10 looks: the analyser smooths over the first ones)."""
    levels = page.evaluate(HEARS, [TONE, 400.0, 1000.0, 2500.0])
    assert levels is not None, "the browser's call is gone"
    return float(np.median(levels[0][5:])), float(max(np.median(row[5:]) for row in levels[1:]))


def browser_keeps_receiving(page, before: int, seconds: float = 3.0) -> int:  # type: ignore[no-untyped-def]
    """Packets the browser received in `seconds` after the mix (at 50 a second when audio flows)."""
    time.sleep(seconds)
    return int(page.evaluate(IN_PACKETS)) - before


def test_given_agent_in_browser_when_it_conferences_a_desk_phone_then_all_three_hear_each_other(
        running, sales_line, tmp_path):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    third_sip, third_media, caller_media = free_udp_port(), free_udp_port(), free_udp_port()
    caller_pcap, third_pcap = tmp_path / "caller.pcap", tmp_path / "third.pcap"
    tone = tone_pcap(tmp_path / "tone.pcap", TONE, 10.0)
    third = start(sipp_command("uas_speak.xml", running.sip_port, port=third_sip, calls=1, workdir=tmp_path,
                               keys={"audio_pcap": str(tone)}) + ["-mp", str(third_media)], tmp_path)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            lan = agent_page(browser, running.base, AGENT)
            for code, word in (("vi", "Hội nghị"), ("zh", "会议"), ("en", "Conference")):  # the button's language
                lan.select_option("#lang", code)
                expect(lan.locator("#conference")).to_have_text(word)
            assert register("1003", "sip-demo-1003", third_sip, running.sip_port) == 200  # support: no sales calls
            seen = {answered_by_1001(sales_line, set())}
            with loopback_capture(caller_media, caller_pcap), loopback_capture(third_media, third_pcap):
                caller = caller_to_1001(running, "uac_queue_browser_transfer.xml", caller_media, tmp_path)
                try:
                    before = answer_in_browser(lan)
                    call_id = answered_by_1001(sales_line, seen)
                    lan.fill("#transfer-target", "1003")
                    lan.click("#conference")
                    expect(lan.locator("#conference")).to_have_attribute("data-state", "joined", timeout=20_000)
                    mixed_at = time.time()
                    shot(lan, "agent-conference")
                    browser_tone = tone_level(lan)
                    after_mix = browser_keeps_receiving(lan, int(lan.evaluate(IN_PACKETS)), 2.0)
                    rc, count, out = finish(caller, timeout=40)  # the caller hangs up 6 s after the mix
                finally:
                    if caller.poll() is None:
                        caller.kill()
            assert (rc, count) == (0, {"successful": 1, "failed": 0}), out
            assert finish(third, timeout=20)[1] == {"successful": 1, "failed": 0}  # hung up once the caller left
            expect(lan.locator("#wrapup")).to_be_visible(timeout=10_000)
            wrap_up(lan, "resolved")
        finally:
            browser.close()
            if third.poll() is None:
                third.kill()
            register("1003", "sip-demo-1003", third_sip, running.sip_port, expires=0)
    assert after_mix >= 80, (before, after_mix)  # 2 s of the mix reached the browser
    assert browser_tone[0] > -40 and browser_tone[0] - browser_tone[1] > 20, browser_tone  # the browser heard the tone
    reference = spoken()
    caller_heard, third_heard = heard(caller_pcap, mixed_at), heard(third_pcap, mixed_at)
    assert len(caller_heard) >= 3 * 8000 and len(third_heard) >= 3 * 8000, (len(caller_heard), len(third_heard))
    assert tone_share(caller_heard, TONE) > 0.6, tone_share(caller_heard, TONE)  # the caller heard the third party
    assert best_correlation(caller_heard, reference) < 0.3  # and not itself
    assert best_correlation(third_heard, reference) > 0.6  # the third party heard the caller's speech
    assert tone_share(third_heard, TONE) < 0.05  # and not itself
    assert_recorded(sales_line, running, call_id)


def assert_recorded(admin, running, call_id: str | None) -> None:  # type: ignore[no-untyped-def]
    """The call's recording (on its CDR) has the tone on its agent channel after the mix, none before."""
    import json
    import wave

    from tests.conftest import wait_until

    def location() -> str | None:
        rows = admin.get("/api/v1/call-records", limit="20").json()["items"]
        return next((r["recording"] for r in rows if r["call_id"] == call_id and r["recording"]), None)

    assert call_id and wait_until(lambda: location() is not None, timeout=15)
    wav_path = running.workdir / "var" / "recordings" / str(location())
    with wave.open(str(wav_path)) as w:
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2).astype(np.float64)
    marks = json.loads(wav_path.with_suffix(".json").read_text())["marks"]
    cut = int(marks[0]["at"] * 8000)
    assert [m["event"] for m in marks] == ["mixed"] and tone_share(frames[:cut, 1], TONE) == 0.0
    assert tone_share(frames[cut:, 1], TONE) > 0.6, tone_share(frames[cut:, 1], TONE)


def test_given_agent_in_browser_when_a_supervisor_listens_then_whispers_then_only_the_agent_hears_the_whisper(
        running, sales_line, tmp_path):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    sup_sip, sup_media, caller_media = free_udp_port(), free_udp_port(), free_udp_port()
    caller_pcap, sup_pcap = tmp_path / "caller.pcap", tmp_path / "supervisor.pcap"
    tone = tone_pcap(tmp_path / "tone.pcap", TONE, 10.0)  # what the supervisor's phone says
    supervisor = start(sipp_command("uas_speak.xml", running.sip_port, port=sup_sip, calls=1, workdir=tmp_path,
                                    keys={"audio_pcap": str(tone)}) + ["-mp", str(sup_media)], tmp_path)
    headers = {"Authorization": f"Bearer {token(running.base, 'supervisor@demo.example', 'supervisor-demo-2026')}"}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            lan = agent_page(browser, running.base, AGENT)
            assert register("1003", "sip-demo-1003", sup_sip, running.sip_port) == 200  # the supervisor's phone
            seen = {answered_by_1001(sales_line, set())}
            with loopback_capture(caller_media, caller_pcap), loopback_capture(sup_media, sup_pcap):
                caller = caller_to_1001(running, "uac_queue_browser_transfer.xml", caller_media, tmp_path)
                try:
                    answer_in_browser(lan)
                    call_id = answered_by_1001(sales_line, seen)
                    monitor = f"{running.base}/api/v1/calls/{call_id}/monitor"
                    r = httpx.post(monitor, json={"extension": "1003", "mode": "listen"}, headers=headers, timeout=30)
                    assert r.status_code == 200, r.text
                    mixed_at = time.time()
                    listening = tone_level(lan)  # the agent does not hear a listener
                    r = httpx.post(monitor, json={"extension": "1003", "mode": "whisper"}, headers=headers, timeout=30)
                    assert r.status_code == 200, r.text
                    whispering = tone_level(lan)  # the agent hears the whisper
                    rc, count, out = finish(caller, timeout=40)
                finally:
                    if caller.poll() is None:
                        caller.kill()
            assert (rc, count) == (0, {"successful": 1, "failed": 0}), out
            assert finish(supervisor, timeout=20)[1] == {"successful": 1, "failed": 0}
            expect(lan.locator("#wrapup")).to_be_visible(timeout=10_000)
            wrap_up(lan, "resolved")
        finally:
            browser.close()
            if supervisor.poll() is None:
                supervisor.kill()
            register("1003", "sip-demo-1003", sup_sip, running.sip_port, expires=0)
    assert whispering[0] > -40 and whispering[0] - listening[0] > 30, (listening, whispering)
    reference = spoken()
    supervisor_heard, caller_heard = heard(sup_pcap, mixed_at), heard(caller_pcap, mixed_at)
    assert best_correlation(supervisor_heard, reference) > 0.6  # the supervisor heard the caller
    assert len(caller_heard) >= 3 * 8000 and tone_share(caller_heard, TONE) < 0.05  # the caller never heard it


def tone_wav(path, freq: float, seconds: float = 20.0):  # type: ignore[no-untyped-def]
    """A 48 kHz WAV of a tone, for Chromium's fake microphone (`--use-file-for-fake-audio-capture`)."""
    import wave

    t = np.arange(int(48_000 * seconds)) / 48_000
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(48_000)
        w.writeframes((8000 * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes())
    return path


def test_given_agent_in_browser_when_it_conferences_an_agent_in_another_browser_then_caller_and_both_browsers_hear(
        running, sales_line, tmp_path):  # noqa: F811
    """The third party is agent 1002 on the desktop only (no desk phone): rtpengine offers its browser
    fresh sides whose plain end is its mixer leg. The caller speaks a 1700 Hz tone, 1002's microphone
    a 1100 Hz one (a second Chromium with a WAV as its fake microphone): 1002's browser hears the
    caller's tone, the caller's RTP carries 1002's."""
    from playwright.sync_api import expect, sync_playwright

    from tests.web.test_transfer_to_browser import SECOND

    caller_media, caller_pcap = free_udp_port(), tmp_path / "caller.pcap"
    voice = tone_wav(tmp_path / "minh.wav", 1100.0)
    with sync_playwright() as p:
        first = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        second = p.chromium.launch(executable_path="/usr/bin/chromium",
                                   args=[*CHROMIUM_ARGS, f"--use-file-for-fake-audio-capture={voice}"])
        try:
            pages = []
            for browser, login in ((first, AGENT), (second, SECOND)):
                pages.append(agent_page(browser, running.base, login))
            lan, minh = pages
            tone = tone_pcap(tmp_path / "tone.pcap", TONE, 10.0)
            with loopback_capture(caller_media, caller_pcap):
                caller = start(sipp_command(str(SCENARIOS / "uac_queue_browser_transfer.xml"), running.sip_port,
                                            port=free_udp_port(), calls=1, service="1800", caller="0901234567",
                                            workdir=tmp_path, timeout_s=90, keys={"audio_pcap": str(tone)})
                               + ["-mp", str(caller_media)], tmp_path)
                try:
                    answer_in_browser(lan)  # the most skilled agent first
                    lan.fill("#transfer-target", "1002")
                    lan.click("#conference")
                    expect(minh.locator("#incoming")).to_be_visible(timeout=20_000)
                    minh.click("#answer")
                    expect(lan.locator("#conference")).to_have_attribute("data-state", "joined", timeout=20_000)
                    joined_at = time.time()
                    minh_hears = tone_level(minh)
                    rc, count, out = finish(caller, timeout=40)
                finally:
                    if caller.poll() is None:
                        caller.kill()
            assert (rc, count) == (0, {"successful": 1, "failed": 0}), out
            expect(minh.locator("#in-call")).to_be_hidden(timeout=10_000)  # hung up once the caller left
            expect(lan.locator("#wrapup")).to_be_visible(timeout=10_000)
            wrap_up(lan, "resolved")
        finally:
            first.close()
            second.close()
    # 1002 hears the caller's tone (the other bands carry 1001's fake microphone, which beeps)
    assert minh_hears[0] > -40 and minh_hears[0] - minh_hears[1] > 10, minh_hears
    caller_heard = heard(caller_pcap, joined_at)
    # Chromium's audio processing takes a steady tone down by some 20 dB (about 1% of its power is left),
    # so the share is counted at 0.3%: 1002's tone in most windows, the caller's own in none
    speaks, echo = tone_share(caller_heard, 1100.0, threshold=0.003), tone_share(caller_heard, TONE, threshold=0.003)
    assert len(caller_heard) >= 2 * 8000 and speaks > 0.8 and echo < 0.05, (speaks, echo)
