"""Media sessions for call control: every leg's SDP is anchored through rtpengine.

`RtpengineAnchor` is the media anchor call control talks to. A call is one rtpengine call (the SIP
Call-ID); each leg is one tag. Codec policy: the offer keeps only the codecs tongdai supports (PCMU,
PCMA, G722, opus, telephone-event) and adds G.711 as a *transcoding* candidate; rtpengine transcodes
only when the answerer picks a codec the offerer did not offer, so legs that agree are relayed as is.

WebRTC: `webrtc=True` says one of the two legs is a browser; which one is read from the SDP (a
browser's SDP has ICE credentials and a DTLS fingerprint). The browser side gets ICE, DTLS-SRTP and
rtcp-mux; the plain side gets RTP/AVP without ICE. See docs/media.md "ng flags that work".
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from tongdai.media.ng import NgClient, NgError

log = logging.getLogger(__name__)

SUPPORTED_CODECS = ("PCMU", "PCMA", "G722", "opus", "telephone-event")
#: what rtpengine may add to an offer, to transcode into when the answerer has nothing in common
TRANSCODE_TO = ("PCMU", "PCMA")

#: flags for the SDP that goes to a browser
TO_BROWSER: dict[str, Any] = {
    "transport-protocol": "UDP/TLS/RTP/SAVPF",
    "ICE": "force",
    "DTLS": "active",
    "SDES": ["off"],
    "rtcp-mux": ["offer", "require"],
    "flags": ["generate-mid", "trickle-ICE"],
}
#: flags for the SDP that goes to a plain RTP endpoint (SIP phone, trunk, DSP worker)
TO_PLAIN: dict[str, Any] = {
    "transport-protocol": "RTP/AVP",
    "ICE": "remove",
    "DTLS": "off",
    "SDES": ["off"],
    "rtcp-mux": ["demux"],
}
#: ng options on every offer/answer
COMMON: dict[str, Any] = {"replace": ["origin", "session-connection"]}


def is_webrtc_sdp(sdp: str) -> bool:
    """A browser's SDP: ICE credentials with a DTLS fingerprint, or a SAVPF profile."""
    has_dtls_ice = "a=fingerprint:" in sdp and "a=ice-ufrag:" in sdp
    return has_dtls_ice or bool(re.search(r"^m=audio \d+ \S*SAVPF", sdp, re.M))


