"""Settings of the media plane (section `media:` of tongdai.yaml)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class MediaSettings(BaseModel):
    """rtpengine and media files."""

    rtpengine_managed: bool = Field(True, description="Start and supervise a local rtpengine.")
    rtpengine_ng_address: str = Field(
        "127.0.0.1:22222", description="host:port of rtpengine's ng control socket (managed or external)."
    )
    rtp_port_min: int = Field(30000, ge=1024, le=65535, description="Lowest RTP port rtpengine uses.")
    rtp_port_max: int = Field(40000, ge=1024, le=65535, description="Highest RTP port rtpengine uses.")
