"""Routes of the CRM: customers (search, contact points, timeline, the screen pop's look-up, CSV import),
interactions and cases. Thin: parse, call the service, serialise; every query is scoped by tenant."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from tongdai.api.crud import ERROR_RESPONSES, Page, get_scoped
from tongdai.api.deps import Allow, session, tenant_of
from tongdai.core.errors import InvalidInput, NotFound
from tongdai.crm import importer, normalise
from tongdai.crm import schemas as s
from tongdai.crm import service as svc
from tongdai.crm.lookup import NoOutsideCrm, OutsideCrm
from tongdai.crm.models import Case, ContactPoint, Customer, Interaction
from tongdai.iam.roles import Role
from tongdai.iam.security import Principal

#: may read customers, cases and timelines (agents for the screen pop, quality analysts for reviews)
CRM_READERS = frozenset({Role.PROVIDER_ADMIN, Role.TENANT_ADMIN, Role.SUPERVISOR, Role.AGENT, Role.QUALITY_ANALYST})
#: may create and change customers, cases and interactions (agents do during calls)
CRM_WRITERS = frozenset({Role.PROVIDER_ADMIN, Role.TENANT_ADMIN, Role.SUPERVISOR, Role.AGENT})
#: may delete customers and cases and import files
CRM_MANAGERS = frozenset({Role.PROVIDER_ADMIN, Role.TENANT_ADMIN, Role.SUPERVISOR})

read, write, manage = Allow(CRM_READERS), Allow(CRM_WRITERS), Allow(CRM_MANAGERS)
router = APIRouter(tags=["crm"], responses=ERROR_RESPONSES)
_TEXT = r"^[^\x00-\x1f]*$"  # search texts: no control characters (PostgreSQL refuses NUL)


def _author(p: Principal) -> str | None:
    return p.subject_id if p.kind == "user" else None


def _outside(request: Request) -> OutsideCrm:
    return getattr(request.app.state, "outside_crm", None) or NoOutsideCrm()


async def _customers_out(db: AsyncSession, tenant_id: str, customers: list[Customer]) -> list[s.CustomerOut]:
    points = await svc.contact_points_of(db, tenant_id, [c.id for c in customers])
    return [s.CustomerOut.model_validate(c).model_copy(
        update={"contact_points": [s.ContactPointOut.model_validate(cp) for cp in points[c.id]]}) for c in customers]


# Path objects are looked up in dependencies, which FastAPI resolves before the body: another tenant's
# id answers 404 whatever the body holds.
def _customer(allow: Allow) -> Any:
    async def dep(customer_id: str, request: Request, p: Principal = Depends(allow),
                  db: AsyncSession = Depends(session, scope="function")) -> Customer:
        return await get_scoped(db, Customer, tenant_of(request, p), customer_id)  # type: ignore[no-any-return]
    return dep


def _case(allow: Allow) -> Any:
    async def dep(case_id: str, request: Request, p: Principal = Depends(allow),
                  db: AsyncSession = Depends(session, scope="function")) -> Case:
        return await get_scoped(db, Case, tenant_of(request, p), case_id)  # type: ignore[no-any-return]
    return dep


customer_read, customer_write, customer_manage = _customer(read), _customer(write), _customer(manage)
case_read, case_write, case_manage = _case(read), _case(write), _case(manage)


# --- customers ---
@router.get("/customers", response_model=Page[s.CustomerOut])
async def list_customers(
    request: Request, q: str = Query("", max_length=200, pattern=_TEXT, description="Name, phone, e-mail or external id"),
    name: str = Query("", max_length=200, pattern=_TEXT), phone: str = Query("", max_length=64, pattern=_TEXT),
    email: str = Query("", max_length=254, pattern=_TEXT), vip_tier: str = Query("", max_length=32, pattern=_TEXT),
    limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=10_000_000),
    p: Principal = Depends(read), db: AsyncSession = Depends(session, scope="function"),
) -> dict[str, Any]:
    """Search the tenant's customers by name, phone (whole number or digits), e-mail, VIP tier, or all at once (q)."""
    tenant_id = tenant_of(request, p)
    rows, total = await svc.search_customers(db, tenant_id=tenant_id, limit=limit, offset=offset, q=q, name=name,
                                             phone=phone, email=email, vip_tier=vip_tier)
    return {"items": await _customers_out(db, tenant_id, rows), "total": total, "limit": limit, "offset": offset}


