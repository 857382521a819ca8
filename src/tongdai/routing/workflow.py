"""Workflows: an ordered list of filters on task attributes, each with a chain of targets.

The first filter whose expression matches the task gives the chain; the task starts at its first
target and moves to the next when the target's timeout passes (or at once when the target says
skip-if-no-one-available and no one is). That is how bullseye widening and overflow are written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from tongdai.core.errors import InvalidInput
from tongdai.routing.expressions import Expression, ExpressionError, task_expression, worker_expression
from tongdai.routing.strategies import Strategy

#: Orderings a target may ask for (ring-all, preferred and weighted random are queue strategies).
ORDERINGS = frozenset({Strategy.LONGEST_IDLE, Strategy.LEAST_OCCUPIED, Strategy.MOST_SKILLED,
                       Strategy.LEAST_SKILLED, Strategy.ROUND_ROBIN})


@dataclasses.dataclass(eq=False)
class Target:
    """One step of a chain: a queue, an optional narrower worker expression, a priority and a timeout."""

    queue: str
    expression: str = ""
    """Extra condition on the worker; may use `task.*` (e.g. `skills.sales >= task.level`)."""
    priority: int | None = None
    """Overrides the task's priority while it is at this step."""
    timeout_s: float | None = None
    """After this long at this step, move to the next target (None: stay)."""
    skip_if_no_one_available: bool = False
    order_by: Strategy | None = None
    """An ordering for this step instead of the queue's (longest_idle, most_skilled, ...; the skill is
    the queue's); it scans the queue's free members instead of using the queue's heap."""
    compiled: Expression = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.compiled = worker_expression(self.expression, allow_task=True)
        if self.order_by is not None:
            self.order_by = Strategy(self.order_by)
            if self.order_by not in ORDERINGS:
                raise InvalidInput(f"order_by must be one of {', '.join(sorted(ORDERINGS))}",
                                   error_id="invalid_workflow")


@dataclasses.dataclass(eq=False)
class Filter:
    """Tasks matching `expression` follow `targets`."""

    name: str
    expression: str
    targets: list[Target]
    compiled: Expression = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.compiled = task_expression(self.expression)


@dataclasses.dataclass(eq=False)
class Workflow:
    """Filters tried in order; `default` targets for tasks that match none."""

    filters: list[Filter] = dataclasses.field(default_factory=list)
    default: list[Target] = dataclasses.field(default_factory=list)
    on_exhausted: str = "voicemail"
    """Where a task goes when the last target's timeout passes."""

    def route(self, task_context: Mapping[str, Any]) -> tuple[str, list[Target]]:
        """(filter name, targets) for a task's attributes."""
        for f in self.filters:
            if f.compiled.matches({}, task_context):
                return f.name, f.targets
        return "default", self.default

    def queues(self) -> set[str]:
        return {t.queue for f in self.filters for t in f.targets} | {t.queue for t in self.default}


def by_queue_attribute() -> Workflow:
    """The workflow used when none is configured: the task names its queue in `task.queue`."""
    return Workflow(filters=[], default=[])


def _target(raw: Mapping[str, Any], where: str) -> Target:
    try:
        return Target(queue=str(raw["queue"]), expression=str(raw.get("expression", "")),
                      priority=raw.get("priority"), timeout_s=raw.get("timeout_s"),
                      skip_if_no_one_available=bool(raw.get("skip_if_no_one_available", False)),
                      order_by=raw.get("order_by"))
    except ValueError:
        raise InvalidInput(f"{where}: unknown order_by {raw.get('order_by')!r}", error_id="invalid_workflow") from None
    except KeyError:
        raise InvalidInput(f"{where}: a target needs a queue", error_id="invalid_workflow") from None
    except ExpressionError as exc:
        exc.details["where"] = where
        raise


def load_workflow(raw: Mapping[str, Any], known_queues: Sequence[str] | None = None) -> Workflow:
    """Build and check a workflow from its JSON/YAML form; errors name the filter, target and position."""
    filters = []
    for i, f in enumerate(raw.get("filters", [])):
        where = f"filters[{i}]"
        try:
            flt = Filter(name=str(f.get("name", where)), expression=str(f.get("expression", "")),
                         targets=[_target(t, f"{where}.targets[{j}]") for j, t in enumerate(f.get("targets", []))])
        except ExpressionError as exc:
            exc.details.setdefault("where", where)
            raise
        filters.append(flt)
    default = [_target(t, f"default[{j}]") for j, t in enumerate(raw.get("default", []))]
    wf = Workflow(filters=filters, default=default, on_exhausted=str(raw.get("on_exhausted", "voicemail")))
    if known_queues is not None:
        unknown = sorted(wf.queues() - set(known_queues))
        if unknown:
            raise InvalidInput(f"unknown queues: {', '.join(unknown)}", error_id="invalid_workflow",
                               details={"queues": unknown})
    return wf
