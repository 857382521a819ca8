"""Settings of the routing engine (section `routing:` of tongdai.yaml)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class RoutingSettings(BaseModel):
    """ACD defaults."""

    offer_timeout_s: float = Field(20.0, gt=0, le=600, description="Default time an agent has to accept an offer.")
    available_on_register: bool = Field(
        True, description="An agent whose phone registers becomes available, and offline when its last phone "
        "goes away (for centres that work with phones alone; with the agent desktop, agents set their state there).",
    )
    announce_every_s: float = Field(
        30.0, gt=0, le=3600, description="How often a caller waiting in a queue is told their place in line "
        "and the expected wait (music in between).",
    )