@router.post("/customers", response_model=s.CustomerOut, status_code=201)
async def create_customer(body: s.CustomerIn, request: Request, p: Principal = Depends(write),
                          db: AsyncSession = Depends(session, scope="function")) -> s.CustomerOut:
    """Create a customer with its phone numbers (read in the tenant's country, stored in E.164) and e-mails."""
    tenant_id = tenant_of(request, p)
    fields = body.model_dump(mode="json", exclude={"phones", "emails"})
    customer = await svc.create_customer(db, tenant_id=tenant_id, fields=fields, phones=body.phones, emails=body.emails)
    return (await _customers_out(db, tenant_id, [customer]))[0]


@router.get("/customers/lookup", response_model=s.LookupOut)
async def lookup_caller(request: Request, phone: str = Query(..., min_length=1, max_length=64, pattern=_TEXT),
                        p: Principal = Depends(read), db: AsyncSession = Depends(session, scope="function")) -> s.LookupOut:
    """The screen pop: the customer a number belongs to (or the outside CRM's record), VIP tier, language,
    recent interactions, open and solved cases."""
    tenant_id = tenant_of(request, p)
    e164 = normalise.phone(phone, await svc.region_of(db, tenant_id))
    outside = asyncio.ensure_future(_outside(request).find(tenant_id, e164)) if e164 else None
    recent_n = request.app.state.ctx.settings.crm.recent_interactions
    customer_id = await svc.customer_id_for_phone(db, tenant_id, e164) if e164 else None
    customer, open_cases, solved = None, [], []
    if customer_id is not None:
        customer = (await _customers_out(db, tenant_id, [await get_scoped(db, Customer, tenant_id, customer_id)]))[0]
        recent, _ = await svc.timeline(db, tenant_id=tenant_id, customer_id=customer_id, limit=recent_n)
        open_cases = await svc.cases_of(db, tenant_id=tenant_id, customer_id=customer_id, open_=True, limit=20)
        solved = await svc.cases_of(db, tenant_id=tenant_id, customer_id=customer_id, open_=False, limit=20)
    elif e164 is not None:  # a number nobody has yet: its own history
        recent = await svc.number_history(db, tenant_id=tenant_id, number=e164, limit=recent_n)
    else:
        recent = []
    external = await outside if outside is not None else None
    who: Any = customer or external
    return s.LookupOut(
        phone=e164, source="local" if customer else ("external" if external else None), customer=customer,
        external=external, vip_tier=who.vip_tier if who else "", language=who.language if who else "",
        recent_interactions=recent, open_cases=[s.CaseOut.model_validate(c) for c in open_cases],
        solved_cases=[s.CaseOut.model_validate(c) for c in solved],
    )


_IMPORT_BODY = {"requestBody": {"content": {
    "text/csv": {"schema": {"type": "string"}},
    "multipart/form-data": {"schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}},
                                       "required": ["file"]}},
}}}


async def _csv_text(request: Request) -> str:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise InvalidInput("the form has no file field", error_id="invalid_file")
        data = await upload.read()
    elif kind in ("text/csv", "text/plain", "application/csv"):
        data = await request.body()
    else:
        raise InvalidInput("send the file as text/csv or multipart/form-data (field 'file')", error_id="invalid_file",
                           details={"content_type": kind})
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("the file is not UTF-8 text", error_id="invalid_file") from None


@router.post("/customers/import", response_model=s.ImportReport, openapi_extra=_IMPORT_BODY)
async def import_customers(request: Request, p: Principal = Depends(manage),
                           db: AsyncSession = Depends(session, scope="function")) -> s.ImportReport:
    """Import customers from CSV (columns: external_id, name, kind, vip_tier, language, address, phone, email,
    notes); rows with a known external_id update that customer. Answers the report: rejected rows with their line."""
    tenant_id = tenant_of(request, p)
    text = await _csv_text(request)
    try:
        parsed = importer.parse(text, await svc.region_of(db, tenant_id))
    except importer.ImportFileError as exc:
        raise InvalidInput(str(exc), error_id="invalid_file") from None
    result = await svc.apply_import(db, tenant_id=tenant_id, parsed=parsed)
    return s.ImportReport(rows=parsed.total, imported=result.created + result.updated, created=result.created,
                          updated=result.updated, rejected=[s.Rejected(row=r.line, reason=r.reason,
                                                                       external_id=r.external_id)
                                                            for r in result.rejected])


@router.get("/customers/{customer_id}", response_model=s.CustomerOut)
async def get_customer(customer: Customer = Depends(customer_read),
                       db: AsyncSession = Depends(session, scope="function")) -> s.CustomerOut:
    """One customer with its contact points."""
    return (await _customers_out(db, customer.tenant_id, [customer]))[0]


