"""G.711 A-law and mu-law, bit-exact with the ITU-T G.191 STL reference (numpy lookup tables).

Encoding is one table lookup per sample: the tables are built once from the STL algorithm applied to
all 65,536 16-bit inputs, so the result is the reference by construction and the per-call work is a
single numpy gather. `audioop.lin2ulaw` rounds negative inputs differently from the STL and is not used.
"""

from __future__ import annotations

import enum
from functools import cache

import numpy as np
import numpy.typing as npt

Pcm = npt.NDArray[np.int16]
Codes = npt.NDArray[np.uint8]

SAMPLE_RATE = 8000
FRAME_SAMPLES = 160  # 20 ms at 8 kHz


class Codec(enum.Enum):
    """A G.711 law with its static RTP payload type (RFC 3551)."""

    PCMU = 0
    PCMA = 8

    @property
    def payload_type(self) -> int:
        """The static RTP payload type of this codec."""
        return self.value


def _all_inputs() -> npt.NDArray[np.int32]:
    """Every 16-bit input, indexed by its unsigned bit pattern."""
    return np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int32)


def _alaw_compress(lin: npt.NDArray[np.int32]) -> npt.NDArray[np.int32]:
    """STL `alaw_compress`: 13-bit magnitude (one's complement for negatives), segment and mantissa."""
    ix = np.where(lin < 0, ~lin, lin) >> 4  # 0..2047
    big = ix > 15
    # Segment: position of the leading one above bit 4; the mantissa is the next four bits.
    nbits = np.floor(np.log2(np.maximum(ix, 1))).astype(np.int32)
    exp = np.where(big, nbits - 3, 0)
    mant = np.where(big, (ix >> np.maximum(exp - 1, 0)) - 16, ix)
    code = np.where(big, mant + (exp << 4), ix)
    code = np.where(lin >= 0, code | 0x80, code)
    return code ^ 0x55


def _alaw_expand(code: npt.NDArray[np.int32]) -> npt.NDArray[np.int32]:
    """STL `alaw_expand`: mid-point of the quantisation interval."""
    ix = (code ^ 0x55) & 0x7F
    exp = ix >> 4
    mant = ix & 0x0F
    mant = np.where(exp > 0, mant + 16, mant)
    mant = (mant << 4) + 8
    mant = np.where(exp > 1, mant << np.maximum(exp - 1, 0), mant)
    return np.where(code > 127, mant, -mant)


def _ulaw_compress(lin: npt.NDArray[np.int32]) -> npt.NDArray[np.int32]:
    """STL `ulaw_compress`: 14-bit magnitude plus the bias of 33, segment and inverted mantissa."""
    absno = np.where(lin < 0, (~lin >> 2) + 33, (lin >> 2) + 33)
    absno = np.minimum(absno, 0x1FFF)
    i = absno >> 6
    segno = np.where(i > 0, np.floor(np.log2(np.maximum(i, 1))).astype(np.int32) + 2, 1)
    high = 8 - segno
    low = 0x0F - ((absno >> segno) & 0x0F)
    code = (high << 4) | low
    return np.where(lin >= 0, code | 0x80, code)


def _ulaw_expand(code: npt.NDArray[np.int32]) -> npt.NDArray[np.int32]:
    """STL `ulaw_expand` (14-bit left-justified result)."""
    sign = np.where(code < 0x80, -1, 1)
    inv = ~code
    exp = (inv >> 4) & 0x07
    mant = inv & 0x0F
    step = 4 << (exp + 1)
    out: npt.NDArray[np.int32] = sign * ((0x80 << exp) + step * mant + step // 2 - 4 * 33)
    return out


@cache
def _tables(codec: Codec) -> tuple[Codes, Pcm]:
    """(encode table indexed by the uint16 view of a sample, decode table indexed by code)."""
    codes = np.arange(256, dtype=np.int32)
    if codec is Codec.PCMA:
        enc, dec = _alaw_compress(_all_inputs()), _alaw_expand(codes)
    else:
        enc, dec = _ulaw_compress(_all_inputs()), _ulaw_expand(codes)
    enc_table = enc.astype(np.uint8)
    dec_table = dec.astype(np.int16)
    enc_table.setflags(write=False)
    dec_table.setflags(write=False)
    return enc_table, dec_table


def encode(codec: Codec, samples: Pcm) -> Codes:
    """Encode 16-bit linear samples to G.711 codes."""
    table = _tables(codec)[0]
    return table[np.ascontiguousarray(samples, dtype=np.int16).view(np.uint16)]


def decode(codec: Codec, codes: Codes) -> Pcm:
    """Decode G.711 codes to 16-bit linear samples."""
    return _tables(codec)[1][np.asarray(codes, dtype=np.uint8)]


def encode_bytes(codec: Codec, pcm: bytes) -> bytes:
    """Encode 16-bit little-endian linear PCM bytes to G.711 bytes (one byte per sample)."""
    return encode(codec, np.frombuffer(pcm, dtype="<i2")).tobytes()


def decode_bytes(codec: Codec, payload: bytes) -> bytes:
    """Decode G.711 bytes to 16-bit little-endian linear PCM bytes."""
    return decode(codec, np.frombuffer(payload, dtype=np.uint8)).astype("<i2").tobytes()


def alaw_encode(samples: Pcm) -> Codes:
    """A-law encode (ITU-T G.711, STL rounding)."""
    return encode(Codec.PCMA, samples)


def alaw_decode(codes: Codes) -> Pcm:
    """A-law decode (ITU-T G.711)."""
    return decode(Codec.PCMA, codes)


def ulaw_encode(samples: Pcm) -> Codes:
    """mu-law encode (ITU-T G.711, STL rounding)."""
    return encode(Codec.PCMU, samples)


def ulaw_decode(codes: Codes) -> Pcm:
    """mu-law decode (ITU-T G.711)."""
    return decode(Codec.PCMU, codes)


def silence(codec: Codec, samples: int = FRAME_SAMPLES) -> bytes:
    """A payload of digital silence in this law."""
    return bytes(encode(codec, np.zeros(samples, dtype=np.int16)))
