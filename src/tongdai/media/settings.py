"""Settings of the media plane (section `media:` of tongdai.yaml)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class MediaSettings(BaseModel):
    """rtpengine and media files."""

    rtpengine_managed: bool = Field(True, description="Start and supervise a local rtpengine.")
    rtpengine_ng_address: str = Field(
        "127.0.0.1:0",
        description="host:port of rtpengine's ng control socket (managed or external). "
        "Port 0 with a managed rtpengine: a free port is picked at start.",
    )
    rtp_port_min: int = Field(30000, ge=1024, le=65535, description="Lowest RTP port rtpengine uses.")
    rtp_port_max: int = Field(40000, ge=1024, le=65535, description="Highest RTP port rtpengine uses.")
    rtpengine_binary: str = Field("/usr/bin/rtpengine", description="The rtpengine program (managed mode).")
    rtpengine_interface: str = Field(
        "127.0.0.1",
        description="rtpengine --interface: [NAME/]IP[!ADVERTISED_IP], the address media is relayed on.",
    )
    rtpengine_threads: int = Field(0, ge=0, le=256, description="rtpengine worker threads (0: its default).")
    rtpengine_log_level: int = Field(5, ge=0, le=7, description="rtpengine log level (syslog scale).")
    rtpengine_recording_dir: str = Field(
        "", description="Where rtpengine writes recordings. Empty: <data_dir>/media/rtpengine-recordings."
    )
    rtpengine_recording_method: Literal["pcap", "proc"] = Field(
        "pcap", description="rtpengine --recording-method."
    )
    rtpengine_restart_max_s: float = Field(
        10.0, ge=0.1, le=300, description="Longest wait between restarts of a managed rtpengine that keeps dying."
    )
    dtmf_listen_address: str = Field(
        "127.0.0.1:0",
        description="Where tongdai receives rtpengine's DTMF events (JSON over UDP, --dtmf-log-dest). "
        "Port 0: a free port (managed mode). Empty: DTMF logging off.",
    )
    ng_timeout_s: float = Field(0.5, gt=0, le=30, description="Wait for one ng reply before sending again.")
    ng_retries: int = Field(3, ge=0, le=10, description="ng retransmissions before giving up.")
    prompts_dir: str = Field("", description="Prompt, music-on-hold and TTS cache files. Empty: <data_dir>/media/prompts.")
    prompt_max_bytes: int = Field(50_000_000, ge=1024, description="Largest prompt or music-on-hold upload.")
    prompt_max_seconds: float = Field(1800.0, gt=0, description="Longest prompt or music-on-hold file.")
    tts_engine: Literal["espeak-ng"] = Field("espeak-ng", description="Text-to-speech engine for prompts.")
    recordings_dir: str = Field(
        "", description="Call recordings (stereo WAV with a JSON sidecar, by tenant and day). Empty: <data_dir>/recordings."
    )
