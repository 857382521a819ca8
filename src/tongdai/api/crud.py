"""A REST resource over one tenant-scoped table: list (paginated, filtered), get, create, update, delete,
CSV export. Every query is scoped to the caller's tenant; another tenant's row answers 404."""


import csv
import io
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Optional, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, create_model
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tongdai.api.deps import Allow, context, session, tenant_of
from tongdai.core.errors import Conflict, InvalidInput, NotFound
from tongdai.directory.events import DirectoryChanged
from tongdai.iam import audit
from tongdai.iam.roles import Role
from tongdai.iam.security import Principal

T = TypeVar("T")


class ErrorBody(BaseModel):
    """The one error body of the API."""

    error_id: str
    message: str
    details: Any = None


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409, 413, 422)
}


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


def partial(model: type[BaseModel]) -> type[BaseModel]:
    """The body of a PATCH: the same fields, all optional (the merged result is validated by `model`)."""
    fields: dict[str, Any] = {
        name: (Optional[f.annotation], Field(None, description=f.description))  # noqa: UP045
        for name, f in model.model_fields.items()
    }
    return create_model(  # type: ignore[call-overload, no-any-return]
        model.__name__.removesuffix("In") + "Patch", __config__=ConfigDict(extra="forbid"), **fields
    )


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


#: A moment in time; stored as naive UTC, served with its offset (RFC 3339).
Timestamp = Annotated[datetime, AfterValidator(_as_utc)]


class OutModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


@dataclass
class Resource:
    """How one table is served."""

    path: str
    model: Any
    create: type[BaseModel]
    out: type[BaseModel]
    read_roles: frozenset[Role]
    write_roles: frozenset[Role]
    #: query parameters that filter by equality on the column of the same name
    filters: tuple[str, ...] = ()
    #: fields holding ids of other tenant rows: field -> model, checked to be in the same tenant
    refs: dict[str, Any] = field(default_factory=dict)
    order_by: str = "created_at"
    tag: str = ""


async def _check_refs(db: AsyncSession, res: Resource, tenant_id: str, values: dict[str, Any]) -> None:
    for name, model in res.refs.items():
        ref = values.get(name)
        if ref is None:
            continue
        row = await db.get(model, ref)
        if row is None or row.tenant_id != tenant_id:
            raise InvalidInput(
                f"{name} does not name an existing {model.__tablename__[:-1]}",
                error_id="invalid_reference",
                details={"field": name, "value": ref},
            )


async def _flush(db: AsyncSession, res: Resource) -> None:
    try:
        await db.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"a {res.path.strip('/')[:-1]} with the same unique fields already exists",
            error_id="duplicate",
            details={"reason": str(exc.orig).splitlines()[0][:200]},
        ) from None


async def get_scoped(db: AsyncSession, model: Any, tenant_id: str, row_id: str) -> Any:
    """The row with this id in this tenant, or NotFound (never a hint that it exists elsewhere)."""
    row = await db.get(model, row_id)
    if row is None or row.tenant_id != tenant_id:
        raise NotFound(f"{model.__tablename__[:-1]} {row_id} not found")
    return row


