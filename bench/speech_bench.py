"""Speech recognition benchmark: accuracy on espeak-ng voices, decode cost, and the event loop's lag.

Run: `.venv/bin/python bench/speech_bench.py [--json OUT] [--runs 5]` or
`.venv/bin/python -m pytest bench/speech_bench.py -m bench -s`. CPU figures are medians of `--runs`
runs, each beside its peer in the same run: pocketsphinx's own closed-grammar decode (what an
integration without confidence scoring does) and its large-vocabulary en-us language model.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types
import wave
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from tongdai.media import g711, speech
from tongdai.media.speech import Recogniser, upsample

MENU = ("sales", "support", "billing")
BIG_MENU = ("sales", "support", "billing", "orders", "returns", "delivery", "account", "manager", "operator")
OTHERS = ("hello", "weather", "banana", "yes", "bill", "port")
VOICES = ("en", "en-us", "en+f3", "en-gb-x-rp")
THRESHOLD = 0.5
RATE = 8000


def spoken(text: str, voice: str, directory: Path) -> np.ndarray:
    """espeak-ng at its own rate, sox (no dither) to 8 kHz, a mu-law round trip, quiet either side."""
    raw, out = directory / "raw.wav", directory / "out.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(raw), text], check=True, timeout=60)
    subprocess.run(["sox", "-D", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(out)], check=True, timeout=60)
    with wave.open(str(out)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    quiet = np.zeros(RATE // 2, np.int16)
    padded = np.concatenate([quiet, pcm, quiet, quiet])
    return g711.decode(g711.Codec.PCMU, g711.encode(g711.Codec.PCMU, padded)).astype(np.int16)


def endpointed(samples: np.ndarray, words: tuple[str, ...] = MENU) -> np.ndarray:
    rec = Recogniser(words)
    rec.feed(samples.tobytes())
    rec.finish()
    return rec.utterance()


def corpus(directory: Path) -> dict[tuple[str, str], np.ndarray]:
    """(voice, word) -> the endpointed utterance at 8 kHz."""
    return {(v, w): endpointed(spoken(w, v, directory)) for v in VOICES for w in MENU + OTHERS}


# ---------------------------------------------------------------------------------------------- accuracy


def accuracy(utterances: dict[tuple[str, str], np.ndarray]) -> dict[str, object]:
    """Menu words heard right with confidence >= THRESHOLD; other words accepted (a false accept)."""
    rows = {f"{v}/{w}": speech.recognise(MENU, u.tobytes()) if len(u) else None for (v, w), u in utterances.items()}
    by_threshold = {}
    for threshold in (THRESHOLD, 0.7, 0.9):
        right = [k for k, r in rows.items()
                 if k.split("/")[1] in MENU and r and r[0] == k.split("/")[1] and r[1] >= threshold]
        accepted = [k for k, r in rows.items() if k.split("/")[1] in OTHERS and r and r[1] >= threshold]
        by_threshold[str(threshold)] = {"menu_words_right": f"{len(right)}/{len(VOICES) * len(MENU)}",
                                        "other_words_accepted": f"{len(accepted)}/{len(VOICES) * len(OTHERS)}",
                                        "accepted": accepted}
    return {"results": {k: list(r) if r else None for k, r in rows.items()}, "by_threshold": by_threshold}


# ---------------------------------------------------------------------------------------------- cost


def _cpu(fn: Callable[[], object]) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def plain_grammar_decoder(words: tuple[str, ...]):  # type: ignore[no-untyped-def]
    """The peer: pocketsphinx's closed-grammar decode alone (no confidence passes)."""
    from pocketsphinx import Decoder

    decoder = Decoder(lm=None, loglevel="FATAL", samprate=16000)
    decoder.add_jsgf_string("menu", speech.grammar(words))
    decoder.activate_search("menu")
    return decoder


def large_vocabulary_decoder():  # type: ignore[no-untyped-def]
    """The other peer: pocketsphinx with its bundled en-us language model (open vocabulary)."""
    from pocketsphinx import Decoder

    return Decoder(loglevel="FATAL", samprate=16000)


def _decode_plain(decoder, pcm16k: bytes) -> None:  # type: ignore[no-untyped-def]
    decoder.start_utt()
    decoder.process_raw(pcm16k, full_utt=True)
    decoder.end_utt()
    decoder.hyp()


