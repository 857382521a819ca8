"""Listening to a caller's spoken answer in a call flow (`app.speech.listen`).

The caller's media is forked in rtpengine (as recording and voicemail do) to a receive-only RTP leg of
the DSP worker's kind (`media.dsp_worker.Leg`: either G.711 law, a jitter buffer). A 20 ms media clock
drains that buffer into a `media.speech.Recogniser`; once the caller has spoken and stopped (or the
time is up) the utterance is decoded in a worker thread, never on the event loop, and the fork is
removed. Languages without a model (all but English) answer None at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

import numpy as np

from tongdai.calls.b2bua import PASSTHROUGH, Call, Leg
from tongdai.calls.recording import codec_of, listener_answer
from tongdai.media.dsp_worker import Leg as RtpLeg
from tongdai.media.g711 import FRAME_SAMPLES, Codec
from tongdai.media.speech import Recogniser, supports_language

log = logging.getLogger(__name__)

PTIME = 0.02
P = ParamSpec("P")
T = TypeVar("T")
_SILENCE = np.zeros(FRAME_SAMPLES, np.int16)


class SpeechRecognition:
    """Closed-grammar speech recognition of callers' answers; a service (it owns the decoding threads)."""

    name = "speech"

    def __init__(self, host: str = "127.0.0.1", *, threads: int = 2, end_silence_s: float = 0.6,
                 max_speech_s: float = 5.0) -> None:
        self.host, self.threads = host, threads
        self.end_silence_s, self.max_speech_s = end_silence_s, max_speech_s
        self._executor: ThreadPoolExecutor | None = None
        #: call id -> the RTP leg its caller's media is forked to (while listening)
        self.listening: dict[str, RtpLeg] = {}
        #: CPU seconds spent decoding, and utterances decoded: the cost, for metrics and benchmarks
        self.decode_cpu_s = 0.0
        self.decoded = 0

    async def start(self) -> None:
        """Open the decoding threads."""
        self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="speech")

    async def stop(self) -> None:
        """Close the decoding threads (a decode in progress finishes first)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def ready(self) -> bool:
        """Whether decoding threads are open."""
        return self._executor is not None

    async def listen(self, call: Call, leg: Leg, *, words: Sequence[str], language: str,
                     timeout_s: float) -> tuple[str, float] | None:
        """The word of `words` the caller on `leg` says and its confidence (0..1), or None: nothing
        said within `timeout_s`, nothing in the grammar fits, no model for `language`, or no media to
        listen to (no rtpengine, caller gone). Once the caller has begun speaking within `timeout_s`,
        the answer may run on to its end (at most `max_speech_s`). A word the pronunciation
        dictionary lacks raises `media.speech.UnknownWords` (flows are validated against `known_word`)."""
        if not supports_language(language):
            log.info("no speech model for the language", extra={"call_id": call.id, "language": language})
            return None
        if call.anchor is PASSTHROUGH or leg.dialog is None or leg.ended or call.ended is not None:
            return None
        recogniser = await self._run(Recogniser, list(words), language, end_silence_s=self.end_silence_s,
                                     max_speech_s=self.max_speech_s)
        rtp = await self._fork(call, leg)
        if rtp is None:
            return None
        try:
            await self._hear(recogniser, rtp, leg, timeout_s)
        finally:
            await self._unfork(call, rtp)
        result = await self._run(self._timed_result, recogniser)
        log.info("speech heard", extra={"call_id": call.id, "result": result})
        return result

    def _timed_result(self, recogniser: Recogniser) -> tuple[str, float] | None:
        started = time.thread_time()
        try:
            return recogniser.result()
        finally:
            self.decode_cpu_s += time.thread_time() - started
            self.decoded += 1

    async def _run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn` on a decoding thread (pocketsphinx holds a core for tens of ms per utterance)."""
        if self._executor is None:
            raise RuntimeError("speech recognition is not started")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))

    async def _fork(self, call: Call, leg: Leg) -> RtpLeg | None:
        """A receive-only RTP leg fed with the caller's media by an rtpengine fork; None (logged) when
        rtpengine refuses."""
        assert leg.dialog is not None
        loop = asyncio.get_running_loop()
        # PCMU until the fork's offer says which law; received packets are decoded by their own type
        rtp = RtpLeg(call.id, "speech", codec=Codec.PCMU)
        await loop.create_datagram_endpoint(lambda: rtp, local_addr=(self.host, 0))
        try:
            tag, offer = await call.anchor.fork(call.id, [leg.dialog.local_tag])  # type: ignore[attr-defined]
            rtp.codec = codec_of(offer)
            rtp.participant = tag  # the fork's tag: to remove it afterwards
            await call.anchor.fork_answer(call.id, tag, listener_answer(offer, rtp.local_address))  # type: ignore[attr-defined]
        except Exception:
            log.exception("the caller's media could not be forked for speech", extra={"call_id": call.id})
            _close(rtp)
            return None
        self.listening[call.id] = rtp
        return rtp

    async def _hear(self, recogniser: Recogniser, rtp: RtpLeg, leg: Leg, timeout_s: float) -> None:
        """Feed the recogniser on a 20 ms media clock until the utterance ends, time runs out or the
        caller hangs up."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        hard_stop = started + timeout_s + self.max_speech_s
        fed = 0
        while not recogniser.ended:
            now = loop.time()
            if leg.ended or leg.call.ended is not None or now >= hard_stop or (
                    now - started >= timeout_s and not recogniser.heard_speech):
                break
            due = int((now - started) / PTIME) - fed  # more than one after the loop was held up
            for _ in range(due):
                frame = rtp.jitter.pop(FRAME_SAMPLES)
                recogniser.feed((_SILENCE if frame is None else frame).tobytes())
            fed += due
            await asyncio.sleep(PTIME)
        recogniser.finish()

    async def _unfork(self, call: Call, rtp: RtpLeg) -> None:
        """Close the leg and ask rtpengine to stop forking to it (the call's deletion would end it too)."""
        self.listening.pop(call.id, None)
        _close(rtp)
        ng = getattr(call.anchor, "ng", None)
        if ng is None or call.ended is not None:
            return
        try:
            await ng.request("unsubscribe", {"call-id": call.id, "to-tag": str(rtp.participant)})
        except Exception as exc:  # the fork then lasts as long as the call: harmless, the port is closed
            log.info("speech fork not removed: %s", exc, extra={"call_id": call.id})


def _close(rtp: RtpLeg) -> None:
    if rtp.transport is not None:
        rtp.transport.close()
