"""Stored call flows: each tenant's versions of each flow; one version per name is active."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tongdai.core.db import Base, new_id, utcnow


class CallFlowVersion(Base):
    """One version of a tenant's call flow (`status`: draft, active or archived)."""

    __tablename__ = "call_flows"
    __table_args__ = (UniqueConstraint("tenant_id", "name", "version"),
                      Index("ix_call_flows_listing", "tenant_id", "created_at", "id"))

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="draft")
    document: Mapped[dict[str, Any]] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(32), default="")
