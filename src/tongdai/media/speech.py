"""Speech recognition for IVR menus: a closed grammar of a few words, pocketsphinx, and a confidence.

Telephone audio (16-bit linear, 8 kHz) goes through an energy endpointer (pure: speech starts when a
frame's energy rises well above the noise floor, ends after `end_silence_s` of quiet), so an answer
is ready soon after the caller stops talking. The utterance, with a short margin either side, is
upsampled to 16 kHz (pocketsphinx's bundled en-us model is wideband) and decoded:

1. a JSGF grammar made of the given words only says whether any of them fits (else None);
2. each word of the grammar is force-aligned against the same audio; pocketsphinx reports a word's
   acoustic score relative to the best-scoring senone of each frame, so its per-frame average is
   near 0 for audio that fits the word and strongly negative for audio that does not; the word
   that fits best is the answer (steadier than the grammar search's own pick);
3. the confidence is `fit * margin * loop`, three logistics: `fit` of the answer's per-frame
   alignment score, `margin` of how much better it fits than the next best word, `loop` of the
   grammar path's score against a free phone loop's (words outside the grammar fit a phone loop
   far better). The constants are calibrated on espeak-ng voices through G.711 (docs/speech.md
   gives the accuracy this reaches, and where it fails).

Only English has a model (pocketsphinx ships en-us); other languages raise `UnsupportedLanguage`.
Decoding is CPU work that holds the GIL (docs/speech.md gives its cost): the asyncio shell
(`calls.speech`) endpoints on the event loop and decodes in worker processes with `recognise`.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from tongdai.core.errors import InvalidInput

RATE = 8000
FRAME = 160  # 20 ms at 8 kHz: the endpointer's frame
#: logistic of the hypothesis's per-frame alignment score: 0.5 at FIT_CENTRE, steeper with a smaller FIT_SCALE
FIT_CENTRE, FIT_SCALE = -42.0, 2.5
#: logistic of the score margin over the next best word: 0.5 for a tie
MARGIN_SCALE = 1.5
#: logistic of the grammar's path score minus a free phone loop's, per frame: words outside the
#: grammar fit a phone loop much better than any grammar path
PHONES_CENTRE, PHONES_SCALE = -6.0, 1.5
_WORD = re.compile(r"^[a-z][a-z'.-]*$")


class UnsupportedLanguage(InvalidInput):
    """No acoustic model for this language (only English ships with pocketsphinx)."""

    error_id = "speech_language_unsupported"


class UnknownWords(InvalidInput):
    """A grammar word the pronunciation dictionary lacks: it could never be recognised."""

    error_id = "speech_unknown_words"


def supports_language(language: str) -> bool:
    """Whether speech can be recognised in `language` (a BCP 47 tag: `en`, `en-US`, ...)."""
    return language.lower().replace("_", "-").split("-")[0] == "en"


def _model_dir() -> Path:
    from pocketsphinx import get_model_path  # imported late: loading the extension costs startup time

    return Path(get_model_path("en-us"))


@functools.cache
def _dictionary() -> frozenset[str]:
    """The words of the bundled en-us pronunciation dictionary (alternates like `word(2)` folded)."""
    words = set()
    with open(_model_dir() / "cmudict-en-us.dict", encoding="utf-8") as f:
        for line in f:
            words.add(line.split(" ", 1)[0].split("(", 1)[0])
    return frozenset(words)


def tokens(phrase: str) -> list[str]:
    """The dictionary words of a grammar entry (an entry may be a short phrase)."""
    return phrase.lower().split()


def known_word(word: str) -> bool:
    """Whether every word of `word` (a word or a short phrase) is in the en-us dictionary."""
    parts = tokens(word)
    return bool(parts) and all(_WORD.match(p) is not None and p in _dictionary() for p in parts)


def grammar(words: Sequence[str]) -> str:
    """A JSGF grammar whose one public rule is exactly one of `words`."""
    alternatives = " | ".join(" ".join(tokens(w)) for w in words)
    return f"#JSGF V1.0;\ngrammar menu;\npublic <choice> = {alternatives};\n"


def upsample(pcm8k: npt.NDArray[np.int16]) -> bytes:
    """8 kHz -> 16 kHz by linear interpolation (as `audioop.ratecv` does), 16-bit little-endian bytes.

    The 4-8 kHz band stays nearly empty; a little fixed-seed dither keeps digital silence (G.711
    silence decodes to exact zeros) from driving the filterbank's log energies to their floor, which
    throws the model off.
    """
    x = pcm8k.astype(np.float32)
    y = np.empty(2 * len(x), np.float32)
    y[0::2] = x
    y[1::2] = (x + np.append(x[1:], x[-1:])) / 2
    y += np.random.default_rng(0).normal(0.0, 3.0, len(y)).astype(np.float32)
    return np.clip(np.rint(y), -32768, 32767).astype("<i2").tobytes()


def confidence(scores: dict[str, float | None], hypothesis: str, against_phones: float | None = None) -> float:
    """Confidence 0..1 of `hypothesis` from each word's per-frame alignment score (None: no alignment)
    and how the closed grammar's path scores against a free phone loop's (per frame; None: unknown)."""
    own = scores.get(hypothesis)
    if own is None:
        return 0.0
    others = [s for w, s in scores.items() if w != hypothesis and s is not None]
    fit = _logistic((own - FIT_CENTRE) / FIT_SCALE)
    margin = _logistic((own - max(others)) / MARGIN_SCALE) if others else 1.0
    loop = _logistic((against_phones - PHONES_CENTRE) / PHONES_SCALE) if against_phones is not None else 1.0
    return round(fit * margin * loop, 3)


def _logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, x))))


@dataclass(slots=True)
class EnergyEndpointer:
    """Speech start and end by frame energy against an adaptive noise floor (pure; 20 ms frames)."""

    end_silence_frames: int = 30  # 600 ms of quiet ends the utterance
    start_frames: int = 3  # 60 ms above the threshold starts it
    rise_db: float = 12.0  # above the noise floor
    min_db: float = -48.0  # dBFS: never call quieter frames speech
    max_frames: int = 250  # 5 s of speech at most
    learn_frames: int = 5  # the first 100 ms only measure the line's noise floor
    floor_db: float = 0.0
    frames: int = 0
    loud_run: int = 0
    quiet_run: int = 0
    start: int | None = None  # frame index where speech began
    end: int | None = None  # frame index after the last loud frame, once the utterance is over

    @property
    def in_speech(self) -> bool:
        """Speech began and has not ended."""
        return self.start is not None and self.end is None

    @property
    def ended(self) -> bool:
        """An utterance began and ended."""
        return self.end is not None

    def frame(self, samples: npt.NDArray[np.int16]) -> None:
        """Take one 20 ms frame."""
        level = _dbfs(samples)
        loud = level > max(self.min_db, self.floor_db + self.rise_db)
        self.frames += 1
        if self.frames <= self.learn_frames:
            self.floor_db = min(self.floor_db, level)
            return
        if self.ended:
            return
        if self.start is None:
            self._before_speech(level, loud)
        else:
            self._in_speech(loud)

    def finish(self) -> None:
        """No more audio (time is up): an utterance in progress ends here."""
        if self.in_speech:
            self.end = self.frames - self.quiet_run

    def _before_speech(self, level: float, loud: bool) -> None:
        self.loud_run = self.loud_run + 1 if loud else 0
        if self.loud_run >= self.start_frames:
            self.start = self.frames - self.loud_run
        elif not loud:
            # the floor falls at once and rises slowly, so a slow swell is not taken for background
            self.floor_db = level if level < self.floor_db else 0.95 * self.floor_db + 0.05 * level

    def _in_speech(self, loud: bool) -> None:
        assert self.start is not None
        self.quiet_run = 0 if loud else self.quiet_run + 1
        if self.quiet_run >= self.end_silence_frames:
            self.end = self.frames - self.quiet_run
        elif self.frames - self.start >= self.max_frames:
            self.end = self.frames


def _dbfs(samples: npt.NDArray[np.int16]) -> float:
    rms = math.sqrt(float(np.mean(np.square(samples.astype(np.float64))))) if len(samples) else 0.0
    return 20 * math.log10(max(rms, 1e-3) / 32768)


class Recogniser:
    """One caller's answer to one menu: feed 8 kHz audio, then `result()` decodes the utterance.

    Feeding only endpoints and buffers (cheap, fine on the event loop). `result()` decodes in this
    process; the asyncio shell instead sends `utterance()` to a worker process (`recognise`), since
    pocketsphinx holds the GIL while it decodes.
    """

    def __init__(self, words: Sequence[str], language: str = "en", *, end_silence_s: float = 0.6,
                 margin_s: float = 0.2, max_speech_s: float = 5.0, check_words: bool = True) -> None:
        if not supports_language(language):
            raise UnsupportedLanguage(f"no speech model for language {language!r}", details={"language": language})
        self.words = normalised(words)
        if check_words:
            _refuse_unknown(self.words)
        self.endpointer = EnergyEndpointer(end_silence_frames=max(1, round(end_silence_s / 0.02)),
                                           max_frames=max(1, round(max_speech_s / 0.02)))
        self.margin = round(margin_s * RATE)
        self._audio: list[npt.NDArray[np.int16]] = []
        self._pending = np.zeros(0, np.int16)
        self._result: tuple[str, float] | None = None
        self._decoded = False

    @property
    def ended(self) -> bool:
        """The caller spoke and stopped: `result()` can be called."""
        return self.endpointer.ended

    @property
    def heard_speech(self) -> bool:
        """Speech began (ended or not)."""
        return self.endpointer.start is not None

    def feed(self, pcm8k: bytes) -> bool:
        """Take audio (16-bit linear, 8 kHz, native order); True once the utterance has ended."""
        if self.ended:
            return True
        samples = np.concatenate([self._pending, np.frombuffer(pcm8k, np.int16)])
        whole = len(samples) // FRAME * FRAME
        for i in range(0, whole, FRAME):
            self.endpointer.frame(samples[i:i + FRAME])
        self._pending = samples[whole:].copy()
        if whole:
            self._audio.append(samples[:whole].copy())
        return self.ended

    def finish(self) -> None:
        """No more audio is coming: an utterance in progress ends where the audio does."""
        self.endpointer.finish()

    def utterance(self) -> npt.NDArray[np.int16]:
        """The endpointed speech at 8 kHz with `margin_s` either side (empty when nobody spoke, or
        when it was under 100 ms: a click, not a word)."""
        ep = self.endpointer
        if ep.start is None or ep.end is None or ep.end - ep.start < 5:
            return np.zeros(0, np.int16)
        audio = np.concatenate(self._audio) if self._audio else np.zeros(0, np.int16)
        return audio[max(0, ep.start * FRAME - self.margin):ep.end * FRAME + self.margin]

    def result(self) -> tuple[str, float] | None:
        """The word heard and its confidence, or None (nobody spoke, or nothing in the grammar fits).

        Blocking CPU work that holds the GIL: asyncio code sends `utterance()` to `recognise` in a
        worker process instead.
        """
        if not self._decoded:
            self._decoded = True
            speech = self.utterance()
            if len(speech):
                self._result = recognise(tuple(self.words), speech.tobytes())
        return self._result


def normalised(words: Sequence[str]) -> list[str]:
    """Grammar entries as the decoder spells them (lower case, single spaces); at least one."""
    if not words:
        raise InvalidInput("a speech grammar needs at least one word")
    return [" ".join(tokens(w)) for w in words]


def unknown_words(words: Sequence[str]) -> list[str]:
    """The entries of `words` the pronunciation dictionary lacks."""
    return [w for w in words if not known_word(w)]


def _refuse_unknown(words: Sequence[str]) -> None:
    unknown = unknown_words(words)
    if unknown:
        raise UnknownWords(f"not in the pronunciation dictionary: {', '.join(unknown)}", details={"words": unknown})


_lock = threading.Lock()  # a decoder is not thread-safe: one decode at a time per process


def prepare(words: tuple[str, ...]) -> list[str]:
    """Load the decoder and add the grammar's search ahead of its first utterance; the words it
    cannot have (then nothing is loaded). Runs in a worker process."""
    unknown = unknown_words(words)
    if not unknown:
        with _lock:
            _cached_decoder(words)
    return unknown


def recognise(words: tuple[str, ...], pcm8k: bytes) -> tuple[str, float] | None:
    """Decode one endpointed utterance (16-bit, 8 kHz) against the closed grammar `words` (normalised,
    known), with this process's decoder."""
    with _lock:
        return decode(_cached_decoder(words), words, upsample(np.frombuffer(pcm8k, np.int16)))