def cost(utterances: list[np.ndarray], runs: int) -> dict[str, object]:
    """CPU seconds per second of audio (real-time factor) for tongdai's recognise and its peers, and
    the cost of loading a decoder and of endpointing."""
    audio_s = sum(len(u) for u in utterances) / RATE
    pcm16 = [upsample(u) for u in utterances]
    plain, large = plain_grammar_decoder(MENU), large_vocabulary_decoder()
    speech.recognise(MENU, utterances[0].tobytes())
    speech.recognise(BIG_MENU, utterances[0].tobytes())  # decoders loaded outside the timing
    cases: dict[str, Callable[[], object]] = {
        "tongdai_3_words": lambda: [speech.recognise(MENU, u.tobytes()) for u in utterances],
        "tongdai_9_words": lambda: [speech.recognise(BIG_MENU, u.tobytes()) for u in utterances],
        "pocketsphinx_grammar_only": lambda: [_decode_plain(plain, p) for p in pcm16],
        "pocketsphinx_en_us_lm": lambda: [_decode_plain(large, p) for p in pcm16],
    }
    per_run: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, fn in cases.items():  # side by side in every run
            per_run[name].append(_cpu(fn) / audio_s)
    rtf = {name: statistics.median(v) for name, v in per_run.items()}
    feed = np.concatenate(utterances + [np.zeros(RATE * 10, np.int16)])
    endpoint_cpu = statistics.median(_cpu(lambda: Recogniser(MENU, check_words=False).feed(feed.tobytes()))
                                     for _ in range(runs))
    load = statistics.median(_cpu(lambda: speech._decoder(MENU)) for _ in range(runs))
    return {
        "audio_s": round(audio_s, 2), "utterances": len(utterances),
        "cpu_s_per_audio_s": {k: round(v, 4) for k, v in rtf.items()},
        "ratio_tongdai_3_words_to_grammar_only": round(rtf["tongdai_3_words"] / rtf["pocketsphinx_grammar_only"], 2),
        "ratio_tongdai_3_words_to_en_us_lm": round(rtf["tongdai_3_words"] / rtf["pocketsphinx_en_us_lm"], 2),
        "cpu_ms_per_utterance_3_words": round(1000 * rtf["tongdai_3_words"] * audio_s / len(utterances), 1),
        "answers_per_cpu_second_3_words": round(len(utterances) / (rtf["tongdai_3_words"] * audio_s), 1),
        "endpointing_cpu_s_per_audio_s": round(endpoint_cpu / (len(feed) / RATE), 5),
        "decoder_load_cpu_s": round(load, 3),
    }


# ---------------------------------------------------------------------------------------------- event loop


async def _lag_while(executor: Executor, jobs: int, pcm: bytes) -> dict[str, float]:
    """The event loop's lag (a 5 ms sleep's overshoot) while `jobs` decodes run on `executor`."""
    loop = asyncio.get_running_loop()
    lags: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            t = loop.time()
            await asyncio.sleep(0.005)
            lags.append(loop.time() - t - 0.005)

    await loop.run_in_executor(executor, speech.recognise, MENU, pcm)  # workers warm, decoders loaded
    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.2)
    lags.clear()
    started = time.perf_counter()
    await asyncio.gather(*(loop.run_in_executor(executor, speech.recognise, MENU, pcm) for _ in range(jobs)))
    wall = time.perf_counter() - started
    done.set()
    await task
    return {"p50_ms": round(1000 * float(np.percentile(lags, 50)), 1),
            "p99_ms": round(1000 * float(np.percentile(lags, 99)), 1),
            "max_ms": round(1000 * max(lags), 1), "decodes_per_s": round(jobs / wall, 1)}


def loop_lag(utterance: np.ndarray, jobs: int = 20) -> dict[str, object]:
    """Decoding on threads (pocketsphinx holds the GIL) against worker processes, as `listen` does."""
    pcm = utterance.tobytes()
    out: dict[str, object] = {}
    for workers in (1, 2):
        with ThreadPoolExecutor(workers) as threads:
            out[f"threads_{workers}"] = asyncio.run(_lag_while(threads, jobs, pcm))
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as processes:
            out[f"processes_{workers}"] = asyncio.run(_lag_while(processes, jobs, pcm))
    return out


# ---------------------------------------------------------------------------------------------- listening


async def _listening(callers: int, seconds: float) -> float:
    """CPU seconds of this process while `callers` listens run their 20 ms media clocks on silence."""
    from tongdai.calls.speech import SpeechRecognition
    from tongdai.media.dsp_worker import Leg as RtpLeg
    from tongdai.media.g711 import Codec

    service = SpeechRecognition()
    loop = asyncio.get_running_loop()
    idle = types.SimpleNamespace(ended=False, call=types.SimpleNamespace(ended=None))
    prepared: asyncio.Future[list[str]] = loop.create_future()  # never done: the grammar is fine
    hears = [service._hear(Recogniser(MENU, check_words=False), RtpLeg(i, "speech", Codec.PCMU),
                           idle, seconds, prepared) for i in range(callers)]  # type: ignore[arg-type]
    started = time.process_time()
    await asyncio.gather(*hears)
    return time.process_time() - started


def listening_cost(callers: int = 100, seconds: float = 5.0, runs: int = 3) -> dict[str, float]:
    """The event loop's CPU per caller being listened to (media clock, jitter buffer, endpointer)."""
    cpu = statistics.median(asyncio.run(_listening(callers, seconds)) for _ in range(runs))
    return {"callers": callers, "seconds": seconds, "cpu_share_of_a_core": round(cpu / seconds, 3),
            "cpu_share_per_caller_percent": round(100 * cpu / seconds / callers, 3)}


# ---------------------------------------------------------------------------------------------- main


def run(runs: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        utterances = corpus(Path(tmp))
    menu_default = [utterances[("en", w)] for w in MENU] * 3
    return {
        "date": datetime.now(UTC).date().isoformat(), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(), "runs": runs,
        "accuracy": accuracy(utterances),
        "cost": cost(menu_default, runs),
        "event_loop": loop_lag(utterances[("en", "support")]),
        "listening": listening_cost(runs=runs),
    }


@pytest.mark.bench
def test_speech_benchmark(tmp_path: Path) -> None:
    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        pytest.skip("espeak-ng and sox are needed")
    data = run(3)
    print(json.dumps(data, indent=2))
    assert data["cost"]["cpu_s_per_audio_s"]["tongdai_3_words"] > 0  # type: ignore[index]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    result = run(args.runs)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)
    sys.exit(0)
