"""Tables of the CRM: customers, their contact points, the interaction timeline, cases and their comments.
Every row carries its tenant and every query is scoped by it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tongdai.core.db import Base, new_id, utcnow


class _TenantRow:
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Customer(_TenantRow, Base):
    """A person or a company the contact centre talks with."""

    __tablename__ = "customers"
    __table_args__ = (
        Index("ix_customers_listing", "tenant_id", "created_at", "id"),
        Index("ix_customers_name", "tenant_id", "name"),
        # an import matches rows by the outside system's id: one customer per id and tenant
        UniqueConstraint("tenant_id", "external_id"),
    )

    kind: Mapped[str] = mapped_column(String(16), default="person")  # person, company
    name: Mapped[str] = mapped_column(String(200))
    vip_tier: Mapped[str] = mapped_column(String(32), default="")  # "" (none), silver, gold, platinum, ...
    language: Mapped[str] = mapped_column(String(8), default="")
    address: Mapped[str] = mapped_column(String(500), default="")
    external_id: Mapped[str | None] = mapped_column(String(100), default=None)
    notes: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ContactPoint(_TenantRow, Base):
    """A phone number (E.164) or an e-mail address (lower case) that reaches one customer."""

    __tablename__ = "contact_points"
    __table_args__ = (
        # the screen pop looks a caller up by (tenant, kind, value): one customer per number in a tenant
        UniqueConstraint("tenant_id", "kind", "value"),
        # a customer's contact points; no index on tenant_id alone: without statistics SQLite preferred it
        # and scanned the whole tenant (37 ms at 100,000 customers instead of 0.3 ms)
        Index("ix_contact_points_customer", "customer_id", "tenant_id"),
    )

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))  # phone, email
    value: Mapped[str] = mapped_column(String(254))
    label: Mapped[str] = mapped_column(String(50), default="")  # mobile, work, home, ...


class Case(_TenantRow, Base):
    """A ticket: something a customer needs that may take more than one interaction."""

    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_listing", "tenant_id", "created_at", "id"),
        Index("ix_cases_customer", "tenant_id", "customer_id", "status"),
    )

    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    subject: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="open")  # open, pending, solved
    priority: Mapped[str] = mapped_column(String(16), default="normal")  # low, normal, high, urgent
    owner_user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    owner_agent_id: Mapped[str | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    solved_at: Mapped[datetime | None] = mapped_column(default=None)


class CaseComment(_TenantRow, Base):
    """A note on a case, or the record of a change of its status."""

    __tablename__ = "case_comments"

    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    author_user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    #: set when the comment records a change of status (e.g. "open -> solved")
    status_change: Mapped[str] = mapped_column(String(40), default="")


class Interaction(_TenantRow, Base):
    """One contact with a customer (or with a number no customer has yet): the timeline's entry."""

    __tablename__ = "interactions"
    __table_args__ = (
        Index("ix_interactions_customer", "tenant_id", "customer_id", "started_at"),
        Index("ix_interactions_number", "tenant_id", "number", "started_at"),
        # one interaction per call: a CallEnded seen twice writes nothing the second time
        UniqueConstraint("tenant_id", "call_id"),
    )

    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    case_id: Mapped[str | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"), index=True)
    channel: Mapped[str] = mapped_column(String(16), default="voice")  # voice, chat, email, sms, note
    direction: Mapped[str] = mapped_column(String(16), default="inbound")  # inbound, outbound
    #: the customer's side: E.164 for phones (the raw caller when it is not a phone number)
    number: Mapped[str] = mapped_column(String(128), default="")
    call_id: Mapped[str | None] = mapped_column(String(64), default=None)
    queue: Mapped[str] = mapped_column(String(64), default="")
    agent: Mapped[str] = mapped_column(String(64), default="")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    wait_s: Mapped[float] = mapped_column(default=0.0)
    talk_s: Mapped[float] = mapped_column(default=0.0)
    disposition: Mapped[str] = mapped_column(String(32), default="")
    recording: Mapped[str | None] = mapped_column(String(500), default=None)
    ivr_path: Mapped[list[Any]] = mapped_column(default=list)
    collected: Mapped[dict[str, Any]] = mapped_column(default=dict)
    notes: Mapped[str] = mapped_column(Text, default="")