def recognise_timed(words: tuple[str, ...], pcm8k: bytes) -> tuple[tuple[str, float] | None, float]:
    """`recognise` and the CPU seconds it took (for a worker process to report its cost)."""
    started = time.process_time()
    result = recognise(words, pcm8k)
    return result, time.process_time() - started


def _cached_decoder(words: tuple[str, ...]):  # type: ignore[no-untyped-def]
    """This process's decoder, with the grammar of `words` among its searches."""
    _refuse_unknown(words)
    engine = _engine()
    engine.search(words)
    return engine


@functools.cache
def _engine():  # type: ignore[no-untyped-def]
    # One decoder per process: each loads the acoustic model and dictionary (about 35 MB), grammars
    # are only searches on it.
    return _decoder(())


class _Decoder:
    """A pocketsphinx decoder, the model's initial cepstral mean (the extension type takes no
    attributes) and a search per grammar, the least recently used dropped past `MAX_GRAMMARS`."""

    MAX_GRAMMARS = 256

    def __init__(self, decoder) -> None:  # type: ignore[no-untyped-def]
        self.decoder, self.initial_cmn = decoder, str(decoder.get_cmn())
        self.searches: dict[tuple[str, ...], str] = {}
        self._names = itertools.count()

    def search(self, words: Sequence[str]) -> str:
        """The name of the closed-grammar search of `words` (added when new)."""
        key = tuple(words)
        name = self.searches.pop(key, None)
        if name is None:
            name = f"menu{next(self._names)}"
            self.decoder.add_jsgf_string(name, grammar(words))
            if len(self.searches) >= self.MAX_GRAMMARS:
                self.decoder.remove_search(self.searches.pop(next(iter(self.searches))))
        self.searches[key] = name  # re-inserted: the dict's order is the order of use
        return name

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.decoder, name)


