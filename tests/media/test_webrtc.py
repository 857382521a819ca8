"""A browser's WebRTC leg through rtpengine to a plain RTP leg: headless Chromium with its fake
microphone offers (ICE, DTLS-SRTP, rtcp-mux, Opus), the plain side is an RTP probe on loopback
speaking G.711, and audio flows both ways."""

from __future__ import annotations

import asyncio
import http.server
import os
import re
import threading
from collections.abc import Iterator

import pytest

from tongdai.media.probe import RtpProbe, sdp_media_address, tone_frames
from tongdai.media.session import RtpengineAnchor

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not os.access("/usr/bin/chromium", os.X_OK),
                                                  reason="chromium not installed")]

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
    # rtpengine listens on 127.0.0.1 only: let Chromium gather loopback candidates, without mDNS names
    "--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns",
]

PAGE = b"""<!doctype html><meta charset="utf-8"><title>webrtc leg</title>
<script>
window.pc = null;
async function makeOffer() {
  const stream = await navigator.mediaDevices.getUserMedia({audio: true});
  pc = new RTCPeerConnection({iceServers: []});
  stream.getTracks().forEach(t => pc.addTrack(t, stream));
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise(done => {
    if (pc.iceGatheringState === 'complete') return done();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && done();
    setTimeout(done, 3000);
  });
  return pc.localDescription.sdp;
}
async function answerOffer(sdp) {
  const stream = await navigator.mediaDevices.getUserMedia({audio: true});
  pc = new RTCPeerConnection({iceServers: []});
  stream.getTracks().forEach(t => pc.addTrack(t, stream));
  await pc.setRemoteDescription({type: 'offer', sdp});
  await pc.setLocalDescription(await pc.createAnswer());
  await new Promise(done => {
    if (pc.iceGatheringState === 'complete') return done();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && done();
    setTimeout(done, 3000);
  });
  return pc.localDescription.sdp;
}
async function takeAnswer(sdp) { await pc.setRemoteDescription({type: 'answer', sdp}); }
async function waitConnected(ms) {
  const until = Date.now() + ms;
  while (pc.connectionState !== 'connected' && Date.now() < until) await new Promise(r => setTimeout(r, 50));
  return pc.connectionState;
}
async function connectionReport() {
  const out = {connection: pc.connectionState, ice: pc.iceConnectionState, pairs: [], local: [], remote: []};
  (await pc.getStats()).forEach(s => {
    if (s.type === 'candidate-pair') out.pairs.push([s.state, s.nominated, s.requestsSent, s.responsesReceived, s.requestsReceived]);
    if (s.type === 'transport') out.dtls = s.dtlsState;
    if (s.type === 'local-candidate') out.local.push([s.protocol, s.address, s.port]);
    if (s.type === 'remote-candidate') out.remote.push([s.protocol, s.address, s.port]);
  });
  return JSON.stringify(out);
}
async function audioStats() {
  const out = {inPackets: 0, inBytes: 0, outPackets: 0, codecs: [], state: pc.connectionState};
  (await pc.getStats()).forEach(s => {
    if (s.type === 'inbound-rtp' && s.kind === 'audio') { out.inPackets += s.packetsReceived; out.inBytes += s.bytesReceived; }
    if (s.type === 'outbound-rtp' && s.kind === 'audio') out.outPackets += s.packetsSent;
    if (s.type === 'codec') out.codecs.push(s.mimeType);
  });
  return out;
}
</script>"""


class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def page_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def loopback_candidates_only(sdp: str) -> str:
    """Keep only 127.0.0.1 ICE candidates, so every packet of the test stays on loopback."""
    lines = [line for line in sdp.split("\r\n")
             if not line.startswith("a=candidate:") or " 127.0.0.1 " in line]
    return "\r\n".join(lines)


