"""Speech recognition with a closed grammar: espeak-ng words through G.711 into pocketsphinx."""

from __future__ import annotations

import numpy as np
import pytest

from tests.media.speech_audio import needs_espeak_and_sox, spoken
from tongdai.media import g711, speech
from tongdai.media.speech import (
    FRAME,
    EnergyEndpointer,
    Recogniser,
    UnknownWords,
    UnsupportedLanguage,
    confidence,
    grammar,
    known_word,
    supports_language,
    upsample,
)

MENU = ["sales", "support", "billing"]
RATE = 8000
#: a menu re-prompts below this (the flow's default threshold)
THRESHOLD = 0.5


def telephone(samples: np.ndarray, lead_s: float = 0.3, tail_s: float = 1.0) -> bytes:
    """Samples as a caller sends them: quiet before and after, through a mu-law round trip."""
    padded = np.concatenate([np.zeros(int(lead_s * RATE), np.int16), samples, np.zeros(int(tail_s * RATE), np.int16)])
    return g711.decode(g711.Codec.PCMU, g711.encode(g711.Codec.PCMU, padded)).astype("<i2").tobytes()


def recognise(pcm: bytes, words: list[str] = MENU, chunk: int = 320) -> tuple[str, float] | None:
    """Feed `pcm` in 20 ms packets as RTP would bring it, then decode."""
    rec = Recogniser(words)
    for i in range(0, len(pcm), chunk):
        if rec.feed(pcm[i:i + chunk]):
            break
    rec.finish()
    return rec.result()


def tone(freq: float, seconds: float, amplitude: float = 8000) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


# --- the closed grammar and its words ---------------------------------------------------------------

def test_known_word_is_true_for_dictionary_words_and_phrases_and_false_otherwise():
    assert known_word("sales") and known_word("Billing") and known_word("customer service")
    assert not known_word("zzqxv") and not known_word("") and not known_word("sales zzqxv")


def test_given_a_word_the_dictionary_lacks_when_building_the_grammar_then_it_is_refused_naming_the_word():
    with pytest.raises(UnknownWords) as err:
        Recogniser(["sales", "zzqxv"])
    assert err.value.details == {"words": ["zzqxv"]} and err.value.error_id == "speech_unknown_words"


def test_only_english_has_a_model():
    assert supports_language("en") and supports_language("en-US") and supports_language("en_gb")
    assert not supports_language("vi") and not supports_language("zh-CN")
    with pytest.raises(UnsupportedLanguage):
        Recogniser(MENU, language="vi")


def test_grammar_is_one_rule_with_exactly_the_given_words():
    assert grammar(["Sales", "customer  service"]).endswith("public <choice> = sales | customer service;\n")


def test_upsample_doubles_the_rate_keeping_the_samples_and_interpolating_between_them():
    x = np.array([0, 1000, -1000, 500], np.int16)
    y = np.frombuffer(upsample(x), "<i2").astype(int)
    assert len(y) == 8
    assert np.all(np.abs(y[0::2] - x) <= 12)  # only the dither's few LSB apart
    assert abs(y[1] - 500) <= 12 and abs(y[3] - 0) <= 12


def test_confidence_is_high_for_a_clear_fit_and_halved_by_a_tie_and_zero_without_alignment():
    assert confidence({"sales": -20.0, "billing": -50.0}, "sales") > 0.95
    tie = confidence({"sales": -20.0, "billing": -20.0}, "sales")
    assert 0.45 < tie < 0.55
    assert confidence({"sales": -55.0, "billing": None}, "sales") < 0.01
    assert confidence({"sales": None}, "sales") == 0.0


def test_confidence_falls_when_a_free_phone_loop_fits_much_better_than_the_grammar():
    scores = {"sales": -20.0, "billing": -50.0}
    assert confidence(scores, "sales", against_phones=5.0) > 0.95
    assert confidence(scores, "sales", against_phones=-15.0) < 0.01


# --- the endpointer ---------------------------------------------------------------------------------

def frames(samples: np.ndarray) -> list[np.ndarray]:
    return [samples[i:i + FRAME] for i in range(0, len(samples) - FRAME + 1, FRAME)]


def test_endpointer_takes_a_line_that_starts_loud_for_its_noise_floor():
    ep = EnergyEndpointer()
    for f in frames(tone(300, 1.0)):
        ep.frame(f)
    assert ep.start is None


