"""Generate docs/events.md, the catalogue of events on the bus and the WebSocket stream (a test keeps
the file current)."""

from __future__ import annotations

import dataclasses
import importlib

from tongdai.core.events import Event

#: Modules that define events; a new domain adds its events module here.
EVENT_MODULES = ("tongdai.directory.events", "tongdai.sip.events", "tongdai.calls.events", "tongdai.media.engine_events",
                 "tongdai.routing.events")

HEADER = """# Event catalogue

Every event travels on the in-process bus and, filtered by tenant and role, on the WebSocket stream at
`/api/v1/events` (see [api.md](api.md#event-stream)) as one JSON object: `type` (the name below),
`tenant_id`, `at` (seconds since the epoch) and the fields listed. Agents see only events about
themselves; provider admins see every tenant's.

This page is generated from the event classes (`tongdai config events`).
"""


def all_events() -> list[type[Event]]:
    for module in EVENT_MODULES:
        importlib.import_module(module)
    found: list[type[Event]] = []
    stack = list(Event.__subclasses__())
    while stack:
        cls = stack.pop()
        found.append(cls)
        stack.extend(cls.__subclasses__())
    return sorted(found, key=lambda c: c.name)


def render() -> str:
    out = [HEADER]
    for cls in all_events():
        out.append(f"## `{cls.name}`\n\n{(cls.__doc__ or '').strip()}\n")
        audience = "every role of the tenant" if cls.audience is None else ", ".join(sorted(cls.audience))
        out.append(f"Seen by: {audience}.\n")
        out.append("| field | type |\n|---|---|")
        for f in dataclasses.fields(cls):
            if f.name not in ("tenant_id", "at"):
                out.append(f"| `{f.name}` | `{f.type}` |")
        out.append("")
    return "\n".join(out)