def _decoder(words: Sequence[str]):  # type: ignore[no-untyped-def]
    """A pocketsphinx decoder with the bundled en-us model, a free phone loop and (when `words` are
    given) the closed grammar of `words`."""
    from pocketsphinx import Decoder

    # FATAL only: "final result does not match the grammar" is an ordinary no-match, not an error
    decoder = Decoder(lm=None, loglevel="FATAL", samprate=16000)
    decoder.add_allphone_file("phones", str(_model_dir() / "en-us-phone.lm.bin"))
    decoder.activate_search("phones")
    engine = _Decoder(decoder)
    if words:
        engine.search(words)
    return engine


def decode(decoder, words: Sequence[str], pcm16k: bytes) -> tuple[str, float] | None:  # type: ignore[no-untyped-def]
    """The word heard in the utterance and its confidence, or None (see the module's text).

    The closed grammar's decode says whether any word of the grammar fits at all; the alignment
    scores say which one fits best and how clearly (they are steadier than the grammar's own pick,
    which flips between similar words on a few LSB of noise).
    """
    search = decoder.search(words)
    decoder.activate_search(search)
    mean = cepstral_mean(decoder, pcm16k)
    _run(decoder, pcm16k, mean)
    hyp = decoder.hyp()
    heard = hyp.hypstr.strip() if hyp is not None else ""
    if heard not in words:
        return None
    grammar_score = _per_frame(decoder, hyp)
    scores = {w: alignment_score(decoder, w, pcm16k, mean) for w in words}
    decoder.activate_search("phones")
    _run(decoder, pcm16k, mean)
    phone_loop = _per_frame(decoder, decoder.hyp())
    decoder.activate_search(search)
    best = max(words, key=lambda w: _or_worst(scores[w]))
    return best, confidence(scores, best, grammar_score - phone_loop if grammar_score and phone_loop else None)


