"""Input and output shapes of identity and tenancy."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from tongdai.api.crud import OutModel, Timestamp
from tongdai.iam.roles import Role

Email = Annotated[str, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]
Password = Annotated[str, Field(min_length=8, max_length=200)]
Slug = Annotated[str, Field(min_length=2, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")]


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class Me(BaseModel):
    id: str
    kind: str
    role: str
    tenant_id: str | None
    email: str | None


class TenantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    slug: Slug
    name: Annotated[str, Field(min_length=1, max_length=200)]
    default_region: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] = "VN"
    timezone: Annotated[str, Field(min_length=1, max_length=64)] = "Asia/Ho_Chi_Minh"
    active: bool = True


class TenantOut(OutModel):
    id: str
    slug: str
    name: str
    default_region: str
    timezone: str
    active: bool
    created_at: Timestamp


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Email
    name: Annotated[str, Field(min_length=1, max_length=200)]
    role: Role
    password: Password
    active: bool = True


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    role: Role | None = None
    password: Password | None = None
    active: bool | None = None


class UserOut(OutModel):
    id: str
    tenant_id: str | None
    email: str
    name: str
    role: str
    active: bool
    created_at: Timestamp


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(min_length=1, max_length=200)]
    role: Role


class ApiKeyOut(OutModel):
    id: str
    name: str
    role: str
    prefix: str
    created_at: Timestamp
    revoked_at: Timestamp | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The key itself; shown only once.")


class AuditOut(OutModel):
    id: str
    tenant_id: str | None
    actor_id: str | None
    actor: str | None
    action: str
    target_type: str | None
    target_id: str | None
    details: dict[str, Any]
    source_ip: str | None
    at: Timestamp
