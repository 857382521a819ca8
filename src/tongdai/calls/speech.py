"""Listening to a caller's spoken answer in a call flow (`app.speech.listen`).

The caller's media is forked in rtpengine (as recording and voicemail do) to a receive-only RTP leg of
the DSP worker's kind (`media.dsp_worker.Leg`: either G.711 law, a jitter buffer). A 20 ms media clock
drains that buffer into a `media.speech.Recogniser`, which endpoints on the event loop (cheap); once
the caller has spoken and stopped (or the time is up) the fork is removed and the utterance is
decoded in a worker process. A process, not a thread: pocketsphinx holds the GIL while it decodes
(on a thread the event loop ran 0.14-0.3 s late at p99, bench/speech_bench.py). Each worker keeps one
decoder (the acoustic model) with a search per grammar, added while the caller is still speaking.
Languages without a model (all but English) answer None at once.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import multiprocessing
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import ParamSpec, TypeVar

import numpy as np

from tongdai.calls.b2bua import PASSTHROUGH, Call, Leg
from tongdai.calls.recording import codec_of, listener_answer
from tongdai.media import speech
from tongdai.media.dsp_worker import JitterBuffer
from tongdai.media.dsp_worker import Leg as RtpLeg
from tongdai.media.g711 import FRAME_SAMPLES, Codec
from tongdai.media.speech import Recogniser, UnknownWords, normalised, supports_language

log = logging.getLogger(__name__)

PTIME = 0.02
P = ParamSpec("P")
T = TypeVar("T")
_SILENCE = np.zeros(FRAME_SAMPLES, np.int16)


class SpeechRecognition:
    """Closed-grammar speech recognition of callers' answers; a service (it owns the decoding processes)."""

    name = "speech"

    def __init__(self, host: str = "127.0.0.1", *, workers: int = 2, end_silence_s: float = 0.6,
                 max_speech_s: float = 5.0) -> None:
        self.host, self.workers = host, workers
        self.end_silence_s, self.max_speech_s = end_silence_s, max_speech_s
        self._executor: Executor | None = None
        #: call id -> the RTP leg its caller's media is forked to (while listening)
        self.listening: dict[str, RtpLeg] = {}
        #: CPU seconds the workers spent decoding, and utterances decoded: the cost
        self.decode_cpu_s = 0.0
        self.decoded = 0

    async def start(self) -> None:
        """Make the pool; its processes start (spawned, not forked from a running event loop) when
        the first caller is listened to."""
        self._executor = self._pool()

    def _pool(self) -> Executor:
        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_worker_started)

    async def stop(self) -> None:
        """Stop the decoding processes (a decode in progress finishes first)."""
        if self._executor is not None:
            executor, self._executor = self._executor, None
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)

    def ready(self) -> bool:
        """Whether the pool is open."""
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
        grammar = tuple(normalised(words))
        prepared = asyncio.ensure_future(self._run(speech.prepare, grammar))  # loads while the caller speaks
        recogniser = Recogniser(grammar, language, end_silence_s=self.end_silence_s,
                                max_speech_s=self.max_speech_s, check_words=False)
        rtp = await self._fork(call, leg)
        try:
            if rtp is not None:
                await self._hear(recogniser, rtp, leg, timeout_s, prepared)
        finally:
            if rtp is not None:
                await self._unfork(call, leg, rtp)
        if leg.ended or call.ended is not None:  # nobody left to answer: do not wait for the worker
            prepared.add_done_callback(_consume)
            return None
        unknown = await prepared
        if unknown:
            raise UnknownWords(f"not in the pronunciation dictionary: {', '.join(unknown)}", details={"words": unknown})
        utterance = recogniser.utterance()
        if rtp is None or not len(utterance):
            return None
        result, cpu_s = await self._run(speech.recognise_timed, grammar, utterance.tobytes())
        self.decode_cpu_s += cpu_s
        self.decoded += 1
        log.info("speech heard", extra={"call_id": call.id, "result": result})
        return result

    async def _run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn` in a decoding process."""
        if self._executor is None:
            raise RuntimeError("speech recognition is not started")
        loop = asyncio.get_running_loop()
        executor = self._executor
        try:
            return await loop.run_in_executor(executor, functools.partial(fn, *args, **kwargs))
        except BrokenProcessPool:
            # a worker died (killed, out of memory): this answer is lost, the next caller gets a new pool
            log.error("a speech worker process died; the pool is replaced")
            if self._executor is executor:
                self._executor = self._pool()
                executor.shutdown(wait=False, cancel_futures=True)
            raise

    async def _fork(self, call: Call, leg: Leg) -> RtpLeg | None:
        """A receive-only RTP leg fed with the caller's media by an rtpengine fork; None (logged) when
        rtpengine refuses."""
        assert leg.dialog is not None
        loop = asyncio.get_running_loop()
        # PCMU until the fork's offer says which law; received packets are decoded by their own type
        # a recogniser wants every sample, not the freshest: the buffer rides out 1.5 s of loop stall
        # (a playout buffer skips ahead after 0.2 s) and the media clock catches up after one
        rtp = RtpLeg(call.id, "speech", codec=Codec.PCMU,
                     jitter=JitterBuffer(prefetch=320, max_delay=12000, capacity=16000))
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

    async def _hear(self, recogniser: Recogniser, rtp: RtpLeg, leg: Leg, timeout_s: float,
                    prepared: asyncio.Future[list[str]]) -> None:
        """Feed the recogniser on a 20 ms media clock until the utterance ends, time runs out, the
        caller hangs up or the grammar turns out to have unknown words."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        hard_stop = started + timeout_s + self.max_speech_s
        fed = 0
        while not recogniser.ended:
            now = loop.time()
            if leg.ended or leg.call.ended is not None or now >= hard_stop or (
                    now - started >= timeout_s and not recogniser.heard_speech) or (
                    prepared.done() and (prepared.exception() or prepared.result())):
                break
            due = int((now - started) / PTIME) - fed  # more than one after the loop was held up
            for _ in range(due):
                frame = rtp.jitter.pop(FRAME_SAMPLES)
                recogniser.feed((_SILENCE if frame is None else frame).tobytes())
            fed += due
            await asyncio.sleep(PTIME)
        recogniser.finish()

    async def _unfork(self, call: Call, leg: Leg, rtp: RtpLeg) -> None:
        """Close the leg and ask rtpengine to stop forking to it (the call's deletion would end it too)."""
        self.listening.pop(call.id, None)
        _close(rtp)
        ng = getattr(call.anchor, "ng", None)
        if ng is None or leg.ended or call.ended is not None:
            return  # the caller's media is being (or has been) deleted with the call
        try:
            await ng.request("unsubscribe", {"call-id": call.id, "to-tag": str(rtp.participant)})
        except Exception as exc:  # the fork then lasts as long as the call: harmless, the port is closed
            log.info("speech fork not removed: %s", exc, extra={"call_id": call.id})


def _consume(future: asyncio.Future[list[str]]) -> None:
    """Retrieve an abandoned future's outcome (a failure is not worth a warning: the call is gone)."""
    if not future.cancelled():
        future.exception()


def _worker_started() -> None:
    """In each decoding process: Ctrl-C reaches the whole process group, but stopping is tongdai's
    to do (it shuts the pool down), so the workers ignore SIGINT."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _close(rtp: RtpLeg) -> None:
    if rtp.transport is not None:
        rtp.transport.close()
