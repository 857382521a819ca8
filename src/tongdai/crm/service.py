"""CRM services: plain functions over a session (keyword-only arguments), every query scoped by tenant.
`match_caller` is the call path's caller match: one indexed query."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from tongdai.api.crud import get_scoped
from tongdai.calls.models import CallRecord
from tongdai.core.db import Database, utcnow
from tongdai.core.errors import Conflict, InvalidInput
from tongdai.crm import normalise
from tongdai.crm.importer import ImportRow, Parsed, Rejection
from tongdai.crm.models import Case, CaseComment, ContactPoint, Customer, Interaction
from tongdai.crm.schemas import InteractionOut
from tongdai.directory.models import Agent
from tongdai.iam.models import Tenant, User

OPEN_STATUSES = ("open", "pending")
#: a search text that is a phone number or a fragment of one
_PHONE_LIKE = re.compile(r"^[+0-9 ().-]{3,}$")


# --- the caller match of the call path ---
@dataclass(frozen=True)
class CallerMatch:
    """The customer a calling number belongs to, as call variables need it."""

    customer_id: str
    name: str
    vip_tier: str
    language: str
    open_cases: int


async def match_caller(db: Database, tenant_id: str, e164: str) -> CallerMatch | None:
    """The customer whose phone contact point is `e164` in this tenant, or None (one indexed query)."""
    open_cases = (
        select(func.count(Case.id))
        .where(Case.tenant_id == tenant_id, Case.customer_id == Customer.id, Case.status.in_(OPEN_STATUSES))
        .correlate(Customer).scalar_subquery()
    )
    stmt = (
        select(Customer.id, Customer.name, Customer.vip_tier, Customer.language, open_cases)
        .join(ContactPoint, ContactPoint.customer_id == Customer.id)
        .where(ContactPoint.tenant_id == tenant_id, ContactPoint.kind == "phone", ContactPoint.value == e164)
        .limit(1)
    )
    async with db.sessionmaker() as session:
        row = (await session.execute(stmt)).first()
    return None if row is None else CallerMatch(row[0], row[1], row[2], row[3], int(row[4] or 0))


async def region_of(db: AsyncSession, tenant_id: str) -> str:
    """The tenant's country, in which numbers without a country code are read."""
    region = (await db.execute(select(Tenant.default_region).where(Tenant.id == tenant_id))).scalar()
    return str(region or "VN")


async def customer_id_for_phone(db: AsyncSession, tenant_id: str, e164: str) -> str | None:
    """The id of the customer this number belongs to."""
    stmt = select(ContactPoint.customer_id).where(
        ContactPoint.tenant_id == tenant_id, ContactPoint.kind == "phone", ContactPoint.value == e164)
    return (await db.execute(stmt)).scalar()


# --- customers ---
async def contact_points_of(db: AsyncSession, tenant_id: str, customer_ids: Sequence[str]) -> dict[str, list[ContactPoint]]:
    """Contact points of these customers, by customer id."""
    out: dict[str, list[ContactPoint]] = {cid: [] for cid in customer_ids}
    if customer_ids:
        stmt = (select(ContactPoint).where(ContactPoint.tenant_id == tenant_id, ContactPoint.customer_id.in_(customer_ids))
                .order_by(ContactPoint.created_at, ContactPoint.id))
        for cp in (await db.execute(stmt)).scalars():
            out[cp.customer_id].append(cp)
    return out


async def _owner_of(db: AsyncSession, tenant_id: str, kind: str, value: str) -> ContactPoint | None:
    stmt = select(ContactPoint).where(ContactPoint.tenant_id == tenant_id, ContactPoint.kind == kind,
                                      ContactPoint.value == value)
    return (await db.execute(stmt)).scalar_one_or_none()


async def add_contact_point(db: AsyncSession, *, tenant_id: str, customer_id: str, kind: str, value: str,
                            label: str = "", region: str) -> ContactPoint:
    """A new contact point of the customer, normalised; refused when the value is not one or is taken."""
    norm = normalise.contact(kind, value, region)
    if norm is None:
        raise InvalidInput(f"{value!r} is not a {'phone number' if kind == 'phone' else 'e-mail address'}",
                           error_id=f"invalid_{kind}", details={"kind": kind, "value": value})
    owner = await _owner_of(db, tenant_id, kind, norm)
    if owner is not None:
        raise Conflict(f"{norm} already belongs to a customer", error_id="duplicate",
                       details={"kind": kind, "value": norm, "customer_id": owner.customer_id})
    cp = ContactPoint(tenant_id=tenant_id, customer_id=customer_id, kind=kind, value=norm, label=label)
    db.add(cp)
    await db.flush()
    return cp


