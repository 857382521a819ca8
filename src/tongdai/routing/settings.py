"""Settings of the routing engine (section `routing:` of tongdai.yaml)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class RoutingSettings(BaseModel):
    """ACD defaults."""

    offer_timeout_s: float = Field(20.0, gt=0, le=600, description="Default time an agent has to accept an offer.")
