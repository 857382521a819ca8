"""Settings of scheduled callbacks (section `callbacks:` of tongdai.yaml)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class CallbackSettings(BaseModel):
    """Retries and the scheduler's pace."""

    max_attempts: int = Field(3, ge=1, le=10, description="Placements of one callback at most (no answer, busy...).")
    retry_after_s: list[float] = Field(
        [300.0, 900.0], min_length=1, max_length=10,
        description="Seconds after a failed attempt before the next: the n-th retry waits the n-th (the last repeats).",
    )
    poll_s: float = Field(5.0, ge=0.5, le=300, description="Longest sleep of the scheduler between looks at the table.")