async def _check_external_id(db: AsyncSession, tenant_id: str, external_id: str | None, own_id: str | None) -> None:
    if external_id is None:
        return
    stmt = select(Customer.id).where(Customer.tenant_id == tenant_id, Customer.external_id == external_id)
    other = (await db.execute(stmt)).scalar()
    if other is not None and other != own_id:
        raise Conflict(f"a customer with external_id {external_id!r} already exists", error_id="duplicate",
                       details={"external_id": external_id, "customer_id": other})


async def create_customer(db: AsyncSession, *, tenant_id: str, fields: dict[str, Any], phones: Sequence[str] = (),
                          emails: Sequence[str] = ()) -> Customer:
    """A new customer with its phones and e-mails."""
    await _check_external_id(db, tenant_id, fields.get("external_id"), None)
    customer = Customer(tenant_id=tenant_id, **fields)
    db.add(customer)
    await db.flush()
    region = await region_of(db, tenant_id)
    for kind, values in (("phone", phones), ("email", emails)):
        for value in values:
            await add_contact_point(db, tenant_id=tenant_id, customer_id=customer.id, kind=kind, value=value,
                                    region=region)
    return customer


async def update_customer(db: AsyncSession, *, tenant_id: str, customer_id: str, changes: dict[str, Any]) -> Customer:
    """The customer with `changes` applied."""
    customer: Customer = await get_scoped(db, Customer, tenant_id, customer_id)
    if "external_id" in changes:
        await _check_external_id(db, tenant_id, changes["external_id"], customer.id)
    for k, v in changes.items():
        setattr(customer, k, v)
    customer.updated_at = utcnow()
    await db.flush()
    return customer


def _search(tenant_id: str, *, q: str = "", name: str = "", phone: str = "", email: str = "", vip_tier: str = "",
            region: str) -> Select[Any]:
    where: list[Any] = [Customer.tenant_id == tenant_id]
    if name:
        where.append(func.lower(Customer.name).contains(name.lower(), autoescape=True))
    if vip_tier:
        where.append(Customer.vip_tier == vip_tier)
    contacts: list[Any] = []
    if phone:
        contacts.append(_phone_match(phone, region))
    if email:
        contacts.append(and_(ContactPoint.kind == "email", ContactPoint.value.contains(email.strip().lower(), autoescape=True)))
    for c in contacts:
        where.append(Customer.id.in_(select(ContactPoint.customer_id).where(ContactPoint.tenant_id == tenant_id, c)))
    if q:
        contact = ContactPoint.value.contains(q.strip().lower(), autoescape=True)
        if _PHONE_LIKE.match(q):
            contact = or_(_phone_match(q, region), contact)
        any_contact = select(ContactPoint.customer_id).where(ContactPoint.tenant_id == tenant_id, contact)
        where.append(or_(func.lower(Customer.name).contains(q.lower(), autoescape=True),
                         Customer.external_id == q.strip(), Customer.id.in_(any_contact)))
    return select(Customer).where(*where)


def _phone_match(value: str, region: str) -> Any:
    """A whole number matches exactly (on the index); a fragment of digits matches anywhere in the number."""
    full = normalise.phone(value, region)
    if full is not None:
        return and_(ContactPoint.kind == "phone", ContactPoint.value == full)
    digits = "".join(c for c in value if c.isdigit()).lstrip("0")  # a leading 0 is the trunk prefix, not in E.164
    if len(digits) < 3:
        return ContactPoint.id.is_(None)  # too short to mean anything: matches nothing
    return and_(ContactPoint.kind == "phone", ContactPoint.value.contains(digits))


