"""What an agent's phone learns of a queued call before answering: `X-Tongdai-*` headers on the INVITE
that rings it (the browser desktop shows them in its screen pop; desk phones ignore them). Pure: the
caller's path through the call flow and what it collected go in, safe header values come out."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from urllib.parse import quote

#: the longest value of one header (a SIP message over UDP should stay well under the path MTU)
MAX_VALUE = 300
#: variables the flow knows of every call or of the matched customer: not something the caller entered
NOT_COLLECTED = frozenset({"caller", "number", "language", "caller_e164", "customer_id", "customer_name",
                           "customer_language", "vip", "vip_tier", "open", "holiday"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def safe(value: str, limit: int = MAX_VALUE) -> str:
    """`value` without control characters (no CR/LF can end the header early), cut to `limit` characters."""
    clean = _CONTROL.sub(" ", value).strip()
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def readable_path(path: Sequence[str], variables: Mapping[str, object]) -> str:
    """The flow's nodes as "menu (1) > sales": each menu with the key pressed or word said there;
    a node entered again at once (a retry) appears once."""
    parts: list[str] = []
    for node in path:
        chosen = variables.get(f"menu.{node}") or variables.get(f"speech.{node}")
        part = f"{node} ({chosen})" if chosen not in (None, "") else node
        if not parts or parts[-1] != part:
            parts.append(part)
    return " > ".join(parts)


def collected(variables: Mapping[str, object]) -> dict[str, str]:
    """What the caller entered or the flow looked up: scalar variables other than the call's own facts."""
    return {k: str(v) for k, v in variables.items()
            if isinstance(v, str | int | float) and not isinstance(v, bool) and k not in NOT_COLLECTED
            and not k.startswith("menu.") and not k.startswith("speech.")}


def encode_digits(values: Mapping[str, str]) -> str:
    """`name=value;name=value`, both percent-encoded (UTF-8), whole pairs only up to `MAX_VALUE`."""
    out = ""
    for name, value in values.items():
        pair = f"{quote(name, safe='')}={quote(value, safe='')}"
        candidate = f"{out};{pair}" if out else pair
        if len(candidate) > MAX_VALUE:
            break
        out = candidate
    return out


def pop_headers(*, call_id: str, task_id: str, queue: str, ivr_path: Sequence[str] = (),
                variables: Mapping[str, object] | None = None, customer_id: str = "",
                recording: str = "") -> list[tuple[str, str]]:
    """The `X-Tongdai-*` headers (lower-case names, as the SIP stack keeps them) for an agent's INVITE."""
    variables = variables or {}
    headers = [("x-tongdai-call-id", safe(call_id, 100)), ("x-tongdai-task-id", safe(task_id, 100)),
               ("x-tongdai-queue", safe(queue, 100))]
    path = readable_path(ivr_path, variables)
    if path:
        headers.append(("x-tongdai-ivr-path", safe(path)))
    digits = encode_digits(collected(variables))
    if digits:
        headers.append(("x-tongdai-digits", digits))
    if customer_id:
        headers.append(("x-tongdai-customer-id", safe(customer_id, 100)))
    if recording in ("always", "on_demand", "never"):
        headers.append(("x-tongdai-recording", recording))
    return [(name, value) for name, value in headers if value]
