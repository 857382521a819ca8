"""Tables of the contact-centre directory. Every row carries its tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tongdai.core.db import Base, new_id, utcnow


def _listing(table: str) -> Index:
    """The index behind paginated listings: one tenant's rows in creation order."""
    return Index(f"ix_{table}_listing", "tenant_id", "created_at", "id")


class _TenantRow:
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Site(_TenantRow, Base):
    __tablename__ = "sites"
    __table_args__ = (_listing("sites"), UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Ho_Chi_Minh")
    address: Mapped[str] = mapped_column(String(300), default="")


class Team(_TenantRow, Base):
    __tablename__ = "teams"
    __table_args__ = (_listing("teams"), UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(100))
    site_id: Mapped[str | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"))
    supervisor_user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Skill(_TenantRow, Base):
    __tablename__ = "skills"
    __table_args__ = (_listing("skills"), UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(300), default="")


class Agent(_TenantRow, Base):
    __tablename__ = "agents"
    __table_args__ = (_listing("agents"), UniqueConstraint("tenant_id", "extension"),)

    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    extension: Mapped[str] = mapped_column(String(32))
    sip_password: Mapped[str] = mapped_column(String(128), default="")
    skills: Mapped[dict[str, Any]] = mapped_column(default=dict)
    languages: Mapped[list[Any]] = mapped_column(default=list)
    site_id: Mapped[str | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"))
    team_id: Mapped[str | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    capacity: Mapped[dict[str, Any]] = mapped_column(default=dict)
    queues: Mapped[list[Any]] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(default=True)
    #: a home agent's outside number: rung through the tenant's trunk when no phone is registered
    remote_number: Mapped[str] = mapped_column(String(32), default="", server_default="")


class Queue(_TenantRow, Base):
    __tablename__ = "queues"
    __table_args__ = (_listing("queues"), UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(300), default="")
    strategy: Mapped[str] = mapped_column(String(32), default="longest_idle")
    target_expression: Mapped[str] = mapped_column(String(1000), default="")
    service_level_target_pct: Mapped[float] = mapped_column(default=80.0)
    service_level_threshold_s: Mapped[int] = mapped_column(default=20)
    max_size: Mapped[int] = mapped_column(default=100)
    max_wait_s: Mapped[int] = mapped_column(default=600)
    wrap_up_s: Mapped[int] = mapped_column(default=30)
    recording_policy: Mapped[str] = mapped_column(String(16), default="always")
    channels: Mapped[list[Any]] = mapped_column(default=list)
    calendar_id: Mapped[str | None] = mapped_column(ForeignKey("calendars.id", ondelete="SET NULL"))
    email: Mapped[str] = mapped_column(String(254), default="")
    priority: Mapped[int] = mapped_column(default=0)


class Number(_TenantRow, Base):
    """A DID: the number callers dial, mapped to one tenant and what answers it."""

    __tablename__ = "numbers"
    __table_args__ = (_listing("numbers"),)

    e164: Mapped[str] = mapped_column(String(32), unique=True)
    description: Mapped[str] = mapped_column(String(300), default="")
    flow: Mapped[str] = mapped_column(String(100), default="")
    queue_id: Mapped[str | None] = mapped_column(ForeignKey("queues.id", ondelete="SET NULL"))


class Calendar(_TenantRow, Base):
    """Business hours: weekly opening intervals and holidays in one time zone."""

    __tablename__ = "calendars"
    __table_args__ = (_listing("calendars"), UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Ho_Chi_Minh")
    weekly: Mapped[dict[str, Any]] = mapped_column(default=dict)
    holidays: Mapped[list[Any]] = mapped_column(default=list)


class ReasonCode(_TenantRow, Base):
    """A not-ready reason or a wrap-up disposition."""

    __tablename__ = "reason_codes"
    __table_args__ = (_listing("reason_codes"), UniqueConstraint("tenant_id", "kind", "code"),)

    kind: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(200))
    productive: Mapped[bool] = mapped_column(default=False)
