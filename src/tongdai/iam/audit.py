"""The audit log: who did what, when, from where. Written in the caller's unit of work."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tongdai.iam.models import AuditEntry
from tongdai.iam.security import Principal


def record(
    db: AsyncSession,
    *,
    action: str,
    principal: Principal | None = None,
    tenant_id: str | None = None,
    actor: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    details: dict[str, Any] | None = None,
    source_ip: str | None = None,
) -> AuditEntry:
    """Add an audit entry (e.g. action="auth.login_failed", "user.role_changed", "data.export")."""
    entry = AuditEntry(
        tenant_id=tenant_id if tenant_id is not None else (principal.tenant_id if principal else None),
        actor_id=principal.subject_id if principal else None,
        actor=actor or (principal.email if principal else None),
        action=action,
        target_type=target_type,
        target_id=target_id,
        details=details or {},
        source_ip=source_ip,
    )
    db.add(entry)
    return entry
