"""Roles and the permission sets endpoints check."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    PROVIDER_ADMIN = "provider_admin"
    TENANT_ADMIN = "tenant_admin"
    SUPERVISOR = "supervisor"
    AGENT = "agent"
    QUALITY_ANALYST = "quality_analyst"
    WORKFORCE_PLANNER = "workforce_planner"
    REPORTING_VIEWER = "reporting_viewer"


ALL_ROLES = frozenset(Role)
TENANT_ROLES = frozenset(Role) - {Role.PROVIDER_ADMIN}
ADMINS = frozenset({Role.PROVIDER_ADMIN, Role.TENANT_ADMIN})
#: May read the contact-centre directory (queues, agents, skills...).
DIRECTORY_READERS = frozenset(
    {
        Role.PROVIDER_ADMIN,
        Role.TENANT_ADMIN,
        Role.SUPERVISOR,
        Role.QUALITY_ANALYST,
        Role.WORKFORCE_PLANNER,
        Role.REPORTING_VIEWER,
        Role.AGENT,
    }
)
#: May change agents' skills and queues live.
SUPERVISORS = frozenset({Role.PROVIDER_ADMIN, Role.TENANT_ADMIN, Role.SUPERVISOR})