def _per_frame(decoder, hyp) -> float | None:  # type: ignore[no-untyped-def]
    """A search's path score per frame, in pocketsphinx's log units."""
    if hyp is None or not decoder.n_frames():
        return None
    return float(decoder.get_logmath().log(hyp.best_score)) / int(decoder.n_frames())


def _or_worst(score: float | None) -> float:
    return -math.inf if score is None else score


def alignment_score(decoder, phrase: str, pcm16k: bytes, mean: str) -> float | None:  # type: ignore[no-untyped-def]
    """Per-frame acoustic score of `phrase` force-aligned to the audio (relative to the best senone
    of each frame: 0 is a perfect fit), over the phrase's own frames; None when it cannot align."""
    decoder.set_align_text(phrase)
    if not _run(decoder, pcm16k, mean) or decoder.hyp() is None:
        return None
    decoder.set_alignment()  # second pass: word, phone and state segmentation with scores
    if not _run(decoder, pcm16k, mean):
        return None
    alignment = decoder.get_alignment()
    names = set(tokens(phrase))
    spans = [w for w in alignment if w.name in names] if alignment is not None else []
    frames = sum(w.duration for w in spans)
    return sum(w.score for w in spans) / frames if frames else None


def cepstral_mean(decoder, pcm16k: bytes) -> str:  # type: ignore[no-untyped-def]
    """The utterance's own cepstral mean, so that every pass starts from it (pocketsphinx's live mean
    otherwise carries over from earlier utterances and passes, and answers would depend on history)."""
    decoder.set_cmn(decoder.initial_cmn)
    decoder.start_utt()
    decoder.process_raw(pcm16k, no_search=True, full_utt=True)
    mean = decoder.get_cmn(True)
    decoder.end_utt()
    return str(mean)


def _run(decoder, pcm16k: bytes, mean: str) -> bool:  # type: ignore[no-untyped-def]
    decoder.set_cmn(mean)
    try:
        decoder.start_utt()
        decoder.process_raw(pcm16k, full_utt=True)
        decoder.end_utt()
    except RuntimeError:  # pocketsphinx raises when an alignment search finds no path
        return False
    return True
