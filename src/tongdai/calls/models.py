"""Call records: a CDR per call, a row per leg, and the queue log. Rows are written as things happen,
each in its own committed transaction, so a crash loses none that were written."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from tongdai.core.db import Base, new_id, utcnow


class CallRecord(Base):
    """One call as the caller lived it (the CDR)."""

    __tablename__ = "call_records"
    __table_args__ = (Index("ix_call_records_listing", "tenant_id", "started_at", "id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    call_id: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # internal, outbound, inbound, echo
    caller: Mapped[str] = mapped_column(String(128))
    callee: Mapped[str] = mapped_column(String(128))
    queue: Mapped[str] = mapped_column(String(64), default="")
    agent: Mapped[str] = mapped_column(String(64), default="")
    started_at: Mapped[datetime] = mapped_column()
    answered_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_at: Mapped[datetime] = mapped_column()
    ring_s: Mapped[float] = mapped_column(default=0.0)
    wait_s: Mapped[float] = mapped_column(default=0.0)
    talk_s: Mapped[float] = mapped_column(default=0.0)
    disposition: Mapped[str] = mapped_column(String(32))  # answered, no_answer, busy, failed, cancelled, ...
    cause: Mapped[str] = mapped_column(String(200), default="")
    transferred: Mapped[bool] = mapped_column(default=False)
    #: where the call's recording is stored (the recording storage's location), if it was recorded
    recording: Mapped[str | None] = mapped_column(String(500), default=None)


class CallLegRecord(Base):
    """One leg of a call: a party tongdai talked SIP with."""

    __tablename__ = "call_leg_records"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    call_id: Mapped[str] = mapped_column(String(64), index=True)
    position: Mapped[int] = mapped_column(default=0)  # order of the legs in the call
    role: Mapped[str] = mapped_column(String(16))  # caller, callee, agent, transfer target
    party: Mapped[str] = mapped_column(String(128))
    answered: Mapped[bool] = mapped_column(default=False)
    status: Mapped[int] = mapped_column(default=0)  # the final SIP status of the leg's INVITE


class QueueLogEntry(Base):
    """What happened to a call in a queue: entered, offered, answered, abandoned, transferred, ..."""

    __tablename__ = "queue_log"
    __table_args__ = (Index("ix_queue_log_listing", "tenant_id", "at", "id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    call_id: Mapped[str] = mapped_column(String(64), index=True)
    queue: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(32))
    agent: Mapped[str] = mapped_column(String(64), default="")
    position: Mapped[int | None] = mapped_column(default=None)
    wait_s: Mapped[float | None] = mapped_column(default=None)
    detail: Mapped[str] = mapped_column(String(200), default="")
