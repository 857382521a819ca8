"""Settings of speech recognition in call-flow menus (section `speech:` of tongdai.yaml)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SpeechSettings(BaseModel):
    """Callers' spoken menu answers (English only; see docs/speech.md)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Recognise spoken menu answers (false: menus take keys only).")
    workers: int = Field(
        2, ge=1, le=64, description="Decoding processes; each decodes about 9 one-word answers per CPU second.",
    )
    end_silence_s: float = Field(
        0.6, ge=0.2, le=3.0, description="Quiet after speech that ends a caller's answer (the answer's latency).",
    )
    max_speech_s: float = Field(
        5.0, ge=0.5, le=30.0, description="Longest answer listened to once the caller has begun speaking.",
    )