async def test_browser_offer_through_rtpengine_to_plain_g711_leg_carries_audio_both_ways(rtpengine, page_url):
    from playwright.async_api import async_playwright

    ng = rtpengine.client()
    anchor = RtpengineAnchor(ng)
    plain = await RtpProbe.open()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            await page.goto(page_url)
            offer = loopback_candidates_only(await page.evaluate("makeOffer()"))
            assert "a=candidate:" in offer and "opus/48000" in offer
            to_plain = await anchor.offer("webrtc-1", "browser", offer, webrtc=True)
            assert re.search(r"^m=audio \d+ RTP/AVP ", to_plain, re.M)
            assert "a=ice-ufrag" not in to_plain and "a=fingerprint" not in to_plain
            plain.remote = sdp_media_address(to_plain)
            to_browser = await anchor.answer("webrtc-1", "browser", "plain", plain.sdp(), webrtc=True)
            assert "UDP/TLS/RTP/SAVPF" in to_browser and "a=fingerprint:" in to_browser
            assert "a=rtcp-mux" in to_browser and "a=ice-ufrag:" in to_browser
            await page.evaluate("sdp => takeAnswer(sdp)", to_browser)
            # ICE and DTLS first (slower when the machine is busy), then 3 s of audio each way
            sending = asyncio.create_task(plain.send(tone_frames(440, 10.0)))
            assert await page.evaluate("waitConnected(10000)") == "connected", await page.evaluate("connectionReport()") + rtpengine.log()[-3000:]
            await asyncio.sleep(3.0)
            sending.cancel()
            stats = await page.evaluate("audioStats()")
        finally:
            await browser.close()
    await anchor.delete("webrtc-1")
    await ng.close()
    assert stats["state"] == "connected"
    assert stats["inPackets"] > 50 and stats["inBytes"] > 50 * 100  # G.711 from the plain leg, via SRTP
    assert plain.received.packets > 50  # the browser's microphone, DTLS-SRTP decrypted by rtpengine
    assert plain.received.payload_types <= {0, 101}
    print("browser stats", stats, "plain leg received", plain.received.packets)


async def test_plain_caller_to_browser_with_opus_policy_transcodes_g711_to_opus_both_ways(rtpengine, page_url):
    from playwright.async_api import async_playwright

    ng = rtpengine.client()
    anchor = RtpengineAnchor(ng, browser_codec="opus")
    plain = await RtpProbe.open()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            await page.goto(page_url)
            to_browser = await anchor.offer("webrtc-2", "plain", plain.sdp(), webrtc=True)
            assert "UDP/TLS/RTP/SAVPF" in to_browser and "opus/48000" in to_browser
            assert "PCMU" not in to_browser  # the browser is offered Opus only
            answer = loopback_candidates_only(await page.evaluate("sdp => answerOffer(sdp)", to_browser))
            to_plain = await anchor.answer("webrtc-2", "plain", "browser", answer, webrtc=True)
            plain.remote = sdp_media_address(to_plain)
            sending = asyncio.create_task(plain.send(tone_frames(440, 10.0)))
            assert await page.evaluate("waitConnected(10000)") == "connected", await page.evaluate("connectionReport()") + rtpengine.log()[-3000:]
            await asyncio.sleep(3.0)
            sending.cancel()
            stats = await page.evaluate("audioStats()")
        finally:
            await browser.close()
    await anchor.delete("webrtc-2")
    await ng.close()
    assert stats["state"] == "connected" and "audio/opus" in stats["codecs"]
    assert stats["inPackets"] > 50
    assert plain.received.packets > 50 and plain.received.payload_types <= {0, 101}
    print("browser stats", stats, "plain leg received", plain.received.packets)


async def test_browser_calling_the_echo_test_hears_its_own_audio(rtpengine, page_url):
    from playwright.async_api import async_playwright

    ng = rtpengine.client()
    anchor = RtpengineAnchor(ng)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            await page.goto(page_url)
            offer = loopback_candidates_only(await page.evaluate("makeOffer()"))
            answer = await anchor.echo("webrtc-echo", "browser", offer, webrtc=True)
            assert "UDP/TLS/RTP/SAVPF" in answer and "a=fingerprint:" in answer
            await page.evaluate("sdp => takeAnswer(sdp)", answer)
            assert await page.evaluate("waitConnected(10000)") == "connected", await page.evaluate("connectionReport()") + rtpengine.log()[-3000:]
            await asyncio.sleep(2.0)
            stats = await page.evaluate("audioStats()")
        finally:
            await browser.close()
    await anchor.delete("webrtc-echo")
    await ng.close()
    assert stats["outPackets"] > 50 and stats["inPackets"] > 50  # what it sent came back
