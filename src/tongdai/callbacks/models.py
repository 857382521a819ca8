"""The table of scheduled callbacks. Times are naive UTC like every table; the API shows them in the
tenant's time zone."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from tongdai.core.db import Base, new_id, utcnow


class ScheduledCallback(Base):
    """A call promised to a customer at a time: placed through a queue (or one agent) when due."""

    __tablename__ = "scheduled_callbacks"
    __table_args__ = (Index("ix_scheduled_callbacks_due", "status", "due_at"),
                      Index("ix_scheduled_callbacks_listing", "tenant_id", "due_at"))

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    number: Mapped[str] = mapped_column(String(32))  # E.164
    queue: Mapped[str] = mapped_column(String(64))  # the queue's name (routing names queues by name)
    due_at: Mapped[datetime] = mapped_column()
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"), default=None)
    note: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)
    agent_id: Mapped[str | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"), default=None)
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    attempts: Mapped[int] = mapped_column(default=0)
    last_result: Mapped[str] = mapped_column(String(64), default="")
    call_id: Mapped[str] = mapped_column(String(64), default="")  # the last attempt's call
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
