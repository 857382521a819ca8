"""Checking a call flow: the schema, then the graph and the contents, with every problem at its node and
field, e.g. `nodes.main_menu.choices.3: unknown target 'salse'`.

Errors stop a flow from being stored or run; warnings (a node never reached) do not.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from tongdai.core.errors import InvalidInput
from tongdai.ivr.model import (
    NODE_TYPES,
    WAITING_TYPES,
    Collect,
    Condition,
    Flow,
    Http,
    Menu,
    Prompt,
    Recording,
    SetLanguage,
    prompts,
    targets,
)
from tongdai.routing.expressions import ExpressionError, task_expression


@dataclass(frozen=True)
class Problem:
    """One finding: where (`nodes.menu.choices.3`) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


@dataclass
class Report:
    """What a check found."""

    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors


class FlowInvalid(InvalidInput):
    """A call flow that cannot run; `details.problems` lists each error with the node and field it is at."""

    # part of the public API: clients match on this id
    error_id = "flow_invalid"

    def __init__(self, errors: list[Problem], warnings: list[Problem] | None = None) -> None:
        self.errors = errors
        self.problems = [str(p) for p in errors]
        self.warnings = [str(p) for p in warnings or []]
        super().__init__("the call flow is not valid: " + "; ".join(self.problems[:5]), error_id="flow_invalid",
                         details={"problems": self.problems, "warnings": self.warnings,
                                  "errors": [{"path": p.path, "message": p.message} for p in errors]})


def parse(document: str | bytes | dict[str, Any]) -> Flow:
    """The flow in YAML/JSON text or a mapping, checked against the schema only."""
    if isinstance(document, bytes | str):
        try:
            data = yaml.safe_load(document)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            raise FlowInvalid([Problem(where, f"not YAML or JSON ({getattr(exc, 'problem', exc)})")]) from None
    else:
        data = document
    if not isinstance(data, dict):
        raise FlowInvalid([Problem("", "the document must be a mapping with name, entry and nodes")])
    try:
        return Flow.model_validate(data)
    except ValidationError as exc:
        raise FlowInvalid([_schema_problem(e) for e in exc.errors()]) from None


def _schema_problem(error: Any) -> Problem:
    # the discriminated union adds the node's type to the path: leave it out, the node id says enough
    loc = [str(p) for p in error["loc"] if str(p) not in NODE_TYPES]
    message = str(error["msg"]).removeprefix("Value error, ")
    return Problem(".".join(loc), message)


def check(flow: Flow) -> Report:
    """Problems beyond the schema: entry and targets, loops without input, languages, expressions."""
    report = Report()
    if flow.entry not in flow.nodes:
        report.errors.append(Problem("entry", f"unknown node '{flow.entry}'"))
    for node_id, node in flow.nodes.items():
        at = f"nodes.{node_id}"
        for name, target in targets(node).items():
            if target not in flow.nodes:
                report.errors.append(Problem(f"{at}.{name}", f"unknown target '{target}'"))
        for name, prompt in prompts(node).items():
            missing = _missing_languages(prompt, flow.languages)
            if missing:
                report.errors.append(Problem(f"{at}.{name}", f"no text for {', '.join(missing)}"))
        report.errors += _contents(at, node, flow)
    report.errors += _loops(flow)
    reachable = _reachable(flow)
    report.warnings += [Problem(f"nodes.{n}", "never reached from the entry") for n in flow.nodes if n not in reachable]
    return report


def _missing_languages(prompt: Prompt, languages: Sequence[str]) -> list[str]:
    if isinstance(prompt, str | Recording):
        return []
    return [lang for lang in languages if lang not in prompt]


