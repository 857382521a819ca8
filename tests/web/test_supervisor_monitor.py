"""Listen and whisper from the supervisor's wallboard page, heard with real RTP: a SIPp caller on the sales
line sends a 400 Hz tone (A-law, tests/calls/tone_pcap.py) to agent 1002 on a SIPp desk phone, which sends
1000 Hz back; the supervisor logs in to /ui/supervisor/ in Chromium, types their phone's extension (1003, a
SIPp phone that answers and sends 1800 Hz) and clicks Listen on 1002's row: the supervisor's phone receives
both 400 and 1000 Hz while caller and agent receive no 1800 Hz. Whisper: the agent receives 1800 Hz, the
caller still does not. Each party's received G.711 is decoded (tongdai.media.g711) and each tone's level
measured per 20 ms packet; the hearing matrix is the one docs/media.md gives. The time from each click to
the first packet carrying the new audio is measured and bounded.

With TONGDAI_SCREENSHOTS=1 the page during listening is saved to docs/user-guide/supervisor-listen.png."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import pytest

from tests.calls.capture import RtpListener
from tests.calls.sipp import SCENARIOS as CALL_SCENARIOS
from tests.calls.sipp import free_udp_port, register, sipp_command
from tests.calls.test_b2bua_sipp import finish, start
from tests.calls.tone_pcap import AMPLITUDE, tone_pcap
from tests.web.test_agent_desktop import (
    CHROMIUM_ARGS,
    SCENARIOS,
    sales_line,  # noqa: F401  (the fixture: number 1800 leads to the sales queue)
    shot,
)
from tests.web.test_agent_desktop import (
    pytestmark as desktop_marks,
)
from tongdai import demo
from tongdai.media import g711
from tongdai.media.g711 import Codec

# audio quality is measured: run alone, not beside another test (see the Makefile)
pytestmark = [*desktop_marks, pytest.mark.serial]

RATE = 8000
LEVEL = AMPLITUDE  # each tone's: three of them mixed (24,000) stay clear of clipping
CALLER_HZ, AGENT_HZ, SUPERVISOR_HZ = 400, 1000, 1800
PRESENT, ABSENT = 0.3 * LEVEL, 0.03 * LEVEL
#: how long each mode is listened to once its audio arrived
PHASE_S = 3.0


def level(samples: np.ndarray, hz: int) -> float:
    """The amplitude of the `hz` component of `samples` (one DFT bin)."""
    n = np.arange(len(samples))
    return float(2 / len(samples) * abs(np.sum(samples * np.exp(-2j * np.pi * hz * n / RATE))))


class Ear(RtpListener):
    """An RtpListener that also keeps each packet's decoded audio, to measure which tones a party hears."""

    def __init__(self) -> None:
        super().__init__()
        self.heard: list[tuple[float, np.ndarray]] = []

    def _listen(self) -> None:
        while not self._done.is_set():
            try:
                data = self.sock.recv(2048)
            except TimeoutError:
                continue
            codec = {0: Codec.PCMU, 8: Codec.PCMA}.get(data[1] & 0x7F) if len(data) > 12 else None
            if codec is not None:
                self.heard.append((time.monotonic(), g711.decode(codec, np.frombuffer(data[12:], np.uint8))
                                   .astype(np.float64)))

    def first(self, since: float, *tones: int) -> float | None:
        """When the first packet after `since` carried all of `tones`."""
        return next((t for t, pcm in list(self.heard)
                     if t >= since and all(level(pcm, hz) > PRESENT for hz in tones)), None)

    def levels(self, start: float, end: float, hz: int) -> float:
        """The median level of `hz` over the packets received between `start` and `end`."""
        found = [level(pcm, hz) for t, pcm in list(self.heard) if start <= t <= end]
        assert len(found) >= 0.5 * (end - start) / 0.02, (len(found), end - start)  # media kept flowing
        return statistics.median(found)


