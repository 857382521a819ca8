"""FastAPI dependencies: the database session, the caller, role checks and tenant scope."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tongdai.api.state import ApiContext
from tongdai.core.db import utcnow
from tongdai.core.errors import Forbidden, InvalidInput, Unauthenticated
from tongdai.iam.models import ApiKey
from tongdai.iam.roles import Role
from tongdai.iam.security import Principal, hash_api_key, same_hash, split_api_key

TENANT_HEADER = "X-Tenant-Id"


def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


async def session(request: Request) -> AsyncIterator[AsyncSession]:
    """One unit of work per request: committed when the endpoint returns, rolled back on error.

    Reads (GET, HEAD) that changed nothing skip the COMMIT round trip. Routes declare it with
    `Depends(session, scope="function")`: the commit happens before the response is sent, so a client
    that reads back what it just saved finds it (the default scope ends after the response)."""
    ctx = context(request)
    if request.method in ("GET", "HEAD"):
        async with ctx.db.sessionmaker() as s:
            yield s
            if s.new or s.dirty or s.deleted:
                await s.commit()
        return
    async with ctx.db.session() as s:
        yield s


async def principal(request: Request, db: AsyncSession = Depends(session, scope="function")) -> Principal:
    """The authenticated caller, from `Authorization: Bearer` or `X-API-Key`."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        p = context(request).tokens.check(auth[7:].strip())
    elif key := request.headers.get("x-api-key"):
        p = await _api_key_principal(db, key)
    else:
        raise Unauthenticated()
    request.state.principal = p
    return p


async def _api_key_principal(db: AsyncSession, key: str) -> Principal:
    prefix = split_api_key(key)
    row = None
    if prefix:
        row = (await db.execute(select(ApiKey).where(ApiKey.prefix == prefix))).scalar_one_or_none()
    if row is None or row.revoked_at is not None or not same_hash(row.key_hash, hash_api_key(key)):
        raise Unauthenticated("the API key is not valid", error_id="invalid_api_key")
    return Principal(row.id, row.role, row.tenant_id, None, kind="api_key")


class Allow:
    """Dependency that admits only the given roles; `roles` is read by the generated role tests."""

    def __init__(self, roles: Iterable[Role]) -> None:
        self.roles = frozenset(roles)

    async def __call__(self, p: Principal = Depends(principal)) -> Principal:
        if p.role not in self.roles:
            raise Forbidden(details={"role": p.role, "allowed": sorted(self.roles)})
        return p


def tenant_of(request: Request, p: Principal) -> str:
    """The tenant a request acts on: the caller's own, or for a provider admin the X-Tenant-Id header."""
    if p.tenant_id is not None:
        return p.tenant_id
    chosen = request.headers.get(TENANT_HEADER)
    if not chosen:
        raise InvalidInput(
            f"a provider admin must name the tenant in the {TENANT_HEADER} header",
            error_id="tenant_required",
        )
    return chosen


__all__ = ["Allow", "TENANT_HEADER", "context", "principal", "session", "tenant_of", "utcnow"]
