"""The demo tenant: two queues, four agents, business hours; loaded by `tongdai demo` and `tongdai run --demo`."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tongdai.core.db import utcnow
from tongdai.crm.models import Case, CaseComment, ContactPoint, Customer
from tongdai.directory.models import Agent, Calendar, Number, Queue, ReasonCode, Site, Skill, Team
from tongdai.iam import service as iam
from tongdai.iam.models import Tenant
from tongdai.iam.roles import Role
from tongdai.ivr.models import CallFlowVersion
from tongdai.ivr.validate import builtin, document

# Demo log-ins: fixed and printed so a newcomer can try tongdai at once. Change them on a real system.
PROVIDER_LOGIN = ("operator@tongdai.example", "operator-demo-2026")
ADMIN_LOGIN = ("admin@demo.example", "admin-demo-2026")
SUPERVISOR_LOGIN = ("supervisor@demo.example", "supervisor-demo-2026")
AGENTS = [
    # name, e-mail, extension, skills, languages
    ("Nguyễn Thị Lan", "lan@demo.example", "1001", {"sales": 8, "support": 3}, ["vi", "en"]),
    ("Trần Văn Minh", "minh@demo.example", "1002", {"sales": 5}, ["vi"]),
    ("Lê Hoàng Anh", "anh@demo.example", "1003", {"support": 9, "billing": 6}, ["vi", "en"]),
    ("Wang Fang", "fang@demo.example", "1004", {"support": 6, "sales": 2}, ["zh", "en"]),
]
AGENT_PASSWORD = "agent-demo-2026"
SIP_PASSWORD = "sip-demo-{ext}"


@dataclass
class DemoLogins:
    lines: list[str]

    def __str__(self) -> str:
        return "\n".join(self.lines)


def logins() -> DemoLogins:
    lines = [
        "Demo log-ins (web and API):",
        f"  provider operator  {PROVIDER_LOGIN[0]:<28} {PROVIDER_LOGIN[1]}",
        f"  tenant admin       {ADMIN_LOGIN[0]:<28} {ADMIN_LOGIN[1]}",
        f"  supervisor         {SUPERVISOR_LOGIN[0]:<28} {SUPERVISOR_LOGIN[1]}",
    ]
    for name, email, ext, _, _ in AGENTS:
        lines.append(f"  agent {ext}         {email:<28} {AGENT_PASSWORD}   SIP {ext} / {SIP_PASSWORD.format(ext=ext)}  ({name})")
    lines.append("Demo numbers: 1000 (main menu: 1 sales, 2 support), 9196 (echo test)")
    return DemoLogins(lines)


async def has_tenants(db: AsyncSession) -> bool:
    return bool((await db.execute(select(func.count()).select_from(Tenant))).scalar_one())


async def load(db: AsyncSession) -> Tenant:
    """Create the demo tenant and its directory (call on an empty database)."""
    await iam.create_user(db, tenant_id=None, email=PROVIDER_LOGIN[0], name="Platform operator",
                          role=Role.PROVIDER_ADMIN, password=PROVIDER_LOGIN[1])
    tenant = await iam.create_tenant(db, slug="demo", name="Demo Company")
    t = tenant.id
    admin = await iam.create_user(db, tenant_id=t, email=ADMIN_LOGIN[0], name="Demo admin", role=Role.TENANT_ADMIN,
                                  password=ADMIN_LOGIN[1])
    sup = await iam.create_user(db, tenant_id=t, email=SUPERVISOR_LOGIN[0], name="Demo supervisor",
                                role=Role.SUPERVISOR, password=SUPERVISOR_LOGIN[1])
    hanoi = Site(tenant_id=t, name="Hanoi", timezone="Asia/Ho_Chi_Minh", address="Hà Nội")
    hcmc = Site(tenant_id=t, name="Ho Chi Minh City", timezone="Asia/Ho_Chi_Minh", address="TP. Hồ Chí Minh")
    db.add_all([hanoi, hcmc])
    await db.flush()
    team = Team(tenant_id=t, name="Front line", site_id=hanoi.id, supervisor_user_id=sup.id)
    db.add(team)
    for name, desc in [("sales", "New customers and orders"), ("support", "Help with products"),
                       ("billing", "Invoices and payments")]:
        db.add(Skill(tenant_id=t, name=name, description=desc))
    hours = Calendar(
        tenant_id=t, name="Office hours", timezone="Asia/Ho_Chi_Minh",
        weekly={d: [["08:00", "17:30"]] for d in ("mon", "tue", "wed", "thu", "fri")} | {"sat": [["08:00", "12:00"]], "sun": []},
        holidays=[{"date": "2026-09-02", "name": "National Day"}, {"date": "2027-01-01", "name": "New Year"},
                  {"date": "2027-02-06", "name": "Tết"}],
    )
    db.add(hours)
    # the demo's main number answers round the clock (its call flow checks this calendar), so that it can
    # be tried at any hour; the queues keep the office hours
    db.add(Calendar(tenant_id=t, name="Demo line", timezone="Asia/Ho_Chi_Minh",
                    weekly={d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
                    holidays=[]))
    await db.flush()
    sales = Queue(tenant_id=t, name="sales", description="Sales line", strategy="most_skilled",
                  target_expression="skills.sales >= 1", calendar_id=hours.id, email="sales@demo.example")
    support = Queue(tenant_id=t, name="support", description="Customer support", strategy="longest_idle",
                    target_expression="skills.support >= 1", calendar_id=hours.id, email="support@demo.example")
    db.add_all([sales, support])
    await db.flush()
    for i, (name, email, ext, skills, langs) in enumerate(AGENTS):
        user = await iam.create_user(db, tenant_id=t, email=email, name=name, role=Role.AGENT, password=AGENT_PASSWORD)
        db.add(Agent(tenant_id=t, user_id=user.id, name=name, extension=ext, sip_password=SIP_PASSWORD.format(ext=ext),
                     skills=skills, languages=langs, site_id=(hanoi if i < 2 else hcmc).id, team_id=team.id,
                     capacity={"voice": 1, "chat": 3, "email": 5}, queues=[q for q in ("sales", "support") if q in skills]))
    # the main number runs the demo call flow; without one it leads straight to the sales queue
    db.add(Number(tenant_id=t, e164="1000", description="Main number", flow="demo", queue_id=sales.id))
    # its flow (src/tongdai/ivr/flows/demo.yaml) is the tenant's active version 1: read and replaced through the API
    main_flow = builtin("demo")
    if main_flow is None:
        raise RuntimeError("the demo call flow is missing from the package")
    db.add(CallFlowVersion(tenant_id=t, name="demo", version=1, status="active",
                           document=document(main_flow), created_by=admin.id))
    db.add(Number(tenant_id=t, e164="9196", description="Echo test", flow="echo"))
    for kind, code, label, productive in [
        ("not_ready", "break", "Break", False), ("not_ready", "lunch", "Lunch", False),
        ("not_ready", "training", "Training", True), ("not_ready", "missed", "Missed an offer", False),
        ("wrap_up", "sale", "Sale made", True), ("wrap_up", "no_sale", "No sale", True),
        ("wrap_up", "resolved", "Resolved", True), ("wrap_up", "escalated", "Escalated", True),
        ("wrap_up", "callback", "Callback promised", True),
    ]:
        db.add(ReasonCode(tenant_id=t, kind=kind, code=code, label=label, productive=productive))
    await db.flush()
    await _customers(db, t)
    return tenant


# Demo customers for the screen pop. The first one's number is the caller SIPp uses in tests (0918000888).
CUSTOMERS = [
    # external id, kind, name, VIP tier, language, address, phones (E.164), e-mails
    ("DEMO-001", "person", "Phạm Minh Tuấn", "gold", "vi", "12 Lý Thường Kiệt, Hà Nội", ["+84918000888"],
     ["tuan.pham@example.vn"]),
    ("DEMO-002", "company", "Công ty TNHH Sao Việt", "silver", "vi", "45 Nguyễn Huệ, TP. Hồ Chí Minh",
     ["+842838221234"], ["contact@saoviet.example.vn"]),
    ("DEMO-003", "person", "John Carter", "", "en", "San Francisco, CA", ["+14155550100"], ["john.carter@example.com"]),
    ("DEMO-004", "person", "Li Wei", "platinum", "zh", "Shanghai", ["+8613800138000"], []),
]


async def _customers(db: AsyncSession, t: str) -> None:
    rows = {}
    for ext, kind, name, tier, lang, address, phones, emails in CUSTOMERS:
        c = Customer(tenant_id=t, external_id=ext, kind=kind, name=name, vip_tier=tier, language=lang, address=address)
        db.add(c)
        await db.flush()
        db.add_all([ContactPoint(tenant_id=t, customer_id=c.id, kind="phone", value=v, label="mobile") for v in phones]
                   + [ContactPoint(tenant_id=t, customer_id=c.id, kind="email", value=v) for v in emails])
        rows[ext] = c
    tuan = rows["DEMO-001"].id
    db.add(Case(tenant_id=t, customer_id=tuan, subject="Internet drops every evening", priority="high",
                description="The fibre line loses its connection around 20:00 most days."))
    solved = Case(tenant_id=t, customer_id=tuan, subject="Change of billing address", status="solved",
                  solved_at=utcnow())
    db.add(solved)
    await db.flush()
    db.add(CaseComment(tenant_id=t, case_id=solved.id, body="Address updated.", status_change="open -> solved"))
    await db.flush()
