"""RTP and RFC 4733 payloads, and the pcap reader on the SIPp captures."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import SHARED_DATA
from tongdai.media import g711, pcap, rtp
from tongdai.media.dtmf import Rfc4733Tracker

CAPTURES = SHARED_DATA / "rtp-pcap"
DIGIT_FILES = {**{str(d): str(d) for d in range(10)}, "star": "*", "pound": "#"}


def test_a_packet_survives_build_then_parse_with_csrcs_extension_and_padding():
    packet = rtp.RtpPacket(8, 65535, 2**32 - 1, 0xDEADBEEF, b"\xd5" * 160, marker=True,
                           csrcs=(1, 2), extension=(0xBEDE, b"\x10\x01\x00\x00"), padding=4)
    wire = packet.to_bytes()
    assert len(wire) == 12 + 8 + 8 + 160 + 4
    assert rtp.parse(wire) == packet


def test_parse_reads_the_fixed_header_fields_of_rfc3550():
    wire = struct.pack("!BBHII", 0x80, 0x80 | 101, 7, 1234, 42) + b"\x05\x0a\x01\x40"
    packet = rtp.parse(wire)
    assert (packet.payload_type, packet.marker, packet.sequence, packet.timestamp, packet.ssrc) == (
        101, True, 7, 1234, 42)
    assert rtp.parse_telephone_event(packet.payload) == rtp.TelephoneEvent(5, False, 10, 320)


@pytest.mark.parametrize("wire", [
    b"\x80\x00\x00",                                   # shorter than a header
    b"\x40" + bytes(11),                               # version 1
    b"\x82" + bytes(11) + bytes(4),                    # two CSRCs announced, one present
    b"\x90" + bytes(11) + b"\x00\x00\x00\x05",         # extension longer than the packet
    b"\xa0" + bytes(11) + b"\x00\x00\x00\x09",         # padding count past the header
])
def test_malformed_packets_raise_rtp_error(wire):
    with pytest.raises(rtp.RtpError):
        rtp.parse(wire)


def test_telephone_event_round_trip_and_digit_codes():
    event = rtp.TelephoneEvent(rtp.digit_event("#"), end=True, volume=7, duration=2240)
    assert rtp.parse_telephone_event(event.to_bytes()) == event
    assert event.digit == "#"
    assert [rtp.digit_event(d) for d in "0*#D"] == [0, 10, 11, 15]
    assert rtp.TelephoneEvent(16).digit is None
    with pytest.raises(ValueError):
        rtp.digit_event("x")


@pytest.mark.parametrize(("name", "digit"), sorted(DIGIT_FILES.items()))
def test_sipp_rfc4733_capture_decodes_to_its_digit(name, digit):
    packets = list(pcap.rtp_packets(CAPTURES / f"dtmf_2833_{name}.pcap", payload_type=101))
    assert len(packets) == 10
    tracker = Rfc4733Tracker()
    digits = [d for when, p in packets for d in tracker.receive(p, when)]
    digits += tracker.tick(packets[-1][0] + 10)
    assert [d.digit for d in digits] == [digit]
    assert digits[0].duration == 2240  # 280 ms at 8 kHz, the end packet's duration


def test_sipp_alaw_capture_holds_seven_seconds_of_audio():
    packets = [p for _, p in pcap.rtp_packets(CAPTURES / "g711a.pcap")]
    assert {p.payload_type for p in packets} == {8}
    assert all(len(p.payload) == 240 for p in packets)  # 30 ms packets
    seqs = [p.sequence for p in packets]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    pcm = g711.decode(g711.Codec.PCMA, np.frombuffer(b"".join(p.payload for p in packets), np.uint8))
    assert 7.0 <= pcm.size / 8000 <= 7.1
    assert np.sqrt(np.mean(pcm.astype(float) ** 2)) > 100  # audio, not silence
    span = (packets[-1].timestamp - packets[0].timestamp + 240) / 8000
    assert span == pytest.approx(pcm.size / 8000)


def test_reader_accepts_linux_cooked_captures_and_rejects_pcapng(tmp_path):
    udp = struct.pack("!HHHH", 4000, 5000, 8 + 4, 0) + b"abcd"
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, bytes([127, 0, 0, 1]),
                     bytes([127, 0, 0, 2])) + udp
    sll = struct.pack("!HHH8sH", 0, 1, 6, bytes(8), 0x0800) + ip
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 113)
    record = struct.pack("<IIII", 10, 500000, len(sll), len(sll)) + sll
    path = tmp_path / "sll.pcap"
    path.write_bytes(header + record)
    [datagram] = list(pcap.udp_datagrams(path))
    assert datagram == pcap.UdpDatagram(10.5, ("127.0.0.1", 4000), ("127.0.0.2", 5000), b"abcd")
    ng = tmp_path / "x.pcapng"
    ng.write_bytes(b"\x0a\x0d\x0d\x0a" + bytes(40))
    with pytest.raises(pcap.PcapError):
        list(pcap.udp_datagrams(ng))

_packets = st.builds(
    rtp.RtpPacket,
    payload_type=st.integers(0, 127), sequence=st.integers(0, 0xFFFF), timestamp=st.integers(0, 2**32 - 1),
    ssrc=st.integers(0, 2**32 - 1), payload=st.binary(max_size=400), marker=st.booleans(),
    csrcs=st.lists(st.integers(0, 2**32 - 1), max_size=15).map(tuple),
    extension=st.none() | st.tuples(st.integers(0, 0xFFFF), st.binary(max_size=40).map(lambda b: b[: len(b) // 4 * 4])),
    padding=st.integers(0, 255),
)


@given(_packets)
def test_any_packet_survives_build_then_parse(packet):
    assert rtp.parse(packet.to_bytes()) == packet


@given(st.binary(max_size=200))
def test_arbitrary_bytes_parse_or_raise_rtp_error_only_and_parsed_ones_rebuild_to_the_same_length(data):
    try:
        packet = rtp.parse(data)
    except rtp.RtpError:
        return
    assert len(packet.to_bytes()) == len(data)