def _contents(at: str, node: Any, flow: Flow) -> list[Problem]:
    out: list[Problem] = []
    if isinstance(node, SetLanguage) and node.language not in flow.languages:
        out.append(Problem(f"{at}.language", f"'{node.language}' is not one of the flow's languages "
                                             f"({', '.join(flow.languages)})"))
    if isinstance(node, Condition):
        for i, branch in enumerate(node.branches):
            try:
                task_expression(branch.when)
            except ExpressionError as exc:
                out.append(Problem(f"{at}.branches.{i}.when", str(exc.message)))
    if isinstance(node, Collect) and node.validate_ is not None and node.validate_.pattern is not None:
        try:
            re.compile(node.validate_.pattern)
        except re.error as exc:
            out.append(Problem(f"{at}.validate.pattern", f"not a regular expression ({exc})"))
    if isinstance(node, Menu) and node.speech is not None:
        words = [w.strip().lower() for w in node.speech.words]
        if len(set(words)) != len(words):
            out.append(Problem(f"{at}.speech.words", "the same word twice (words are not case-sensitive)"))
        from tongdai.media.speech import unknown_words  # the pronunciation dictionary loads on first use

        unknown = unknown_words(words)
        if unknown:
            out.append(Problem(f"{at}.speech.words", "not in the speech recogniser's dictionary: "
                                                     + ", ".join(unknown)))
    if isinstance(node, Http) and "{" in node.url.split("?")[0].split("/")[2]:
        out.append(Problem(f"{at}.url", "the host may not come from a variable"))
    return out


def _loops(flow: Flow) -> list[Problem]:
    """Cycles among nodes that do not wait for the caller would spin without end."""
    graph = {n: [t for t in targets(node).values() if t in flow.nodes and flow.nodes[t].type not in WAITING_TYPES]
             for n, node in flow.nodes.items() if node.type not in WAITING_TYPES}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    found: list[Problem] = []

    def visit(start: str) -> None:
        stack: list[tuple[str, int]] = [(start, 0)]
        path: list[str] = []
        while stack:
            node_id, index = stack.pop()
            if index == 0:
                state[node_id] = 1
                path.append(node_id)
            nexts = graph.get(node_id, [])
            if index < len(nexts):
                stack.append((node_id, index + 1))
                target = nexts[index]
                if state.get(target) == 1:
                    cycle = path[path.index(target):] + [target]
                    found.append(Problem(f"nodes.{target}", "loops without waiting for the caller: "
                                                            + " -> ".join(cycle)))
                elif target not in state:
                    stack.append((target, 0))
            else:
                state[node_id] = 2
                path.pop()

    for n in graph:
        if n not in state:
            visit(n)
    return found


def _reachable(flow: Flow) -> set[str]:
    seen: set[str] = set()
    todo = [flow.entry]
    while todo:
        node_id = todo.pop()
        if node_id in seen or node_id not in flow.nodes:
            continue
        seen.add(node_id)
        todo.extend(targets(flow.nodes[node_id]).values())
    return seen


def validate(document: str | bytes | dict[str, Any]) -> tuple[Flow | None, Report]:
    """Parse and check without raising: the flow (None when the schema fails) and the report."""
    try:
        flow = parse(document)
    except FlowInvalid as exc:
        return None, Report(errors=exc.errors)
    return flow, check(flow)


def load(document: str | bytes | dict[str, Any]) -> Flow:
    """A flow from YAML/JSON text or a mapping; FlowInvalid names every error and where it is."""
    flow = parse(document)
    report = check(flow)
    if report.errors:
        raise FlowInvalid(report.errors, report.warnings)
    return flow


#: the flows shipped with tongdai (the demo's)
FLOWS = Path(__file__).parent / "flows"


@functools.lru_cache(maxsize=64)
def builtin(name: str) -> Flow | None:
    """A flow shipped with tongdai, by name (None when there is none of that name)."""
    path = FLOWS / f"{name}.yaml"
    return load(path.read_text(encoding="utf-8")) if path.exists() else None


def document(flow: Flow) -> dict[str, Any]:
    """The flow as stored: JSON, with the document's own field names."""
    return flow.model_dump(mode="json", by_alias=True, exclude_none=True)
