"""A small reader for classic pcap files: Ethernet or Linux cooked capture, IPv4, UDP, RTP payloads."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tongdai.media import rtp

MAGIC_US = 0xA1B2C3D4
MAGIC_NS = 0xA1B23C4D
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_LINUX_SLL2 = 276
ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_VLAN = (0x8100, 0x88A8)
IPPROTO_UDP = 17


class PcapError(ValueError):
    """A file that is not a classic pcap file this reader understands."""


@dataclass(frozen=True, slots=True)
class UdpDatagram:
    """One UDP datagram from a capture, with its capture time in seconds."""

    time: float
    src: tuple[str, int]
    dst: tuple[str, int]
    payload: bytes


def read_records(data: bytes) -> Iterator[tuple[int, float, bytes]]:
    """(link type, time, frame bytes) for each record of a classic pcap file."""
    if len(data) < 24:
        raise PcapError("shorter than a pcap global header")
    for order in ("<", ">"):
        magic = struct.unpack_from(order + "I", data)[0]
        if magic in (MAGIC_US, MAGIC_NS):
            break
    else:
        raise PcapError("not a classic pcap file (pcapng is not supported)")
    scale = 1e-9 if magic == MAGIC_NS else 1e-6
    linktype = struct.unpack_from(order + "I", data, 20)[0] & 0x0FFFFFFF
    record = struct.Struct(order + "IIII")
    offset = 24
    while offset + record.size <= len(data):
        sec, frac, caplen, _ = record.unpack_from(data, offset)
        offset += record.size
        if offset + caplen > len(data):
            break  # a truncated last record, as left by an interrupted capture
        yield linktype, sec + frac * scale, data[offset:offset + caplen]
        offset += caplen


def _ip_payload(linktype: int, frame: bytes) -> bytes | None:
    """The IPv4 packet inside a link-layer frame, or None for anything else."""
    if linktype == LINKTYPE_RAW:
        return frame
    if linktype == LINKTYPE_ETHERNET:
        offset, ethertype = 14, struct.unpack_from("!H", frame, 12)[0] if len(frame) >= 14 else 0
        while ethertype in ETHERTYPE_VLAN and len(frame) >= offset + 4:
            ethertype = struct.unpack_from("!H", frame, offset + 2)[0]
            offset += 4
    elif linktype == LINKTYPE_LINUX_SLL:
        offset, ethertype = 16, struct.unpack_from("!H", frame, 14)[0] if len(frame) >= 16 else 0
    elif linktype == LINKTYPE_LINUX_SLL2:
        offset, ethertype = 20, struct.unpack_from("!H", frame, 0)[0] if len(frame) >= 20 else 0
    else:
        raise PcapError(f"link type {linktype} is not supported")
    return frame[offset:] if ethertype == ETHERTYPE_IPV4 else None


def _udp(packet: bytes) -> tuple[tuple[str, int], tuple[str, int], bytes] | None:
    """(source, destination, payload) of an unfragmented IPv4 UDP packet, or None."""
    if len(packet) < 20 or packet[0] >> 4 != 4 or packet[9] != IPPROTO_UDP:
        return None
    ihl = 4 * (packet[0] & 0x0F)
    total, frag = struct.unpack_from("!H2xH", packet, 2)
    if frag & 0x3FFF or len(packet) < ihl + 8:
        return None  # fragments are not reassembled: RTP never needs it
    src, dst = _ip(packet[12:16]), _ip(packet[16:20])
    sport, dport, length = struct.unpack_from("!HHH", packet, ihl)
    payload = packet[ihl + 8:min(ihl + length, total, len(packet))]
    return (src, sport), (dst, dport), bytes(payload)


def _ip(raw: bytes) -> str:
    return ".".join(str(b) for b in raw)


def udp_datagrams(path: Path | str) -> Iterator[UdpDatagram]:
    """Every IPv4 UDP datagram in a classic pcap file."""
    for linktype, when, frame in read_records(Path(path).read_bytes()):
        packet = _ip_payload(linktype, frame)
        udp = _udp(packet) if packet is not None else None
        if udp is not None:
            yield UdpDatagram(when, udp[0], udp[1], udp[2])


def rtp_packets(path: Path | str, payload_type: int | None = None) -> Iterator[tuple[float, rtp.RtpPacket]]:
    """(capture time, packet) for every UDP datagram that parses as RTP, optionally of one payload type."""
    for datagram in udp_datagrams(path):
        if not rtp.looks_like_rtp(datagram.payload):
            continue
        try:
            packet = rtp.parse(datagram.payload)
        except rtp.RtpError:
            continue
        if payload_type is None or packet.payload_type == payload_type:
            yield datagram.time, packet