class RtpengineAnchor:
    """The media anchor of call control, backed by rtpengine over ng."""

    def __init__(self, ng: NgClient, *, codecs: Sequence[str] = SUPPORTED_CODECS,
                 transcode_to: Sequence[str] = TRANSCODE_TO, inject_dtmf: bool = False,
                 browser_codec: str | None = None) -> None:
        self.ng = ng
        #: when set (e.g. "opus"), browser legs speak only this codec and rtpengine transcodes to G.711
        self.browser_codec = browser_codec
        #: route media through rtpengine's codec engine so `play_dtmf` works (costs CPU per call)
        self.inject_dtmf = inject_dtmf
        self.codecs = tuple(codecs)
        self.transcode_to = tuple(c for c in transcode_to if c in self.codecs)

    def _codec_options(self) -> dict[str, Any]:
        return {"codec": {"strip": ["all"], "except": list(self.codecs), "transcode": list(self.transcode_to)}}

    def _browser_codec_options(self, *, from_browser: bool) -> dict[str, Any]:
        assert self.browser_codec is not None
        keep = [self.browser_codec, "telephone-event"]
        if from_browser:  # the browser may offer only its codec; the plain leg gets G.711 to transcode to
            return {"strip": ["all"], "except": keep, "transcode": list(self.transcode_to)}
        others = [c for c in self.codecs if c not in keep]
        # mask: hidden from the browser but still what the plain leg speaks
        return {"strip": ["all"], "except": list(self.codecs), "mask": others, "transcode": [self.browser_codec]}

    def _direction_flags(self, sdp: str, webrtc: bool) -> dict[str, Any]:
        if not webrtc:
            return {}
        # the SDP rtpengine returns goes to the *other* leg: plain if this one is the browser
        return dict(TO_PLAIN if is_webrtc_sdp(sdp) else TO_BROWSER)

    def _add_flags(self, options: dict[str, Any]) -> None:
        if self.inject_dtmf:
            options["flags"] = [*options.get("flags", []), "inject-DTMF"]

    async def offer(self, call_id: str, from_tag: str, sdp: str, *, webrtc: bool = False,
                    dtls_hash: str | None = None) -> str:
        """Anchor the offer of leg `from_tag`; returns the SDP to send to the other leg, its DTLS
        fingerprint made with `dtls_hash` (e.g. "sha-384") when given (rtpengine ignores the hash in
        answers)."""
        options = {**COMMON, **self._codec_options(), **self._direction_flags(sdp, webrtc)}
        if dtls_hash:
            options["DTLS-fingerprint"] = dtls_hash
        if webrtc and self.browser_codec:
            options["codec"] = self._browser_codec_options(from_browser=is_webrtc_sdp(sdp))
        self._add_flags(options)
        return (await self.ng.offer(call_id, from_tag, sdp, **options)).sdp

    async def answer(self, call_id: str, from_tag: str, to_tag: str, sdp: str, *, webrtc: bool = False) -> str:
        """Anchor the answer of leg `to_tag`; returns the SDP to send back to the offerer `from_tag`."""
        options = {**COMMON, **self._direction_flags(sdp, webrtc)}
        self._add_flags(options)
        return (await self.ng.answer(call_id, from_tag, to_tag, sdp, **options)).sdp

    async def delete(self, call_id: str) -> None:
        """Release the call's media; a call rtpengine no longer knows (e.g. after its restart) is fine."""
        try:
            await self.ng.delete(call_id)
        except NgError as exc:
            if "unknown call" not in exc.reason.lower():
                raise
            log.debug("delete of %s: rtpengine does not know the call", call_id)

    async def echo(self, call_id: str, from_tag: str, sdp: str, *, webrtc: bool = False) -> str:
        """Answer the offer `sdp` with media that echoes the caller's own audio (rtpengine media-echo)."""
        options = {**COMMON, **self._codec_options(), "media-echo": "forward"}
        if webrtc or is_webrtc_sdp(sdp):
            options.update(TO_PLAIN)  # the echo side is internal: keep it plain RTP
        offered = await self.ng.offer(call_id, from_tag, sdp, **options)
        echo_side = _loopback_answer(offered.sdp)
        return (await self.ng.answer(call_id, from_tag, f"{from_tag}-echo", echo_side, **COMMON,
                                     **{"media-echo": "forward"})).sdp

    async def play(self, call_id: str, tag: str, file: str, *, repeat: int = 1) -> int:
        """Play a media file to leg `tag` (what that leg hears); returns the duration in ms."""
        return await self.ng.play_media(call_id, tag, file, **{"repeat-times": repeat})

    async def stop_play(self, call_id: str, tag: str) -> None:
        """Stop what `play` plays to leg `tag`."""
        await self.ng.stop_media(call_id, tag)

    async def record_start(self, call_id: str) -> None:
        """Start, or resume after a pause, rtpengine's recording of the call."""
        await self.ng.start_recording(call_id)

    async def record_stop(self, call_id: str) -> None:
        """Stop recording the call."""
        await self.ng.stop_recording(call_id)

    async def record_pause(self, call_id: str) -> None:
        """Pause recording; rtpengine 10.5 has no `pause recording`, so it stops (start resumes)."""
        try:
            await self.ng.pause_recording(call_id)
        except NgError as exc:
            if "unrecognized command" not in exc.reason.lower():
                raise
            await self.ng.stop_recording(call_id)

    async def play_dtmf(self, call_id: str, tag: str, digit: str, *, duration_ms: int = 100) -> None:
        """Send an RFC 4733 digit *from* leg `tag` to the other legs (needs `inject_dtmf` and media
        already flowing from that leg)."""
        await self.ng.play_dtmf(call_id, tag, digit, duration_ms=duration_ms)

    async def block_dtmf(self, call_id: str, tag: str | None = None) -> None:
        """Stop passing on the DTMF of leg `tag` (all legs if None); rtpengine still reports digits."""
        await self.ng.block_dtmf(call_id, tag)

    async def unblock_dtmf(self, call_id: str, tag: str | None = None) -> None:
        """Pass DTMF on again."""
        await self.ng.unblock_dtmf(call_id, tag)

    async def silence(self, call_id: str, tag: str | None = None) -> None:
        """Replace the audio sent by leg `tag` with silence (e.g. while a card number is spoken)."""
        await self.ng.silence_media(call_id, tag)

    async def unsilence(self, call_id: str, tag: str | None = None) -> None:
        """Undo `silence`."""
        await self.ng.unsilence_media(call_id, tag)

    async def fork(self, call_id: str, tags: Sequence[str]) -> tuple[str, str]:
        """Fork the media sent by `tags` to a new listener; returns (listener tag, SDP offer for it)."""
        result = await self.ng.subscribe_request(call_id, list(tags), **COMMON, **TO_PLAIN)
        return str(result.reply["to-tag"]), result.sdp

    async def fork_answer(self, call_id: str, listener_tag: str, sdp: str) -> None:
        """Complete a fork with the listener's SDP answer."""
        await self.ng.subscribe_answer(call_id, listener_tag, sdp)


def _loopback_answer(offer: str) -> str:
    """An answer for the internal echo leg: the first offered codec (and telephone-event), port 9."""
    m = re.search(r"^m=audio \d+ \S+ ([\d ]+)", offer, re.M)
    if m is None:
        raise NgError("echo", "rtpengine's offer has no audio stream")
    pts = m.group(1).split()
    rtpmaps = dict(re.findall(r"^a=rtpmap:(\d+) (\S+)", offer, re.M))
    chosen = [pts[0]] + [pt for pt in pts[1:] if rtpmaps.get(pt, "").startswith("telephone-event")][:1]
    lines = ["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=echo", "c=IN IP4 127.0.0.1", "t=0 0",
             f"m=audio 9 RTP/AVP {' '.join(chosen)}"]
    lines += [f"a=rtpmap:{pt} {rtpmaps[pt]}" for pt in chosen if pt in rtpmaps]
    lines.append("a=sendrecv")
    return "\r\n".join(lines) + "\r\n"
