"""Validated input and output shapes of the directory API."""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo, available_timezones

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, field_validator

from tongdai.api.crud import OutModel, Timestamp

Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")]
SkillName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
Level = Annotated[int, Field(ge=1, le=10)]
Language = Annotated[str, Field(pattern=r"^[a-z]{2,3}$")]
Extension = Annotated[str, Field(pattern=r"^[0-9]{2,8}$")]
Id = Annotated[str, Field(min_length=1, max_length=32)]
Channel = Annotated[str, Field(pattern=r"^(voice|chat|email|sms|callback)$")]
Capacity = Annotated[int, Field(ge=0, le=100)]
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$")


class Strategy(StrEnum):
    LONGEST_IDLE = "longest_idle"
    LEAST_OCCUPIED = "least_occupied"
    MOST_SKILLED = "most_skilled"
    LEAST_SKILLED = "least_skilled"
    ROUND_ROBIN = "round_robin"
    RING_ALL = "ring_all"
    PREFERRED_AGENT = "preferred_agent"
    WEIGHTED_RANDOM = "weighted_random"


class RecordingPolicy(StrEnum):
    ALWAYS = "always"
    NEVER = "never"
    ON_DEMAND = "on_demand"


class ReasonKind(StrEnum):
    NOT_READY = "not_ready"
    WRAP_UP = "wrap_up"


def _check_timezone(value: str) -> str:
    if value not in _zones():
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Asia/Ho_Chi_Minh)")
    ZoneInfo(value)
    return value


_ZONES: set[str] = set()


def _zones() -> set[str]:
    if not _ZONES:
        _ZONES.update(available_timezones())
    return _ZONES


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SiteIn(_In):
    name: Name
    timezone: str = "Asia/Ho_Chi_Minh"
    address: Annotated[str, Field(max_length=300)] = ""

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        return _check_timezone(v)


class SiteOut(OutModel):
    id: str
    name: str
    timezone: str
    address: str
    created_at: Timestamp


class TeamIn(_In):
    name: Name
    site_id: Id | None = None
    supervisor_user_id: Id | None = None


class TeamOut(OutModel):
    id: str
    name: str
    site_id: str | None
    supervisor_user_id: str | None
    created_at: Timestamp


class SkillIn(_In):
    name: SkillName
    description: Annotated[str, Field(max_length=300)] = ""


class SkillOut(OutModel):
    id: str
    name: str
    description: str
    created_at: Timestamp


class AgentIn(_In):
    name: Name
    extension: Extension
    user_id: Id | None = None
    sip_password: Annotated[str, Field(max_length=128)] = ""
    skills: dict[SkillName, Level] = Field(default_factory=dict, description="Skill name -> level 1-10.")
    languages: list[Language] = Field(default_factory=list, max_length=20)
    site_id: Id | None = None
    team_id: Id | None = None
    capacity: dict[Channel, Capacity] = Field(
        default_factory=lambda: {"voice": 1, "chat": 3, "email": 5},
        description="How many tasks of each channel the agent handles at once.",
    )
    queues: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(default_factory=list, max_length=200)
    active: bool = True
    remote_number: Annotated[str, Field(max_length=32, pattern=r"^(\+?[0-9]{3,20})?$")] = Field(
        "", description="A home agent's outside number: offers ring it through the tenant's trunk when no "
        "phone is registered for the extension.")


class AgentOut(OutModel):
    id: str
    name: str
    extension: str
    user_id: str | None
    skills: dict[str, int]
    languages: list[str]
    site_id: str | None
    team_id: str | None
    capacity: dict[str, int]
    queues: list[str]
    active: bool
    remote_number: str
    created_at: Timestamp


