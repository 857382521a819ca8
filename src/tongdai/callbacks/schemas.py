"""Scheduled callbacks in and out of the API. Times are ISO 8601 with an offset; a time without one is
read in the tenant's time zone, and answers are given in it."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

_TEXT = r"^[^\x00-\x08\x0b-\x1f]*$"  # no control characters but tab and newline


class CallbackIn(BaseModel):
    """A callback to book."""

    model_config = ConfigDict(extra="forbid")
    number: str = Field(min_length=1, max_length=64, pattern=_TEXT, description="Read in the tenant's country.")
    queue: str = Field(min_length=1, max_length=64, description="The queue whose agents may make the call.")
    due_at: datetime = Field(description="When to call (ISO 8601; without an offset: the tenant's time zone).")
    note: str = Field("", max_length=500, pattern=_TEXT, description="Told to the agent before the customer is called.")
    customer_id: str | None = Field(None, max_length=32, description="Default: the customer the number belongs to.")
    assign: Literal["queue", "me", "agent"] = Field(
        "queue", description="Anyone in the queue, the booking agent (me), or the agent named in agent_id.")
    agent_id: str | None = Field(None, max_length=32)


class CallbackPatch(BaseModel):
    """Cancel (status: cancelled) or reschedule (due_at, note) a scheduled callback."""

    model_config = ConfigDict(extra="forbid")
    status: Literal["cancelled"] | None = None
    due_at: datetime | None = None
    note: str | None = Field(None, max_length=500, pattern=_TEXT)


class CallbackOut(BaseModel):
    """A callback and where it stands."""

    id: str
    number: str
    queue: str
    due_at: str = Field(description="ISO 8601 in the tenant's time zone, with its offset.")
    timezone: str
    customer_id: str | None
    customer_name: str = ""
    note: str
    created_by: str | None
    agent_id: str | None
    status: Literal["scheduled", "in_progress", "done", "failed", "cancelled"]
    attempts: int
    last_result: str
    call_id: str
    created_at: str
