"""Call flows (IVR): the document a tenant writes in YAML or JSON, and its validation.

A flow has a name, a default language, an entry node and nodes keyed by id. Every node names the
node(s) that follow; validation checks the targets, the entry, the prompts' languages, and reports
errors that point at the node and field, e.g. `nodes.main.choices.3: unknown target 'salse'`.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tongdai.core.errors import InvalidInput

Language = Literal["vi", "en", "zh"]
#: A prompt: text to speak per language (`{vi: "...", en: "..."}`), or one text for every language.
Prompt = dict[Language, str] | str
DEFAULT_LANGUAGES: tuple[Language, ...] = ("vi", "en")
NodeId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Play(_Node):
    """Say something, then go on."""

    type: Literal["play"]
    prompt: Prompt
    next: NodeId


class Menu(_Node):
    """Say the choices and wait for one key; wrong keys and silence are retried, then `no_input`."""

    type: Literal["menu"]
    prompt: Prompt
    choices: dict[Annotated[str, Field(pattern=r"^[0-9*#]$")], NodeId] = Field(min_length=1)
    timeout_s: float = Field(5.0, gt=0, le=60)
    retries: int = Field(2, ge=0, le=10)
    invalid_prompt: Prompt = {"vi": "Lựa chọn không hợp lệ.", "en": "That is not a valid choice.",
                              "zh": "选择无效。"}
    no_input: NodeId


class Collect(_Node):
    """Collect digits (e.g. a customer number) into a variable."""

    type: Literal["collect"]
    prompt: Prompt
    variable: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$")]
    min_digits: int = Field(1, ge=1, le=32)
    max_digits: int = Field(16, ge=1, le=32)
    terminator: str = Field("#", pattern=r"^[*#]?$")
    timeout_s: float = Field(8.0, gt=0, le=60)
    next: NodeId
    no_input: NodeId


class SetLanguage(_Node):
    """Switch the language of the prompts that follow."""

    type: Literal["language"]
    language: Language
    next: NodeId


class Hours(_Node):
    """Branch on the business hours of a calendar of the directory (by name)."""

    type: Literal["hours"]
    calendar: str = Field(min_length=1, max_length=100)
    open: NodeId
    closed: NodeId


class Enqueue(_Node):
    """Wait in a queue for an agent (the end of the flow)."""

    type: Literal["enqueue"]
    queue: str = Field(min_length=1, max_length=64)
    priority: int = Field(0, ge=0, le=100)


class Transfer(_Node):
    """Send the call to an extension or a number (the end of the flow)."""

    type: Literal["transfer"]
    to: str = Field(min_length=1, max_length=64)


class Hangup(_Node):
    """End the call."""

    type: Literal["hangup"]


Node = Annotated[Play | Menu | Collect | SetLanguage | Hours | Enqueue | Transfer | Hangup, Field(discriminator="type")]


class Flow(BaseModel):
    """A call flow."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    version: int = Field(1, ge=1)
    language: Language = "vi"
    languages: list[Language] = Field(default_factory=lambda: list(DEFAULT_LANGUAGES), min_length=1)
    entry: NodeId
    nodes: dict[NodeId, Node] = Field(min_length=1)


class FlowInvalid(InvalidInput):
    """A call flow that cannot run; `details` lists each problem with the node and field it is at."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("the call flow is not valid: " + "; ".join(problems[:5]), error_id="flow_invalid",
                         details={"problems": problems})
        self.problems = problems


def targets(node: Any) -> dict[str, str]:
    """The nodes a node can lead to, by field path."""
    out = {name: getattr(node, name) for name in ("next", "no_input", "open", "closed") if hasattr(node, name)}
    out.update({f"choices.{key}": value for key, value in getattr(node, "choices", {}).items()})
    return out


def _prompts(node: Any) -> dict[str, Prompt]:
    return {name: getattr(node, name) for name in ("prompt", "invalid_prompt") if hasattr(node, name)}


def check(flow: Flow) -> list[str]:
    """Problems beyond the schema: unknown targets and entry, prompts missing a language, dead ends."""
    problems = [] if flow.entry in flow.nodes else [f"entry: unknown node '{flow.entry}'"]
    for node_id, node in flow.nodes.items():
        for field, target in targets(node).items():
            if target not in flow.nodes:
                problems.append(f"nodes.{node_id}.{field}: unknown target '{target}'")
        for field, prompt in _prompts(node).items():
            missing = [lang for lang in flow.languages if isinstance(prompt, dict) and lang not in prompt]
            if missing:
                problems.append(f"nodes.{node_id}.{field}: no text for {', '.join(missing)}")
    reachable = _reachable(flow)
    problems += [f"nodes.{n}: never reached from the entry" for n in flow.nodes if n not in reachable]
    return problems


def _reachable(flow: Flow) -> set[str]:
    seen, todo = set(), [flow.entry]
    while todo:
        node_id = todo.pop()
        if node_id in seen or node_id not in flow.nodes:
            continue
        seen.add(node_id)
        todo.extend(targets(flow.nodes[node_id]).values())
    return seen


def load(document: str | bytes | dict[str, Any]) -> Flow:
    """A flow from YAML/JSON text or a mapping; FlowInvalid names every problem and where it is."""
    if isinstance(document, bytes | str):
        try:
            data = yaml.safe_load(document)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
            raise FlowInvalid([f"{where}not YAML or JSON ({getattr(exc, 'problem', exc)})"]) from None
    else:
        data = document
    if not isinstance(data, dict):
        raise FlowInvalid(["the document must be a mapping with name, entry and nodes"])
    try:
        flow = Flow.model_validate(data)
    except ValidationError as exc:
        raise FlowInvalid([_where(e) for e in exc.errors()]) from None
    problems = check(flow)
    if problems:
        raise FlowInvalid(problems)
    return flow


def _where(error: Any) -> str:
    # the discriminated union adds the node's type to the path: leave it out, the node id says enough
    loc = [str(p) for p in error["loc"] if str(p) not in NODE_TYPES]
    return f"{'.'.join(loc)}: {error['msg']}"


NODE_TYPES = {"play", "menu", "collect", "language", "hours", "enqueue", "transfer", "hangup"}
FLOWS = Path(__file__).parent / "flows"


@functools.lru_cache(maxsize=64)
def builtin(name: str) -> Flow | None:
    """A flow shipped with tongdai (the demo's), by name."""
    path = FLOWS / f"{name}.yaml"
    return load(path.read_text(encoding="utf-8")) if path.exists() else None
