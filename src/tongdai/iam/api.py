"""Routes of identity and tenancy: log-in, the caller, tenants, users, API keys, audit log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tongdai.api.crud import ERROR_RESPONSES, Page, get_scoped
from tongdai.api.deps import Allow, context, principal, session, tenant_of
from tongdai.core.db import utcnow
from tongdai.core.errors import NotFound
from tongdai.iam import audit, service
from tongdai.iam.errors import RoleNotGrantable
from tongdai.iam.models import ApiKey, AuditEntry, Tenant, User
from tongdai.iam.roles import ADMINS, Role
from tongdai.iam.schemas import (
    ApiKeyCreated,
    ApiKeyIn,
    ApiKeyOut,
    AuditOut,
    Me,
    TenantIn,
    TenantOut,
    Token,
    UserIn,
    UserOut,
    UserPatch,
)
from tongdai.iam.security import Principal, hash_password

router = APIRouter(responses=ERROR_RESPONSES)
PROVIDER = Allow({Role.PROVIDER_ADMIN})
ADMIN = Allow(ADMINS)


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


@router.post("/auth/token", response_model=Token, tags=["auth"])
async def issue_token(
    request: Request, form: OAuth2PasswordRequestForm = Depends(), db: AsyncSession = Depends(session, scope="function")
) -> Token:
    """Log in with e-mail and password (OAuth2 password flow); returns a bearer token."""
    ctx = context(request)
    p = await service.login(
        db, email=form.username, password=form.password, source_ip=_ip(request),
        max_failures=ctx.settings.security.login_max_failures,
    )
    return Token(access_token=ctx.tokens.issue(p), expires_in=ctx.tokens.ttl_s)


@router.get("/auth/me", response_model=Me, tags=["auth"])
async def me(p: Principal = Depends(principal)) -> Me:
    """Who the caller is."""
    return Me(id=p.subject_id, kind=p.kind, role=p.role, tenant_id=p.tenant_id, email=p.email)


# --- tenants (the provider's business) ---


@router.get("/tenants", response_model=Page[TenantOut], tags=["tenants"])
async def list_tenants(
    limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=10_000_000),
    _: Principal = Depends(PROVIDER), db: AsyncSession = Depends(session, scope="function"),
) -> dict[str, Any]:
    """List tenants (provider admins)."""
    total = (await db.execute(select(func.count()).select_from(Tenant))).scalar_one()
    rows = (await db.execute(select(Tenant).order_by(Tenant.created_at, Tenant.id).limit(limit).offset(offset))).scalars()
    return {"items": [TenantOut.model_validate(r) for r in rows], "total": total, "limit": limit, "offset": offset}


@router.post("/tenants", response_model=TenantOut, status_code=201, tags=["tenants"])
async def create_tenant(body: TenantIn, p: Principal = Depends(PROVIDER), db: AsyncSession = Depends(session, scope="function")) -> Any:
    """Create a tenant (a client company)."""
    t = await service.create_tenant(db, **body.model_dump())
    audit.record(db, action="tenant.created", principal=p, tenant_id=t.id, target_type="tenant", target_id=t.id)
    return TenantOut.model_validate(t)


@router.get("/tenants/{tenant_id}", response_model=TenantOut, tags=["tenants"])
async def get_tenant(tenant_id: str, p: Principal = Depends(ADMIN), db: AsyncSession = Depends(session, scope="function")) -> Any:
    """One tenant: any for provider admins, their own for tenant admins."""
    t = await db.get(Tenant, tenant_id)
    if t is None or (p.tenant_id is not None and p.tenant_id != tenant_id):
        raise NotFound(f"tenant {tenant_id} not found")
    return TenantOut.model_validate(t)


@router.delete("/tenants/{tenant_id}", status_code=204, response_class=Response, tags=["tenants"])
async def delete_tenant(tenant_id: str, p: Principal = Depends(PROVIDER), db: AsyncSession = Depends(session, scope="function")) -> Response:
    """Delete a tenant and everything it owns."""
    t = await db.get(Tenant, tenant_id)
    if t is None:
        raise NotFound(f"tenant {tenant_id} not found")
    await db.delete(t)
    audit.record(db, action="tenant.deleted", principal=p, tenant_id=tenant_id, target_type="tenant", target_id=tenant_id)
    return Response(status_code=204)


# --- users ---


def _check_grantable(p: Principal, role: Role) -> None:
    if role == Role.PROVIDER_ADMIN and p.role != Role.PROVIDER_ADMIN:
        raise RoleNotGrantable(details={"role": role})


@router.get("/users", response_model=Page[UserOut], tags=["users"])
async def list_users(
    request: Request, limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=10_000_000),
    role: Role | None = None, p: Principal = Depends(ADMIN), db: AsyncSession = Depends(session, scope="function"),
) -> dict[str, Any]:
    """List the users of the tenant."""
    where = [User.tenant_id == tenant_of(request, p)]
    if role is not None:
        where.append(User.role == role)
    total = (await db.execute(select(func.count()).select_from(User).where(*where))).scalar_one()
    rows = (await db.execute(select(User).where(*where).order_by(User.created_at, User.id).limit(limit).offset(offset))).scalars()
    return {"items": [UserOut.model_validate(r) for r in rows], "total": total, "limit": limit, "offset": offset}


@router.post("/users", response_model=UserOut, status_code=201, tags=["users"])
async def create_user(body: UserIn, request: Request, p: Principal = Depends(ADMIN), db: AsyncSession = Depends(session, scope="function")) -> Any:
    """Create a user in the tenant."""
    _check_grantable(p, body.role)
    tenant_id = None if body.role == Role.PROVIDER_ADMIN else tenant_of(request, p)
    if tenant_id is not None and await db.get(Tenant, tenant_id) is None:
        raise NotFound(f"tenant {tenant_id} not found")
    u = await service.create_user(db, tenant_id=tenant_id, **body.model_dump())
    audit.record(db, action="user.created", principal=p, tenant_id=tenant_id, target_type="user", target_id=u.id,
                 details={"role": u.role}, source_ip=_ip(request))
    return UserOut.model_validate(u)


@router.get("/users/{user_id}", response_model=UserOut, tags=["users"])
async def get_user(user_id: str, request: Request, p: Principal = Depends(ADMIN), db: AsyncSession = Depends(session, scope="function")) -> Any:
    """One user of the tenant."""
    return UserOut.model_validate(await get_scoped(db, User, tenant_of(request, p), user_id))


@router.patch("/users/{user_id}", response_model=UserOut, tags=["users"])
async def update_user(
    user_id: str, body: UserPatch, request: Request, p: Principal = Depends(ADMIN), db: AsyncSession = Depends(session, scope="function")
) -> Any:
    """Change a user's name, role, password or active flag; role changes are audited."""
    u = await get_scoped(db, User, tenant_of(request, p), user_id)
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if (role := changes.pop("role", None)) is not None and role != u.role:
        _check_grantable(p, role)
        audit.record(db, action="user.role_changed", principal=p, target_type="user", target_id=u.id,
                     details={"from": u.role, "to": str(role)}, source_ip=_ip(request))
        u.role = str(role)
    if (password := changes.pop("password", None)) is not None:
        u.password_hash = hash_password(password)
        audit.record(db, action="user.password_changed", principal=p, target_type="user", target_id=u.id)
    for k, v in changes.items():
        setattr(u, k, v)
    return UserOut.model_validate(u)


