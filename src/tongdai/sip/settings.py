"""Settings of the SIP signalling core (section `sip:` of tongdai.yaml)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr


class TrunkSettings(BaseModel):
    """A SIP trunk to a carrier or gateway (an entry of `sip.trunks`)."""

    name: str = Field(..., min_length=1, description="Name used in logs and records.")
    gateways: list[str] = Field(..., min_length=1, description="host:port of each gateway, tried in order.")
    username: str = Field("", description="Digest user name, when the carrier challenges calls or registrations.")
    password: SecretStr = Field(SecretStr(""), description="Digest password.")
    registration: bool = Field(False, description="Register to the first gateway (username and password needed).")
    register_expires: int = Field(600, ge=60, le=86400, description="Registration lifetime asked for, in seconds.")
    transport: Literal["udp", "tcp", "tls"] = Field("udp", description="How tongdai reaches the gateways.")
    inbound_addresses: list[str] = Field(
        default_factory=list, description="Source addresses of the carrier: calls from them are trusted."
    )
    outbound_pattern: str = Field(
        r"^\+?[0-9]{5,}$", description="Dialled numbers (regular expression) that leave through this trunk."
    )


class SipSettings(BaseModel):
    """SIP transports and limits."""

    enabled: bool = Field(True, description="Start the SIP transports.")
    host: str = Field("127.0.0.1", description="Address the SIP transports listen on.")
    udp_port: int = Field(5060, ge=0, le=65535, description="UDP port (0 disables UDP).")
    tcp_port: int = Field(5060, ge=0, le=65535, description="TCP port (0 disables TCP).")
    tls_port: int = Field(0, ge=0, le=65535, description="TLS port, usually 5061 (0 disables TLS).")
    tls_cert_file: str = Field("", description="PEM certificate chain for TLS.")
    tls_key_file: str = Field("", description="PEM private key for TLS.")
    tls_ca_file: str = Field(
        "", description="PEM certificates that TLS peers tongdai connects to must chain to (empty: the system's CAs)."
    )
    digest_algorithms: list[Literal["MD5", "SHA-256"]] = Field(
        ["MD5"],
        description="Digest challenges offered, in order. Add SHA-256 (RFC 8760) only when every phone supports it: "
        "some (baresip 1.0, SIPp 3.6) fail on a SHA-256 challenge even when MD5 is offered too.",
        min_length=1,
    )
    max_message_bytes: int = Field(65535, ge=1024, le=1048576, description="Largest SIP message accepted.")
    max_transactions: int = Field(100_000, ge=100, description="Concurrent server transactions; beyond: 503.")
    rate_limit_per_s: float = Field(
        5000.0, gt=0, description="Requests per second accepted from one source address (bursts of twice that)."
    )
    ban_after_failures: int = Field(
        10, ge=1, description="Failed authentications from one address within 60 s before it is banned."
    )
    ban_seconds: float = Field(600.0, ge=0, description="How long a banned address is ignored.")
    trunks: list[TrunkSettings] = Field(default_factory=list, description="SIP trunks, in order of preference.")
    ring_timeout_s: float = Field(60.0, gt=0, le=600, description="How long a called phone may ring.")
    trusted_addresses: list[str] = Field(
        default_factory=list, description="Addresses never rate-limited or banned (e.g. your SBC or trunk)."
    )