def crud_router(res: Resource) -> APIRouter:
    """The router of one resource."""
    router = APIRouter(prefix=res.path, tags=[res.tag or res.path.strip("/")], responses=ERROR_RESPONSES)
    read, write = Allow(res.read_roles), Allow(res.write_roles)
    resource = res.path.strip("/")

    async def _committed(request: Request, db: AsyncSession, tenant_id: str, row_id: str, op: str) -> None:
        await db.commit()
        await context(request).bus.publish(
            DirectoryChanged(tenant_id=tenant_id, at=time.time(), resource=resource, object_id=row_id, op=op)
        )

    Out, Create = res.out, res.create
    Update = partial(Create)
    columns = {c: getattr(res.model, c) for c in res.filters}

    async def list_rows(
        request: Request,
        limit: int = Query(50, ge=1, le=500),
        offset: int = Query(0, ge=0, le=10_000_000),
        p: Principal = Depends(read),
        db: AsyncSession = Depends(session, scope="function"),
    ) -> dict[str, Any]:
        tenant_id = tenant_of(request, p)
        where = [res.model.tenant_id == tenant_id]
        for name, col in columns.items():
            if (value := request.query_params.get(name)) is not None:
                where.append(col == _coerce(col, value))
        total = (await db.execute(select(func.count()).select_from(res.model).where(*where))).scalar_one()
        order = getattr(res.model, res.order_by)
        rows = (
            await db.execute(select(res.model).where(*where).order_by(order, res.model.id).limit(limit).offset(offset))
        ).scalars()
        return {"items": [Out.model_validate(r) for r in rows], "total": total, "limit": limit, "offset": offset}

    list_rows.__doc__ = f"List {res.path.strip('/')} of the tenant (paginated; filters: {', '.join(res.filters) or 'none'})."
    router.add_api_route("", list_rows, methods=["GET"], response_model=Page[Out], name=f"list_{res.path.strip('/')}")

    async def create_row(
        body: Create, request: Request, p: Principal = Depends(write), db: AsyncSession = Depends(session, scope="function")  # type: ignore[valid-type]
    ) -> Any:
        tenant_id = tenant_of(request, p)
        values = body.model_dump(mode="json")  # type: ignore[attr-defined]
        await _check_refs(db, res, tenant_id, values)
        row = res.model(tenant_id=tenant_id, **values)
        db.add(row)
        await _flush(db, res)
        await _committed(request, db, tenant_id, row.id, "created")
        return Out.model_validate(row)

    router.add_api_route("", create_row, methods=["POST"], response_model=Out, status_code=201, name=f"create_{res.path.strip('/')}")

    async def get_row(row_id: str, request: Request, p: Principal = Depends(read), db: AsyncSession = Depends(session, scope="function")) -> Any:
        return Out.model_validate(await get_scoped(db, res.model, tenant_of(request, p), row_id))

    router.add_api_route("/{row_id}", get_row, methods=["GET"], response_model=Out, name=f"get_{res.path.strip('/')}")

    async def update_row(
        row_id: str, body: Update, request: Request, p: Principal = Depends(write), db: AsyncSession = Depends(session, scope="function")  # type: ignore[valid-type]
    ) -> Any:
        tenant_id = tenant_of(request, p)
        row = await get_scoped(db, res.model, tenant_id, row_id)
        changes = body.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
        merged = {name: getattr(row, name) for name in Create.model_fields} | changes
        try:
            checked = Create.model_validate(merged).model_dump(mode="json")
        except ValidationError as exc:
            raise RequestValidationError(exc.errors(include_url=False)) from None
        values = {k: checked[k] for k in changes}
        await _check_refs(db, res, tenant_id, values)
        for k, v in values.items():
            setattr(row, k, v)
        await _flush(db, res)
        await _committed(request, db, tenant_id, row.id, "updated")
        return Out.model_validate(row)

    router.add_api_route("/{row_id}", update_row, methods=["PATCH"], response_model=Out, name=f"update_{res.path.strip('/')}")

    async def delete_row(row_id: str, request: Request, p: Principal = Depends(write), db: AsyncSession = Depends(session, scope="function")) -> Response:
        tenant_id = tenant_of(request, p)
        row = await get_scoped(db, res.model, tenant_id, row_id)
        await db.delete(row)
        await _flush(db, res)
        await _committed(request, db, tenant_id, row_id, "deleted")
        return Response(status_code=204)

    router.add_api_route("/{row_id}", delete_row, methods=["DELETE"], status_code=204, response_class=Response, name=f"delete_{res.path.strip('/')}")

    async def export_rows(request: Request, p: Principal = Depends(write), db: AsyncSession = Depends(session, scope="function")) -> Response:
        tenant_id = tenant_of(request, p)
        rows = (await db.execute(select(res.model).where(res.model.tenant_id == tenant_id).order_by(res.model.id))).scalars()
        text = _csv([Out.model_validate(r).model_dump(mode="json") for r in rows], list(Out.model_fields))
        audit.record(db, action="data.export", principal=p, tenant_id=tenant_id, target_type=res.path.strip("/"),
                     source_ip=request.client.host if request.client else None)
        return Response(text, media_type="text/csv")

    router.add_api_route(
        "/export.csv", export_rows, methods=["GET"], response_class=Response, name=f"export_{res.path.strip('/')}",
        responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    )
    # the export route must win over /{row_id}
    router.routes.insert(0, router.routes.pop())
    return router


def _coerce(col: Any, value: str) -> Any:
    py = col.type.python_type
    if py is bool:
        return value.lower() in ("1", "true", "yes")
    if py in (int, float):
        try:
            return py(value)
        except ValueError:
            raise InvalidInput(f"filter {col.key} must be a number", details={"value": value}) from None
    return value


def _csv(rows: Iterable[dict[str, Any]], fields: list[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields)
    w.writeheader()
    for r in rows:
        w.writerow({k: (v if isinstance(v, str | int | float | type(None)) else str(v)) for k, v in r.items()})
    return buf.getvalue()