@router.delete("/users/{user_id}", status_code=204, response_class=Response, tags=["users"])
async def delete_user(user_id: str, request: Request, p: Principal = Depends(ADMIN), db: AsyncSession = Depends(session, scope="function")) -> Response:
    """Delete a user."""
    u = await get_scoped(db, User, tenant_of(request, p), user_id)
    await db.delete(u)
    audit.record(db, action="user.deleted", principal=p, target_type="user", target_id=user_id)
    return Response(status_code=204)


# --- API keys ---


@router.get("/api-keys", response_model=Page[ApiKeyOut], tags=["api-keys"])
async def list_api_keys(request: Request, p: Principal = Depends(ADMIN), db: AsyncSession = Depends(session, scope="function")) -> dict[str, Any]:
    """API keys of the tenant (never the keys themselves)."""
    rows = list((await db.execute(select(ApiKey).where(ApiKey.tenant_id == tenant_of(request, p)).order_by(ApiKey.created_at))).scalars())
    return {"items": [ApiKeyOut.model_validate(r) for r in rows], "total": len(rows), "limit": len(rows), "offset": 0}


@router.post("/api-keys", response_model=ApiKeyCreated, status_code=201, tags=["api-keys"])
async def create_api_key(body: ApiKeyIn, request: Request, p: Principal = Depends(ADMIN), db: AsyncSession = Depends(session, scope="function")) -> Any:
    """Create an API key for an integration; the key is shown only in this answer."""
    _check_grantable(p, body.role)
    tenant_id = tenant_of(request, p)
    row, key = await service.create_api_key(db, tenant_id=tenant_id, name=body.name, role=body.role, created_by=p.subject_id)
    audit.record(db, action="api_key.created", principal=p, tenant_id=tenant_id, target_type="api_key", target_id=row.id,
                 details={"role": row.role})
    return ApiKeyCreated(**ApiKeyOut.model_validate(row).model_dump(), key=key)


@router.delete("/api-keys/{key_id}", status_code=204, response_class=Response, tags=["api-keys"])
async def revoke_api_key(key_id: str, request: Request, p: Principal = Depends(ADMIN), db: AsyncSession = Depends(session, scope="function")) -> Response:
    """Revoke an API key."""
    row = await get_scoped(db, ApiKey, tenant_of(request, p), key_id)
    row.revoked_at = utcnow()
    audit.record(db, action="api_key.revoked", principal=p, target_type="api_key", target_id=key_id)
    return Response(status_code=204)


# --- audit log ---


@router.get("/audit", response_model=Page[AuditOut], tags=["audit"])
async def list_audit(
    request: Request, limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=10_000_000),
    action: str | None = Query(None, max_length=64), p: Principal = Depends(ADMIN), db: AsyncSession = Depends(session, scope="function"),
) -> dict[str, Any]:
    """The tenant's audit log, newest first."""
    where = [AuditEntry.tenant_id == tenant_of(request, p)]
    if action:
        where.append(AuditEntry.action == action)
    total = (await db.execute(select(func.count()).select_from(AuditEntry).where(*where))).scalar_one()
    rows = (await db.execute(select(AuditEntry).where(*where).order_by(AuditEntry.at.desc(), AuditEntry.id).limit(limit).offset(offset))).scalars()
    return {"items": [AuditOut.model_validate(r) for r in rows], "total": total, "limit": limit, "offset": offset}