async def search_customers(db: AsyncSession, *, tenant_id: str, limit: int, offset: int,
                           **criteria: str) -> tuple[list[Customer], int]:
    """Customers matching the criteria (name, phone, email, vip_tier, q: any of them), by name."""
    stmt = _search(tenant_id, region=await region_of(db, tenant_id), **criteria)
    total = (await db.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one()
    rows = (await db.execute(stmt.order_by(Customer.name, Customer.id).limit(limit).offset(offset))).scalars()
    return list(rows), int(total)


# --- interactions and the timeline ---
def _with_recording(stmt: Select[Any]) -> Select[Any]:
    """Interactions with the recording their call's CDR links to (set when the recording is stored)."""
    return stmt.add_columns(CallRecord.recording).outerjoin(
        CallRecord, and_(CallRecord.call_id == Interaction.call_id, CallRecord.tenant_id == Interaction.tenant_id))


def _rows_with_recording(rows: Any) -> list[InteractionOut]:
    return [InteractionOut.model_validate(i).model_copy(update={"recording": i.recording or recording})
            for i, recording in rows]


async def timeline(db: AsyncSession, *, tenant_id: str, customer_id: str, limit: int = 50,
                   offset: int = 0) -> tuple[list[InteractionOut], int]:
    """The customer's interactions, newest first."""
    where = (Interaction.tenant_id == tenant_id, Interaction.customer_id == customer_id)
    total = (await db.execute(select(func.count()).select_from(Interaction).where(*where))).scalar_one()
    stmt = _with_recording(select(Interaction).where(*where)).order_by(Interaction.started_at.desc(), Interaction.id)
    rows = (await db.execute(stmt.limit(limit).offset(offset))).all()
    return _rows_with_recording(rows), int(total)


async def number_history(db: AsyncSession, *, tenant_id: str, number: str, limit: int) -> list[InteractionOut]:
    """The latest interactions with a number, whoever it belongs to."""
    stmt = _with_recording(select(Interaction).where(Interaction.tenant_id == tenant_id, Interaction.number == number))
    rows = (await db.execute(stmt.order_by(Interaction.started_at.desc(), Interaction.id).limit(limit))).all()
    return _rows_with_recording(rows)


async def update_interaction(db: AsyncSession, *, tenant_id: str, interaction_id: str,
                             changes: dict[str, Any]) -> Interaction:
    """The interaction with the agent's additions (customer, case, disposition, notes)."""
    row: Interaction = await get_scoped(db, Interaction, tenant_id, interaction_id)
    await check_refs(db, tenant_id, changes)
    for k, v in changes.items():
        setattr(row, k, v)
    await db.flush()
    return row


async def check_refs(db: AsyncSession, tenant_id: str, values: dict[str, Any]) -> None:
    """Ids of other rows must name rows of the same tenant."""
    refs: dict[str, Any] = {"customer_id": Customer, "case_id": Case, "owner_user_id": User, "owner_agent_id": Agent}
    for name, model in refs.items():
        ref = values.get(name)
        if ref is None:
            continue
        row = await db.get(model, ref)
        if row is None or row.tenant_id != tenant_id:
            raise InvalidInput(f"{name} does not name an existing {model.__tablename__[:-1]}",
                               error_id="invalid_reference", details={"field": name, "value": ref})


# --- cases ---
async def _author(db: AsyncSession, author: str | None) -> str | None:
    """The author's user id when that user still exists (a token outlives a deleted user)."""
    return author if author is not None and await db.get(User, author) is not None else None


async def create_case(db: AsyncSession, *, tenant_id: str, fields: dict[str, Any], author: str | None) -> Case:
    """A new case."""
    await check_refs(db, tenant_id, fields)
    now = utcnow()
    case = Case(tenant_id=tenant_id, created_at=now, updated_at=now,
                solved_at=now if fields.get("status") == "solved" else None, **fields)
    db.add(case)
    await db.flush()
    return case


async def update_case(db: AsyncSession, *, tenant_id: str, case_id: str, changes: dict[str, Any], comment: str,
                      author: str | None) -> Case:
    """The case with `changes` applied; a change of status is kept as a comment (with `comment`)."""
    case: Case = await get_scoped(db, Case, tenant_id, case_id)
    await check_refs(db, tenant_id, changes)
    author = await _author(db, author)
    now = utcnow()
    status = changes.get("status")
    if status is not None and status != case.status:
        db.add(CaseComment(tenant_id=tenant_id, case_id=case.id, author_user_id=author, created_at=now,
                           body=comment or f"status {case.status} -> {status}",
                           status_change=f"{case.status} -> {status}"))
        case.solved_at = now if status == "solved" else None
    elif comment:
        db.add(CaseComment(tenant_id=tenant_id, case_id=case.id, author_user_id=author, body=comment, created_at=now))
    for k, v in changes.items():
        setattr(case, k, v)
    case.updated_at = now
    await db.flush()
    return case


async def add_comment(db: AsyncSession, *, tenant_id: str, case_id: str, body: str, author: str | None) -> CaseComment:
    """A comment on the case."""
    case: Case = await get_scoped(db, Case, tenant_id, case_id)
    author = await _author(db, author)
    now = utcnow()
    comment = CaseComment(tenant_id=tenant_id, case_id=case.id, author_user_id=author, body=body, created_at=now)
    case.updated_at = now
    db.add(comment)
    await db.flush()
    return comment


async def comments_of(db: AsyncSession, *, tenant_id: str, case_id: str) -> list[CaseComment]:
    stmt = (select(CaseComment).where(CaseComment.tenant_id == tenant_id, CaseComment.case_id == case_id)
            .order_by(CaseComment.created_at, CaseComment.id))
    return list((await db.execute(stmt)).scalars())


async def interactions_of_case(db: AsyncSession, *, tenant_id: str, case_id: str) -> list[InteractionOut]:
    stmt = _with_recording(select(Interaction).where(Interaction.tenant_id == tenant_id, Interaction.case_id == case_id))
    return _rows_with_recording((await db.execute(stmt.order_by(Interaction.started_at.desc()))).all())


async def cases_of(db: AsyncSession, *, tenant_id: str, customer_id: str, open_: bool, limit: int) -> list[Case]:
    """The customer's open (open, pending) or solved cases, latest change first."""
    status = Case.status.in_(OPEN_STATUSES) if open_ else Case.status == "solved"
    stmt = (select(Case).where(Case.tenant_id == tenant_id, Case.customer_id == customer_id, status)
            .order_by(Case.updated_at.desc(), Case.id).limit(limit))
    return list((await db.execute(stmt)).scalars())


async def list_cases(db: AsyncSession, *, tenant_id: str, filters: dict[str, str], limit: int,
                     offset: int) -> tuple[list[Case], int]:
    """Cases of the tenant, latest change first, filtered by equality."""
    where = [Case.tenant_id == tenant_id] + [getattr(Case, k) == v for k, v in filters.items() if v]
    total = (await db.execute(select(func.count()).select_from(Case).where(*where))).scalar_one()
    stmt = select(Case).where(*where).order_by(Case.updated_at.desc(), Case.id).limit(limit).offset(offset)
    return list((await db.execute(stmt)).scalars()), int(total)


# --- CSV import ---
@dataclass
class ImportResult:
    created: int
    updated: int
    rejected: list[Rejection]


async def apply_import(db: AsyncSession, *, tenant_id: str, parsed: Parsed) -> ImportResult:
    """Store the parsed rows: a row whose external_id is known updates that customer (so importing the
    same file twice changes nothing), others create one; a contact point owned by another customer
    rejects the row."""
    ids = [r.external_id for r in parsed.rows if r.external_id]
    known = {c.external_id: c for c in await _by_external_ids(db, tenant_id, ids)}
    owners = await _contact_owners(db, tenant_id, [v for r in parsed.rows for v in (*r.phones, *r.emails)])
    result = ImportResult(0, 0, list(parsed.rejected))
    for row in parsed.rows:
        customer = known.get(row.external_id) if row.external_id else None
        taken = [v for v in (*row.phones, *row.emails) if owners.get(v) not in (None, customer and customer.id)]
        if taken:
            result.rejected.append(Rejection(row.line, f"duplicate: {taken[0]} belongs to another customer", row.external_id))
            continue
        customer = await _store_row(db, tenant_id, row, customer, owners)
        if row.external_id in known:
            result.updated += 1
        else:
            result.created += 1
    result.rejected.sort(key=lambda r: r.line)
    return result


async def _store_row(db: AsyncSession, tenant_id: str, row: ImportRow, customer: Customer | None,
                     owners: dict[str, str]) -> Customer:
    if customer is None:
        customer = Customer(tenant_id=tenant_id, **row.fields)
        db.add(customer)
        await db.flush()
    else:
        for k, v in row.fields.items():
            setattr(customer, k, v)
        customer.updated_at = utcnow()
    for kind, values in (("phone", row.phones), ("email", row.emails)):
        for value in values:
            if value not in owners:
                db.add(ContactPoint(tenant_id=tenant_id, customer_id=customer.id, kind=kind, value=value))
                owners[value] = customer.id
    return customer


async def _by_external_ids(db: AsyncSession, tenant_id: str, ids: list[str]) -> list[Customer]:
    found: list[Customer] = []
    for chunk in _chunks(ids):
        stmt = select(Customer).where(Customer.tenant_id == tenant_id, Customer.external_id.in_(chunk))
        found.extend((await db.execute(stmt)).scalars())
    return found


async def _contact_owners(db: AsyncSession, tenant_id: str, values: list[str]) -> dict[str, str]:
    owners: dict[str, str] = {}
    for chunk in _chunks(values):
        stmt = select(ContactPoint.value, ContactPoint.customer_id).where(
            ContactPoint.tenant_id == tenant_id, ContactPoint.value.in_(chunk))
        owners.update({v: c for v, c in (await db.execute(stmt)).all()})
    return owners


def _chunks(values: list[str], size: int = 500) -> list[list[str]]:
    """Lists short enough for one IN (SQLite limits the parameters of a statement)."""
    return [values[i:i + size] for i in range(0, len(values), size)]


def as_naive_utc(ts: float) -> datetime:
    """Seconds since the epoch as the naive UTC the tables store."""
    from datetime import UTC

    return datetime.fromtimestamp(ts, UTC).replace(tzinfo=None)
