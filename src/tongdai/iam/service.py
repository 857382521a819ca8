"""Identity and tenancy: tenants, users, log-in with lock-out, API keys."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tongdai.core.db import utcnow
from tongdai.core.errors import Conflict
from tongdai.iam import audit
from tongdai.iam.errors import AccountLocked, BadCredentials, EmailTaken
from tongdai.iam.models import ApiKey, Tenant, User
from tongdai.iam.roles import Role
from tongdai.iam.security import Principal, hash_password, new_api_key, verify_password

LOCK_WINDOW = timedelta(minutes=15)


async def create_tenant(db: AsyncSession, *, slug: str, name: str, **extra: object) -> Tenant:
    tenant = Tenant(slug=slug, name=name, **extra)
    db.add(tenant)
    try:
        await db.flush()
    except IntegrityError:
        raise Conflict(f"a tenant with slug {slug!r} already exists", error_id="tenant_exists") from None
    return tenant


async def get_tenant_by_slug(db: AsyncSession, slug: str) -> Tenant | None:
    return (await db.execute(select(Tenant).where(Tenant.slug == slug))).scalar_one_or_none()


async def create_user(
    db: AsyncSession, *, tenant_id: str | None, email: str, name: str, role: Role, password: str, active: bool = True
) -> User:
    user = User(
        tenant_id=tenant_id, email=email.lower(), name=name, role=str(role), password_hash=hash_password(password),
        active=active,
    )
    db.add(user)
    try:
        await db.flush()
    except IntegrityError:
        raise EmailTaken(details={"email": email}) from None
    return user


async def login(db: AsyncSession, *, email: str, password: str, source_ip: str | None, max_failures: int) -> Principal:
    """Check a password; count failures, lock after `max_failures` within 15 minutes; audit both outcomes."""
    user = (await db.execute(select(User).where(User.email == email.lower()))).scalar_one_or_none()
    ok = verify_password(user.password_hash if user else None, password)
    now = utcnow()
    if user is not None and user.locked_until is not None and user.locked_until > now:
        audit.record(db, action="auth.login_refused_locked", tenant_id=user.tenant_id, actor=email, source_ip=source_ip)
        await db.commit()  # the refusal is recorded even though the request fails
        raise AccountLocked()
    if user is None or not ok or not user.active:
        audit.record(db, action="auth.login_failed", tenant_id=user.tenant_id if user else None, actor=email,
                     source_ip=source_ip)
        if user is not None:
            user.failed_logins += 1
            if user.failed_logins >= max_failures:
                user.locked_until = now + LOCK_WINDOW
                user.failed_logins = 0
        await db.commit()  # the failure is recorded even though the request fails
        raise BadCredentials()
    user.failed_logins = 0
    user.locked_until = None
    principal = Principal(user.id, user.role, user.tenant_id, user.email)
    audit.record(db, action="auth.login", principal=principal, source_ip=source_ip)
    return principal


async def create_api_key(db: AsyncSession, *, tenant_id: str | None, name: str, role: Role,
                         created_by: str | None) -> tuple[ApiKey, str]:
    key, prefix, key_hash = new_api_key()
    row = ApiKey(tenant_id=tenant_id, name=name, role=str(role), prefix=prefix, key_hash=key_hash, created_by=created_by)
    db.add(row)
    await db.flush()
    return row, key
