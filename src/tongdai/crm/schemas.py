"""Validated input and output shapes of the CRM API."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from tongdai.api.crud import OutModel, Timestamp

Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")]
VipTier = Annotated[str, Field(max_length=32, pattern=r"^[a-z0-9_-]*$", description='"" (none), e.g. silver, gold')]
Language = Annotated[str, Field(pattern=r"^([a-z]{2,3})?$", description='ISO 639 code ("vi", "en", "zh") or ""')]
Id = Annotated[str, Field(min_length=1, max_length=32)]
ExternalId = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")]
ContactValue = Annotated[str, Field(min_length=1, max_length=254)]
#: free text: anything but NUL (PostgreSQL refuses it in text columns)
Text = Annotated[str, Field(max_length=10_000, pattern=r"^[^\x00]*$")]
ShortText = Annotated[str, Field(max_length=500, pattern=r"^[^\x00]*$")]


class CustomerKind(StrEnum):
    PERSON = "person"
    COMPANY = "company"


class ContactKind(StrEnum):
    PHONE = "phone"
    EMAIL = "email"


class CaseStatus(StrEnum):
    OPEN = "open"
    PENDING = "pending"
    SOLVED = "solved"


class CasePriority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContactPointIn(_In):
    kind: ContactKind
    value: ContactValue = Field(description="A phone number as dialled in the tenant's country, or in E.164; an e-mail")
    label: Annotated[str, Field(max_length=50, pattern=r"^[^\x00-\x1f]*$")] = ""


class ContactPointOut(OutModel):
    id: str
    customer_id: str
    kind: str
    value: str
    label: str


class CustomerFields(_In):
    kind: CustomerKind = CustomerKind.PERSON
    name: Name
    vip_tier: VipTier = ""
    language: Language = ""
    address: ShortText = ""
    external_id: ExternalId | None = None
    notes: Text = ""


class CustomerIn(CustomerFields):
    phones: list[ContactValue] = Field(default_factory=list, max_length=20, description="Phone numbers to add")
    emails: list[ContactValue] = Field(default_factory=list, max_length=20, description="E-mail addresses to add")


class CustomerPatch(_In):
    kind: CustomerKind | None = None
    name: Name | None = None
    vip_tier: VipTier | None = None
    language: Language | None = None
    address: ShortText | None = None
    external_id: ExternalId | None = None
    notes: Text | None = None


class CustomerOut(OutModel):
    id: str
    kind: str
    name: str
    vip_tier: str
    language: str
    address: str
    external_id: str | None
    notes: str
    created_at: Timestamp
    updated_at: Timestamp
    contact_points: list[ContactPointOut] = []


class CaseIn(_In):
    customer_id: Id | None = None
    subject: Name
    description: Text = ""
    status: CaseStatus = CaseStatus.OPEN
    priority: CasePriority = CasePriority.NORMAL
    owner_user_id: Id | None = None
    owner_agent_id: Id | None = None


class CasePatch(_In):
    customer_id: Id | None = None
    subject: Name | None = None
    description: Text | None = None
    status: CaseStatus | None = None
    priority: CasePriority | None = None
    owner_user_id: Id | None = None
    owner_agent_id: Id | None = None
    comment: Text = Field("", description="A note kept with the change")


class CaseOut(OutModel):
    id: str
    customer_id: str | None
    subject: str
    description: str
    status: str
    priority: str
    owner_user_id: str | None
    owner_agent_id: str | None
    created_at: Timestamp
    updated_at: Timestamp
    solved_at: Timestamp | None


class CommentIn(_In):
    body: Annotated[str, Field(min_length=1, max_length=10_000, pattern=r"^[^\x00]*$")]


class CommentOut(OutModel):
    id: str
    case_id: str
    author_user_id: str | None
    body: str
    status_change: str
    created_at: Timestamp


class InteractionOut(OutModel):
    id: str
    customer_id: str | None
    case_id: str | None
    channel: str
    direction: str
    number: str
    call_id: str | None
    queue: str
    agent: str
    started_at: Timestamp
    ended_at: Timestamp | None
    wait_s: float
    talk_s: float
    disposition: str
    recording: str | None
    ivr_path: list[Any]
    collected: dict[str, Any]
    notes: str


class InteractionPatch(_In):
    """What the agent adds to an interaction: the customer it was with, its case, disposition, notes."""

    customer_id: Id | None = None
    case_id: Id | None = None
    disposition: Annotated[str, Field(max_length=32, pattern=r"^[^\x00-\x1f]*$")] | None = None
    notes: Text | None = None


class NoteIn(_In):
    """An interaction written by hand (a note of a contact outside the phone system)."""

    channel: Annotated[str, Field(pattern=r"^(voice|chat|email|sms|note|visit)$")] = "note"
    direction: Annotated[str, Field(pattern=r"^(inbound|outbound)$")] = "inbound"
    case_id: Id | None = None
    notes: Annotated[str, Field(min_length=1, max_length=10_000, pattern=r"^[^\x00]*$")]


class CaseDetail(CaseOut):
    comments: list[CommentOut]
    interactions: list[InteractionOut]


class ExternalCustomer(BaseModel):
    """A customer as the outside CRM described it."""

    source: str = "external"
    name: str
    vip_tier: str = ""
    language: str = ""
    external_id: str | None = None
    kind: str = "person"
    address: str = ""
    email: str = ""
    url: str = ""


class LookupOut(BaseModel):
    """What the screen pop shows about a caller."""

    phone: str | None = Field(description="The number in E.164 (null: not a phone number)")
    source: str | None = Field(description='"local", "external" (the outside CRM) or null: nobody matched')
    customer: CustomerOut | None
    external: ExternalCustomer | None = Field(description="The outside CRM's record, when it answered one")
    vip_tier: str
    language: str
    recent_interactions: list[InteractionOut]
    open_cases: list[CaseOut]
    solved_cases: list[CaseOut]


class Rejected(BaseModel):
    row: int = Field(description="Line of the file (the header is line 1)")
    reason: str
    external_id: str | None = None


class ImportReport(BaseModel):
    rows: int
    imported: int
    created: int
    updated: int
    rejected: list[Rejected]