@router.patch("/customers/{customer_id}", response_model=s.CustomerOut)
async def update_customer(body: s.CustomerPatch, customer: Customer = Depends(customer_write),
                          db: AsyncSession = Depends(session, scope="function")) -> s.CustomerOut:
    """Change a customer's fields (contact points have their own routes)."""
    changes = body.model_dump(mode="json", exclude_unset=True)
    if changes.get("name", "") is None or changes.get("kind", "") is None:
        raise InvalidInput("name and kind cannot be null", details={"fields": ["name", "kind"]})
    row = await svc.update_customer(db, tenant_id=customer.tenant_id, customer_id=customer.id,
                                    changes={k: ("" if v is None and k != "external_id" else v) for k, v in changes.items()})
    return (await _customers_out(db, row.tenant_id, [row]))[0]


@router.delete("/customers/{customer_id}", status_code=204, response_class=Response)
async def delete_customer(customer: Customer = Depends(customer_manage), db: AsyncSession = Depends(session, scope="function")) -> Response:
    """Delete a customer and its contact points (its interactions and cases stay, without the link)."""
    await db.delete(customer)
    await db.flush()
    return Response(status_code=204)


@router.get("/customers/{customer_id}/contact-points", response_model=list[s.ContactPointOut])
async def list_contact_points(customer: Customer = Depends(customer_read),
                              db: AsyncSession = Depends(session, scope="function")) -> list[s.ContactPointOut]:
    """The customer's phone numbers and e-mail addresses."""
    points = await svc.contact_points_of(db, customer.tenant_id, [customer.id])
    return [s.ContactPointOut.model_validate(cp) for cp in points[customer.id]]


@router.post("/customers/{customer_id}/contact-points", response_model=s.ContactPointOut, status_code=201)
async def add_contact_point(body: s.ContactPointIn, customer: Customer = Depends(customer_write),
                            db: AsyncSession = Depends(session, scope="function")) -> s.ContactPointOut:
    """Add a phone number (stored in E.164) or an e-mail address; 409 when another customer has it."""
    cp = await svc.add_contact_point(db, tenant_id=customer.tenant_id, customer_id=customer.id, kind=body.kind.value,
                                     value=body.value, label=body.label, region=await svc.region_of(db, customer.tenant_id))
    return s.ContactPointOut.model_validate(cp)


@router.delete("/customers/{customer_id}/contact-points/{contact_point_id}", status_code=204, response_class=Response)
async def delete_contact_point(contact_point_id: str, customer: Customer = Depends(customer_write),
                               db: AsyncSession = Depends(session, scope="function")) -> Response:
    """Remove a contact point of the customer."""
    cp: ContactPoint = await get_scoped(db, ContactPoint, customer.tenant_id, contact_point_id)
    if cp.customer_id != customer.id:
        raise NotFound(f"contact point {contact_point_id} not found")
    await db.delete(cp)
    await db.flush()
    return Response(status_code=204)


@router.get("/customers/{customer_id}/timeline", response_model=Page[s.InteractionOut])
async def customer_timeline(limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=10_000_000),
                            customer: Customer = Depends(customer_read), db: AsyncSession = Depends(session, scope="function")) -> dict[str, Any]:
    """The customer's interactions, newest first: calls (queue, agent, wait, talk, disposition, recording) and notes."""
    items, total = await svc.timeline(db, tenant_id=customer.tenant_id, customer_id=customer.id, limit=limit, offset=offset)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.post("/customers/{customer_id}/interactions", response_model=s.InteractionOut, status_code=201)
async def add_interaction(body: s.NoteIn, customer: Customer = Depends(customer_write),
                          db: AsyncSession = Depends(session, scope="function")) -> s.InteractionOut:
    """Write an interaction by hand (a visit, a message outside tongdai) into the customer's timeline."""
    await svc.check_refs(db, customer.tenant_id, {"case_id": body.case_id})
    row = Interaction(tenant_id=customer.tenant_id, customer_id=customer.id, **body.model_dump())
    db.add(row)
    await db.flush()
    return s.InteractionOut.model_validate(row)


# --- interactions ---
@router.patch("/interactions/{interaction_id}", response_model=s.InteractionOut)
async def update_interaction(interaction_id: str, body: s.InteractionPatch, request: Request,
                             p: Principal = Depends(write), db: AsyncSession = Depends(session, scope="function")) -> s.InteractionOut:
    """Link an interaction to a customer or a case, set its disposition, add notes (e.g. at wrap-up)."""
    tenant_id = tenant_of(request, p)
    await get_scoped(db, Interaction, tenant_id, interaction_id)  # 404 before the body is checked
    changes = body.model_dump(exclude_unset=True)
    for key in ("disposition", "notes"):
        if key in changes and changes[key] is None:
            changes[key] = ""
    row = await svc.update_interaction(db, tenant_id=tenant_id, interaction_id=interaction_id, changes=changes)
    return s.InteractionOut.model_validate(row)


