"""Settings of the CRM (section `crm:` of tongdai.yaml)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class CrmSettings(BaseModel):
    """Customer look-up for the screen pop."""

    lookup_url: str = Field(
        "", description="Outside CRM asked for a caller the screen pop looks up: GET {lookup_url}?phone=+E164&tenant=ID, "
        "answering a JSON customer (name, vip_tier, language, external_id, ...). Empty: local records only.",
    )
    lookup_timeout_s: float = Field(
        1.5, gt=0, le=30, description="Longest wait for the outside CRM; past it the local match is answered alone.",
    )
    recent_interactions: int = Field(5, ge=0, le=50, description="Interactions the screen pop's look-up shows.")