def wait_for_audio(ear: Ear, since: float, *tones: int, timeout_s: float = 15) -> float:
    """Seconds from `since` until `ear` received a packet carrying all of `tones`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        at = ear.first(since, *tones)
        if at is not None:
            return at - since
        time.sleep(0.05)
    recent = [t for t, _ in ear.heard if t >= since]
    raise AssertionError(f"no packet with {tones} Hz within {timeout_s} s: {len(recent)} packets, levels "
                         f"{ {hz: round(ear.levels(recent[0], recent[-1], hz)) for hz in tones} if recent else None}")


def hears(ear: Ear, window: tuple[float, float]) -> dict[int, float]:
    """The median level of each of the three tones in what `ear` received during `window`."""
    return {hz: round(ear.levels(*window, hz)) for hz in (CALLER_HZ, AGENT_HZ, SUPERVISOR_HZ)}


def phones(tmp_path: Path, sip_port: int, caller: Ear, agent: Ear, supervisor: Ear):  # type: ignore[no-untyped-def]
    """The agent's and the supervisor's SIPp phones, registered as 1002 and 1003, each sending its tone."""
    desk = start(sipp_command(agent.scenario_to(SCENARIOS / "uas_agent_monitored.xml", tmp_path / "agent.xml"),
                              sip_port, port=(agent_port := free_udp_port()), calls=1, workdir=tmp_path,
                              keys={**agent.keys, "audio_pcap": str(tone_pcap(tmp_path / "agent.pcap", AGENT_HZ, 40))})
                 + ["-mp", str(free_udp_port())], tmp_path)
    own = start(sipp_command(supervisor.scenario_to(CALL_SCENARIOS / "uas_speak.xml", tmp_path / "sup.xml"),
                             sip_port, port=(sup_port := free_udp_port()), calls=1, workdir=tmp_path,
                             keys={**supervisor.keys, "audio_pcap": str(tone_pcap(tmp_path / "sup.pcap", SUPERVISOR_HZ, 40))})
                + ["-mp", str(free_udp_port())], tmp_path)
    time.sleep(0.3)
    assert register("1002", "sip-demo-1002", agent_port, sip_port) == 200
    assert register("1003", "sip-demo-1003", sup_port, sip_port) == 200  # support: never offered sales calls
    return desk, own, agent_port, sup_port


def test_given_agent_on_a_call_when_supervisor_clicks_listen_then_whisper_then_each_party_hears_per_the_matrix(
        running, sales_line, tmp_path):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    caller_ear, agent_ear, supervisor_ear = Ear().start(), Ear().start(), Ear().start()
    desk, own, agent_port, sup_port = phones(tmp_path, running.sip_port, caller_ear, agent_ear, supervisor_ear)
    minh = sales_line.get("/api/v1/agents", extension="1002").json()["items"][0]
    sales_line.send("POST", "/api/v1/routing/agents/activity", {"agent_id": minh["id"], "activity": "available"})
    caller = None
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 900}, locale="en-GB")
                page.goto(running.base + "/ui/supervisor/")
                page.fill("#email", demo.SUPERVISOR_LOGIN[0])
                page.fill("#password", demo.SUPERVISOR_LOGIN[1])
                page.click("#login-form button[type=submit]")
                expect(page.locator("#live")).to_have_attribute("data-live", "on", timeout=10_000)
                page.fill("#my-phone", "1003")
                row = page.locator("#agents tbody tr", has_text="(1002)")

                scenario = caller_ear.scenario_to(SCENARIOS / "uac_queue_monitored.xml", tmp_path / "caller.xml")
                caller = start(sipp_command(scenario, running.sip_port, port=free_udp_port(), service="1800",
                                            caller="0918000555", workdir=tmp_path, timeout_s=90,
                                            keys={**caller_ear.keys, "audio_pcap": str(
                                                tone_pcap(tmp_path / "caller.pcap", CALLER_HZ, 40))})
                               + ["-mp", str(free_udp_port())], tmp_path)
                listen = row.locator("button.monitor[data-mode=listen]")
                expect(listen).to_be_enabled(timeout=20_000)  # 1002 answered: the call is on the wallboard
                clicked = time.monotonic()
                listen.click()
                to_listen = wait_for_audio(supervisor_ear, clicked, CALLER_HZ, AGENT_HZ)
                expect(listen).to_have_attribute("aria-pressed", "true")
                expect(page.locator("#monitor-status")).to_have_text("Your phone 1003 is in Trần Văn Minh's call: Listen.")
                listening = (clicked + to_listen + 0.5, clicked + to_listen + 0.5 + PHASE_S)
                shot(page, "supervisor-listen")
                time.sleep(max(0.0, listening[1] - time.monotonic()))
                expect(page.locator("#action-error")).to_have_text("")

                clicked = time.monotonic()
                whisper = row.locator("button.monitor[data-mode=whisper]")
                whisper.click()
                to_whisper = wait_for_audio(agent_ear, clicked, SUPERVISOR_HZ)
                expect(whisper).to_have_attribute("aria-pressed", "true")
                expect(listen).to_have_attribute("aria-pressed", "false")
                expect(page.locator("#monitor-status")).to_contain_text("Whisper")
                whispering = (clicked + to_whisper + 0.5, clicked + to_whisper + 0.5 + PHASE_S)
                time.sleep(max(0.0, whispering[1] - time.monotonic()))
                expect(page.locator("#action-error")).to_have_text("")
            finally:
                browser.close()
        rc, count, out = finish(caller, timeout=40)  # the caller hangs up 18 s after joining the mixer
        assert count == {"successful": 1, "failed": 0}, out
        for proc in (desk, own):  # hung up by tongdai once the caller left
            rc, count, out = finish(proc, timeout=20)
            assert count == {"successful": 1, "failed": 0}, out
    finally:
        for proc in (caller, desk, own):
            if proc is not None and proc.poll() is None:
                proc.kill()
        for ear in (caller_ear, agent_ear, supervisor_ear):
            ear.stop()
        register("1002", "sip-demo-1002", agent_port, running.sip_port, expires=0)
        register("1003", "sip-demo-1003", sup_port, running.sip_port, expires=0)

    heard = {(mode, who): hears(ear, window)
             for mode, window in (("listen", listening), ("whisper", whispering))
             for who, ear in (("caller", caller_ear), ("agent", agent_ear), ("supervisor", supervisor_ear))}
    packets = {who: len(ear.heard) for who, ear in (("caller", caller_ear), ("agent", agent_ear),
                                                    ("supervisor", supervisor_ear))}
    print(f"click to audio: listen {to_listen:.2f} s, whisper {to_whisper:.2f} s; packets {packets}; levels {heard}")
    for mode in ("listen", "whisper"):
        # the supervisor hears both sides; the caller hears the agent and never the supervisor
        assert heard[mode, "supervisor"][CALLER_HZ] > PRESENT and heard[mode, "supervisor"][AGENT_HZ] > PRESENT, heard
        assert heard[mode, "caller"][AGENT_HZ] > PRESENT and heard[mode, "caller"][SUPERVISOR_HZ] < ABSENT, heard
        assert heard[mode, "agent"][CALLER_HZ] > PRESENT, heard
    assert heard["listen", "agent"][SUPERVISOR_HZ] < ABSENT, heard  # listening: the agent does not hear it
    assert heard["whisper", "agent"][SUPERVISOR_HZ] > PRESENT, heard  # whispering: the agent does
    assert to_listen < 5.0 and to_whisper < 1.0, (to_listen, to_whisper)
