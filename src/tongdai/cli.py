"""The `tongdai` command: run the platform and do administration tasks."""

from __future__ import annotations

import argparse
import asyncio
import gc
import getpass
import sys
from collections.abc import Callable
from typing import Any

import yaml

from tongdai.core.config import ConfigError, Settings, load_settings
from tongdai.core.logging import setup_logging


def _parse_set(values: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: use --set section.key=value")
        out[key.strip()] = yaml.safe_load(raw) if raw else ""
    return out


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tongdai", description="tongdai contact-centre platform")
    p.add_argument("--config", help="path of tongdai.yaml (default: ./tongdai.yaml when present)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one setting, e.g. --set http.port=8081 (repeatable)")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start everything from the settings")
    run.add_argument("--demo", action="store_true", help="load the demo tenant on first start")
    run.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop",
                     help="event loop (uvloop: about an eighth less CPU per SIP call, see docs/benchmarks.md)")
    db = sub.add_parser("db", help="database migrations")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    up = db_sub.add_parser("upgrade", help="apply migrations")
    up.add_argument("revision", nargs="?", default="head")
    down = db_sub.add_parser("downgrade", help="revert migrations")
    down.add_argument("revision")
    tenant = sub.add_parser("tenant", help="tenants")
    t_sub = tenant.add_subparsers(dest="tenant_command", required=True)
    tc = t_sub.add_parser("create", help="create a tenant")
    tc.add_argument("slug")
    tc.add_argument("--name", required=True)
    tc.add_argument("--region", default="VN")
    user = sub.add_parser("user", help="users")
    u_sub = user.add_subparsers(dest="user_command", required=True)
    uc = u_sub.add_parser("create", help="create a user")
    uc.add_argument("email")
    uc.add_argument("--tenant", help="tenant slug (omit for a provider admin)")
    uc.add_argument("--role", required=True)
    uc.add_argument("--name", default="")
    uc.add_argument("--password", help="read from the terminal when omitted")
    sub.add_parser("demo", help="load the demo tenant (on an empty database) and print its log-ins")
    sim = sub.add_parser("simulate", help="run a routing scenario through the engine (see docs/routing.md)")
    sim.add_argument("scenario", help="scenario file (YAML or JSON)")
    sim.add_argument("--seed", type=int, help="override the scenario's seed")
    sim.add_argument("--json", action="store_true", help="print the full report as JSON")
    sim.add_argument("--replications", type=int, default=1, metavar="N",
                     help="run N independent replications and print means with 95%% confidence intervals")
    load = sub.add_parser("agents-load", help="simulated agent phones that register and answer calls (load tests)")
    load.add_argument("--server", default="127.0.0.1:5060", help="tongdai's SIP address, host:port")
    load.add_argument("--extensions", required=True, help="a range such as 2001-2100, or a comma list")
    load.add_argument("--password", default="sip-demo-{ext}", help="SIP password pattern ({ext} is replaced)")
    load.add_argument("--ring", type=float, default=0.5, help="seconds each phone rings before answering")
    load.add_argument("--talk", type=float, default=5.0, help="seconds of talk before the agent hangs up (0: wait)")
    load.add_argument("--duration", type=float, default=60.0, help="seconds to run")
    cfg = sub.add_parser("config", help="show the effective settings or their documentation")
    cfg.add_argument("what", nargs="?", choices=["show", "docs", "events"], default="show",
                     help="show: the effective settings; docs: docs/configuration.md; events: docs/events.md")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(args.config, _parse_set(args.set))
    except ConfigError as exc:
        print(f"tongdai: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log.level, settings.log.json_format)
    handler: Callable[[Settings, argparse.Namespace], int] = COMMANDS[args.command]
    try:
        return handler(settings, args)
    except UsageError as exc:
        print(f"tongdai: {exc}", file=sys.stderr)
        return 2


class UsageError(Exception):
    pass


def _run(settings: Settings, args: argparse.Namespace) -> int:
    from tongdai.app import build_app

    async def go() -> None:
        app = build_app(settings)
        if args.demo:
            await app.db.upgrade()
            await _load_demo_if_empty(app.db)
        settle_gc()
        await app.run()

    with asyncio.Runner(loop_factory=_loop_factory(args.loop)) as runner:
        runner.run(go())
    return 0


def settle_gc() -> None:
    """Keep the cyclic garbage collector off what start-up built. The imports and the app are a few
    hundred thousand objects that live as long as the process; every full collection walked them all
    (about a tenth of the CPU of a SIP call at 1,000 calls/s). Frozen, they are never walked again,
    and a larger first generation means fewer collections while calls come and go."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def _loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop `tongdai run` uses: uvloop's (its socket and timer paths are C), or asyncio's."""
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return None


async def _load_demo_if_empty(db: Any) -> bool:
    from tongdai import demo

    async with db.session() as s:
        if await demo.has_tenants(s):
            print(demo.logins(), file=sys.stderr)
            return False
        await demo.load(s)
    print("Loaded the demo tenant.\n" + str(demo.logins()), file=sys.stderr)
    return True


def _with_db(settings: Settings, fn: Callable[[Any], Any]) -> Any:
    from tongdai.core.db import Database

    async def go() -> Any:
        db = Database(settings.database.url)
        try:
            await db.upgrade()
            return await fn(db)
        finally:
            await db.dispose()

    return asyncio.run(go())


def _db(settings: Settings, args: argparse.Namespace) -> int:
    from tongdai.core.db import migrate

    migrate(settings.database.url, args.db_command, args.revision)
    print(f"database {args.db_command} to {args.revision}: done")
    return 0


def _tenant(settings: Settings, args: argparse.Namespace) -> int:
    from tongdai.core.errors import TongdaiError
    from tongdai.iam import service

    async def go(db: Any) -> str:
        async with db.session() as s:
            t = await service.create_tenant(s, slug=args.slug, name=args.name, default_region=args.region)
            return str(t.id)

    try:
        print(f"tenant {args.slug} created: {_with_db(settings, go)}")
    except TongdaiError as exc:
        raise UsageError(exc.message) from None
    return 0


def _user(settings: Settings, args: argparse.Namespace) -> int:
    from tongdai.core.errors import TongdaiError
    from tongdai.iam import service
    from tongdai.iam.roles import Role

    try:
        role = Role(args.role)
    except ValueError:
        raise UsageError(f"unknown role {args.role!r}; one of: {', '.join(r.value for r in Role)}") from None
    if (role == Role.PROVIDER_ADMIN) != (args.tenant is None):
        raise UsageError("give --tenant for every role except provider_admin, and not for provider_admin")
    password = args.password or getpass.getpass("password: ")
    if len(password) < 8:
        raise UsageError("the password needs at least 8 characters")

    async def go(db: Any) -> str:
        async with db.session() as s:
            tenant_id = None
            if args.tenant:
                t = await service.get_tenant_by_slug(s, args.tenant)
                if t is None:
                    raise UsageError(f"no tenant with slug {args.tenant!r}")
                tenant_id = t.id
            u = await service.create_user(s, tenant_id=tenant_id, email=args.email, name=args.name or args.email,
                                          role=role, password=password)
            return str(u.id)

    try:
        print(f"user {args.email} created: {_with_db(settings, go)}")
    except TongdaiError as exc:
        raise UsageError(exc.message) from None
    return 0


def _demo(settings: Settings, args: argparse.Namespace) -> int:
    _with_db(settings, _load_demo_if_empty)
    return 0


def _config(settings: Settings, args: argparse.Namespace) -> int:
    if args.what == "docs":
        from tongdai.core.config_docs import render

        print(render(), end="")
    elif args.what == "events":
        from tongdai.core.events_docs import render as render_events

        print(render_events(), end="")
    else:
        print(settings.model_dump_json(indent=2))
    return 0


def _simulate(settings: Settings, args: argparse.Namespace) -> int:
    from tongdai.core.errors import TongdaiError
    from tongdai.routing.simulator import (
        INTERVAL_METRICS,
        format_intervals,
        format_report,
        load_scenario,
        replicate,
        simulate,
    )

    try:
        scenario = load_scenario(args.scenario)
        if args.seed is not None:
            scenario.seed = args.seed
        if args.replications > 1:
            print(format_intervals(replicate(scenario, args.replications, metrics=INTERVAL_METRICS)))
            return 0
        report = simulate(scenario)
    except (OSError, TongdaiError) as exc:
        raise UsageError(f"simulate: {getattr(exc, 'message', exc)}") from None
    if args.json:
        import json

        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(format_report(report))
    return 0


def _extensions(spec: str) -> list[str]:
    """`2001-2100` or `1001,1002`."""
    if "-" in spec and "," not in spec:
        first, _, last = spec.partition("-")
        if not (first.isdigit() and last.isdigit()) or int(last) < int(first):
            raise UsageError(f"agents-load: bad range {spec!r}")
        return [str(n).zfill(len(first)) for n in range(int(first), int(last) + 1)]
    return [e.strip() for e in spec.split(",") if e.strip()]


def _agents_load(settings: Settings, args: argparse.Namespace) -> int:
    import json

    from tongdai.calls.agent_load import AgentFleet

    host, _, port = args.server.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"agents-load: --server must be host:port, not {args.server!r}")

    async def go() -> dict[str, float]:
        fleet = AgentFleet((host, int(port)), _extensions(args.extensions), lambda e: args.password.format(ext=e),
                           ring_s=args.ring, talk_s=args.talk or None)
        await fleet.start()
        try:
            print(f"registered {await fleet.register_all()} of {len(fleet.agents)} phones", flush=True)
            await asyncio.sleep(args.duration)
            return fleet.summary()
        finally:
            await fleet.stop()

    print(json.dumps(asyncio.run(go()), indent=2))
    return 0


COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
    "run": _run, "db": _db, "tenant": _tenant, "user": _user, "demo": _demo, "config": _config,
    "simulate": _simulate, "agents-load": _agents_load,
}
