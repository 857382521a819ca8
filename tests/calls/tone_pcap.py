"""A known signal for SIPp to speak (`play_pcap_audio`): a pure tone as A-law RTP in a classic pcap
(Ethernet, IPv4, UDP), and how strongly a decoded stream carries it."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from tongdai.media.dtmf import goertzel_power
from tongdai.media.g711 import Codec, encode

RATE = 8000
AMPLITUDE = 8000.0
#: Goertzel power of the tone at full strength (what `tone_share` divides by)
TONE_POWER = AMPLITUDE**2 / 2


def tone_pcap(path: Path, freq: float, seconds: float) -> Path:
    """Write `seconds` of a `freq` Hz tone as 20 ms A-law RTP packets (payload type 8) to `path`."""
    samples = AMPLITUDE * np.sin(2 * np.pi * freq * np.arange(int(RATE * seconds)) / RATE)
    payload = encode(Codec.PCMA, samples.astype(np.int16))
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for i in range(len(payload) // 160):
        rtp = struct.pack("!BBHII", 0x80, 8, i & 0xFFFF, i * 160, 0x7011) + payload[i * 160:(i + 1) * 160].tobytes()
        udp = struct.pack("!HHHH", 40000, 40002, 8 + len(rtp), 0) + rtp
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xFFFF, 0, 64, 17, 0,
                         bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])) + udp
        frame = b"\x00" * 12 + b"\x08\x00" + ip
        usec = i * 20_000
        out.append(struct.pack("<IIII", 1_700_000_000 + usec // 1_000_000, usec % 1_000_000, len(frame), len(frame)))
        out.append(frame)
    path.write_bytes(b"".join(out))
    return path


def tone_share(pcm: np.ndarray, freq: float, *, threshold: float = 0.25) -> float:
    """The share of 20 ms windows of `pcm` in which the `freq` tone has at least `threshold` of its power."""
    windows = pcm[: len(pcm) // 160 * 160].reshape(-1, 160)
    if not len(windows):
        return 0.0
    power = goertzel_power(windows, (freq,))[:, 0] / TONE_POWER
    return float(np.mean(power >= threshold))