# --- cases ---
@router.get("/cases", response_model=Page[s.CaseOut])
async def list_cases(
    request: Request, status: s.CaseStatus | None = None, customer_id: str = Query("", max_length=32, pattern=_TEXT),
    owner_user_id: str = Query("", max_length=32, pattern=_TEXT), owner_agent_id: str = Query("", max_length=32, pattern=_TEXT),
    priority: s.CasePriority | None = None, limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=10_000_000), p: Principal = Depends(read), db: AsyncSession = Depends(session, scope="function"),
) -> dict[str, Any]:
    """Cases of the tenant, latest change first (filters: status, customer, owner, priority)."""
    filters = {"status": status.value if status else "", "customer_id": customer_id, "owner_user_id": owner_user_id,
               "owner_agent_id": owner_agent_id, "priority": priority.value if priority else ""}
    rows, total = await svc.list_cases(db, tenant_id=tenant_of(request, p), filters=filters, limit=limit, offset=offset)
    return {"items": [s.CaseOut.model_validate(c) for c in rows], "total": total, "limit": limit, "offset": offset}


@router.post("/cases", response_model=s.CaseOut, status_code=201)
async def create_case(body: s.CaseIn, request: Request, p: Principal = Depends(write),
                      db: AsyncSession = Depends(session, scope="function")) -> s.CaseOut:
    """Open a case (for a customer, owned by a user or an agent)."""
    case = await svc.create_case(db, tenant_id=tenant_of(request, p), fields=body.model_dump(mode="json"),
                                 author=_author(p))
    return s.CaseOut.model_validate(case)


@router.get("/cases/{case_id}", response_model=s.CaseDetail)
async def get_case(case: Case = Depends(case_read), db: AsyncSession = Depends(session, scope="function")) -> s.CaseDetail:
    """One case with its comments (and changes of status) and its linked interactions."""
    comments = await svc.comments_of(db, tenant_id=case.tenant_id, case_id=case.id)
    interactions = await svc.interactions_of_case(db, tenant_id=case.tenant_id, case_id=case.id)
    return s.CaseDetail(**s.CaseOut.model_validate(case).model_dump(),
                        comments=[s.CommentOut.model_validate(c) for c in comments], interactions=interactions)


@router.patch("/cases/{case_id}", response_model=s.CaseOut)
async def update_case(body: s.CasePatch, case: Case = Depends(case_write), p: Principal = Depends(write),
                      db: AsyncSession = Depends(session, scope="function")) -> s.CaseOut:
    """Change a case: status (open, pending, solved: kept as a comment), priority, owner, subject."""
    changes = body.model_dump(mode="json", exclude_unset=True, exclude={"comment"})
    for key in ("subject", "status", "priority", "description"):
        if key in changes and changes[key] is None:
            raise InvalidInput(f"{key} cannot be null", details={"field": key})
    row = await svc.update_case(db, tenant_id=case.tenant_id, case_id=case.id, changes=changes, comment=body.comment,
                                author=_author(p))
    return s.CaseOut.model_validate(row)


@router.delete("/cases/{case_id}", status_code=204, response_class=Response)
async def delete_case(case: Case = Depends(case_manage), db: AsyncSession = Depends(session, scope="function")) -> Response:
    """Delete a case and its comments (its interactions stay, without the link)."""
    await db.delete(case)
    await db.flush()
    return Response(status_code=204)


@router.get("/cases/{case_id}/comments", response_model=list[s.CommentOut])
async def list_comments(case: Case = Depends(case_read), db: AsyncSession = Depends(session, scope="function")) -> list[s.CommentOut]:
    """The case's comments and changes of status, oldest first."""
    return [s.CommentOut.model_validate(c) for c in await svc.comments_of(db, tenant_id=case.tenant_id, case_id=case.id)]


@router.post("/cases/{case_id}/comments", response_model=s.CommentOut, status_code=201)
async def add_comment(body: s.CommentIn, case: Case = Depends(case_write), p: Principal = Depends(write),
                      db: AsyncSession = Depends(session, scope="function")) -> s.CommentOut:
    """Add a comment to the case."""
    comment = await svc.add_comment(db, tenant_id=case.tenant_id, case_id=case.id, body=body.body, author=_author(p))
    return s.CommentOut.model_validate(comment)