class QueueIn(_In):
    name: SkillName
    description: Annotated[str, Field(max_length=300)] = ""
    strategy: Strategy = Strategy.LONGEST_IDLE
    target_expression: Annotated[str, Field(max_length=1000)] = Field(
        "", description="Which agents serve the queue, in the routing expression language."
    )
    service_level_target_pct: Annotated[float, Field(ge=0, le=100)] = 80.0
    service_level_threshold_s: Annotated[int, Field(ge=1, le=3600)] = 20
    max_size: Annotated[int, Field(ge=1, le=100_000)] = 100
    max_wait_s: Annotated[int, Field(ge=1, le=86_400)] = 600
    wrap_up_s: Annotated[int, Field(ge=0, le=3600)] = 30
    recording_policy: RecordingPolicy = RecordingPolicy.ALWAYS
    channels: list[Channel] = Field(default_factory=lambda: ["voice"], max_length=5)
    calendar_id: Id | None = None
    email: Annotated[str, Field(max_length=254, pattern=r"^$|^[^@\s]+@[^@\s]+$")] = ""
    priority: Annotated[int, Field(ge=0, le=100)] = 0


class QueueOut(OutModel):
    id: str
    name: str
    description: str
    strategy: str
    target_expression: str
    service_level_target_pct: float
    service_level_threshold_s: int
    max_size: int
    max_wait_s: int
    wrap_up_s: int
    recording_policy: str
    channels: list[str]
    calendar_id: str | None
    email: str
    priority: int
    created_at: Timestamp


class NumberIn(_In):
    e164: Annotated[str, Field(min_length=2, max_length=32, description="The dialled number, E.164 or internal digits.")]
    description: Annotated[str, Field(max_length=300)] = ""
    flow: Annotated[str, Field(max_length=100)] = ""
    queue_id: Id | None = None

    @field_validator("e164")
    @classmethod
    def _number(cls, v: str) -> str:
        if re.fullmatch(r"[0-9]{2,8}", v):
            return v
        try:
            parsed = phonenumbers.parse(v, None)
        except phonenumbers.NumberParseException as exc:
            raise ValueError(f"not a phone number: {exc}") from None
        if not phonenumbers.is_possible_number(parsed):
            raise ValueError("not a possible phone number")
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


class NumberOut(OutModel):
    id: str
    e164: str
    description: str
    flow: str
    queue_id: str | None
    created_at: Timestamp


class Holiday(BaseModel):
    model_config = ConfigDict(extra="forbid")
    date: date
    name: Annotated[str, Field(max_length=100)] = ""


class CalendarIn(_In):
    name: Name
    timezone: str = "Asia/Ho_Chi_Minh"
    weekly: dict[str, list[list[str]]] = Field(
        default_factory=dict, description='Opening intervals per day, e.g. {"mon": [["08:00", "17:30"]]}.'
    )
    holidays: list[Holiday] = Field(default_factory=list, max_length=1000)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        return _check_timezone(v)

    @field_validator("weekly")
    @classmethod
    def _weekly(cls, v: dict[str, list[list[str]]]) -> dict[str, list[list[str]]]:
        for day, intervals in v.items():
            if day not in DAYS:
                raise ValueError(f"unknown day {day!r}; use one of {', '.join(DAYS)}")
            for interval in intervals:
                if len(interval) != 2 or not all(_HHMM.match(t) for t in interval):
                    raise ValueError(f"{day}: each interval is [\"HH:MM\", \"HH:MM\"], got {interval!r}")
                if interval[0] >= interval[1]:
                    raise ValueError(f"{day}: interval {interval!r} ends before it starts")
        return v


class CalendarOut(OutModel):
    id: str
    name: str
    timezone: str
    weekly: dict[str, list[list[str]]]
    holidays: list[dict[str, Any]]
    created_at: Timestamp


class ReasonCodeIn(_In):
    kind: ReasonKind
    code: SkillName
    label: Annotated[str, Field(min_length=1, max_length=200)]
    productive: bool = False


class ReasonCodeOut(OutModel):
    id: str
    kind: str
    code: str
    label: str
    productive: bool
    created_at: Timestamp
