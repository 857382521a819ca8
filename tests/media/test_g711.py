"""G.711 against the ITU-T G.191 STL vectors, bit for bit, and against audioop where the two agree."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from tests.conftest import SHARED_DATA
from tongdai.media import g711
from tongdai.media.g711 import Codec

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

VECTORS = SHARED_DATA / "g711"
LAWS = [(Codec.PCMA, "a"), (Codec.PCMU, "u")]


def _words(name: str) -> np.ndarray:
    """An STL file: one value per 16-bit little-endian word."""
    return np.fromfile(VECTORS / name, dtype="<i2")


@pytest.mark.parametrize(("codec", "suffix"), LAWS)
def test_encoding_the_sweep_matches_the_stl_reference_codes(codec, suffix):
    sweep = _words("sweep.src")
    expected = _words(f"sweep-r.{suffix}")
    assert sweep.size == 65536
    got = g711.encode(codec, sweep)
    assert np.array_equal(got.astype(np.int16), expected)


@pytest.mark.parametrize(("codec", "suffix"), LAWS)
def test_decoding_the_reference_codes_matches_the_stl_decoder(codec, suffix):
    codes = _words(f"sweep-r.{suffix}").astype(np.uint8)
    expected = _words(f"sweep-r.re{suffix}")
    assert np.array_equal(g711.decode(codec, codes), expected)


@pytest.mark.parametrize(("codec", "suffix"), LAWS)
def test_encode_then_decode_matches_the_stl_round_trip(codec, suffix):
    sweep = _words("sweep.src")
    expected = _words(f"sweep-r.{suffix}-{suffix}")
    assert np.array_equal(g711.decode(codec, g711.encode(codec, sweep)), expected)


@pytest.mark.parametrize("codec", [Codec.PCMA, Codec.PCMU])
def test_every_code_survives_decode_then_encode(codec):
    codes = np.arange(256, dtype=np.uint8)
    back = g711.encode(codec, g711.decode(codec, codes))
    if codec is Codec.PCMU:
        # mu-law has two zeros (0x7F and 0xFF); both decode to 0, which encodes as 0xFF.
        assert np.array_equal(back[codes != 0x7F], codes[codes != 0x7F]) and back[0x7F] == 0xFF
    else:
        assert np.array_equal(back, codes)


def test_bytes_api_agrees_with_audioop_where_audioop_is_exact():
    sweep = _words("sweep.src").astype("<i2").tobytes()
    assert g711.encode_bytes(Codec.PCMA, sweep) == audioop.lin2alaw(sweep, 2)
    ulaw = g711.encode_bytes(Codec.PCMU, sweep)
    assert g711.decode_bytes(Codec.PCMU, ulaw) == audioop.ulaw2lin(ulaw, 2)
    assert g711.decode_bytes(Codec.PCMA, g711.encode_bytes(Codec.PCMA, sweep)) == audioop.alaw2lin(
        audioop.lin2alaw(sweep, 2), 2)


def test_audioop_mulaw_encoder_differs_from_the_reference_as_documented():
    sweep = _words("sweep.src").astype("<i2").tobytes()
    ours = np.frombuffer(g711.encode_bytes(Codec.PCMU, sweep), dtype=np.uint8)
    theirs = np.frombuffer(audioop.lin2ulaw(sweep, 2), dtype=np.uint8)
    assert int(np.count_nonzero(ours != theirs)) == 508


def test_silence_payloads_are_the_usual_idle_codes():
    assert g711.silence(Codec.PCMU, 2) == b"\xff\xff"
    assert g711.silence(Codec.PCMA, 2) == b"\xd5\xd5"