def test_endpointer_finds_a_burst_between_quiet_stretches_to_the_frame():
    ep = EnergyEndpointer(end_silence_frames=10)
    audio = np.concatenate([np.zeros(RATE // 2, np.int16), tone(300, 0.4), np.zeros(RATE, np.int16)])
    for f in frames(audio):
        ep.frame(f)
    assert ep.start == 25 and ep.end == 45  # 0.5 s of quiet = 25 frames, 0.4 s of tone = 20 frames


def test_endpointer_ignores_a_click_shorter_than_its_start_run():
    ep = EnergyEndpointer()
    for f in frames(np.concatenate([np.zeros(RATE // 2, np.int16), tone(300, 0.04), np.zeros(RATE, np.int16)])):
        ep.frame(f)
    assert ep.start is None and not ep.ended


def test_endpointer_learns_a_steady_noise_floor_and_only_hears_speech_above_it():
    rng = np.random.default_rng(7)
    hum = rng.normal(0, 300, RATE * 2).astype(np.int16)  # about -40 dBFS: louder than min_db
    ep = EnergyEndpointer()
    for f in frames(hum[:RATE]):
        ep.frame(f)
    assert ep.start is None
    speech = hum[RATE:] + tone(300, 1.0, 6000)
    for f in frames(speech):
        ep.frame(f)
    assert ep.start == 50


def test_endpointer_ends_speech_that_goes_on_past_its_maximum():
    ep = EnergyEndpointer(max_frames=50)
    for f in frames(np.concatenate([np.zeros(RATE // 5, np.int16), tone(300, 3.0)])):
        ep.frame(f)
    assert ep.start == 10 and ep.end == 60


def test_finish_ends_an_utterance_in_progress_where_the_loud_frames_stop():
    ep = EnergyEndpointer()
    for f in frames(np.concatenate([np.zeros(RATE // 5, np.int16), tone(300, 0.5), np.zeros(RATE // 5, np.int16)])):
        ep.frame(f)
    assert ep.in_speech
    ep.finish()
    assert ep.ended and ep.end == 35


def test_recogniser_keeps_the_speech_with_its_margins_across_odd_sized_chunks():
    audio = np.concatenate([np.zeros(RATE, np.int16), tone(300, 0.5), np.zeros(RATE, np.int16)]).tobytes()
    rec = Recogniser(MENU, margin_s=0.1)
    for i in range(0, len(audio), 222):  # not a multiple of a frame
        rec.feed(audio[i:i + 222])
    assert rec.ended
    assert len(rec.utterance()) == int(0.7 * RATE)


def test_silence_gives_no_answer_without_decoding():
    rec = Recogniser(MENU)
    assert not rec.feed(np.zeros(RATE * 2, np.int16).tobytes())
    rec.finish()
    assert not rec.heard_speech and rec.result() is None


# --- real speech ------------------------------------------------------------------------------------

@needs_espeak_and_sox
@pytest.mark.parametrize("word", MENU)
def test_each_menu_word_spoken_through_g711_is_recognised_with_high_confidence(tmp_path, word):
    result = recognise(telephone(spoken(word, tmp_path)))
    assert result is not None
    heard, sure = result
    assert heard == word
    assert sure >= 0.6  # "sales" scores 0.65, "support" and "billing" 0.99 and more


@needs_espeak_and_sox
@pytest.mark.parametrize("word", ["hello", "banana", "yes"])  # "weather" is a known false accept: docs/speech.md
def test_a_word_outside_the_grammar_gives_no_answer_or_a_confidence_below_the_threshold(tmp_path, word):
    result = recognise(telephone(spoken(word, tmp_path)))
    assert result is None or result[1] < THRESHOLD


@needs_espeak_and_sox
def test_an_answer_does_not_depend_on_the_utterances_decoded_before_it(tmp_path):
    """Decoders are cached per grammar (in each worker process): their state must not carry over."""
    utterances = {}
    for word in ("billing", "hello", "support"):
        rec = Recogniser(MENU)
        rec.feed(telephone(spoken(word, tmp_path)))
        rec.finish()
        utterances[word] = rec.utterance().tobytes()
    words = tuple(MENU)
    for word in ("billing", "support"):
        speech.recognise(words, utterances[word])  # the cached decoder has heard others
    for word in ("hello", "billing"):
        fresh = speech.decode(speech._decoder(words), words, upsample(np.frombuffer(utterances[word], np.int16)))
        assert speech.recognise(words, utterances[word]) == fresh


@needs_espeak_and_sox
def test_one_decoder_serves_many_grammars_dropping_the_least_recently_used(tmp_path):
    engine = speech._decoder(())
    engine.MAX_GRAMMARS = 2
    rec = Recogniser(MENU)
    rec.feed(telephone(spoken("support", tmp_path)))
    rec.finish()
    pcm = upsample(rec.utterance())
    first = speech.decode(engine, tuple(MENU), pcm)
    speech.decode(engine, ("orders", "returns"), pcm)
    engine.search(tuple(MENU))  # used again: now the most recent
    speech.decode(engine, ("yes", "no"), pcm)
    assert set(engine.searches) == {tuple(MENU), ("yes", "no")}
    assert speech.decode(engine, tuple(MENU), pcm) == first and first is not None and first[0] == "support"


def test_white_noise_gives_no_answer_or_a_confidence_below_the_threshold():
    noise = np.random.default_rng(3).normal(0, 6000, RATE).astype(np.int16)
    rec = Recogniser(MENU)
    rec.feed(telephone(noise))
    rec.finish()
    assert rec.heard_speech  # loud enough to be decoded: the grammar, not the endpointer, rejects it
    result = rec.result()
    assert result is None or result[1] < THRESHOLD


@needs_espeak_and_sox
def test_the_answer_is_ready_as_soon_as_the_caller_has_been_quiet_for_the_end_silence(tmp_path):
    pcm = telephone(spoken("sales", tmp_path), lead_s=0.3, tail_s=5.0)
    rec = Recogniser(MENU, end_silence_s=0.6)
    fed = 0
    while not rec.feed(pcm[fed:fed + 320]):
        fed += 320
    speech_end = 0.3 + len(spoken("sales", tmp_path)) / RATE
    assert fed / 2 / RATE < speech_end + 0.7  # ended within the end silence (and a frame) of the word
    assert rec.result() == ("sales", pytest.approx(rec.result()[1]))
