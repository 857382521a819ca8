"""The examples in docs/routing.md load: every `# workflow` and `# queues` YAML block."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tongdai.routing.model import Queue
from tongdai.routing.simulator import scenario_from_dict
from tongdai.routing.workflow import load_workflow

DOC = Path(__file__).resolve().parents[2] / "docs" / "routing.md"


def _blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S)


def test_given_routing_doc_then_every_yaml_example_loads():
    kinds = []
    for block in _blocks():
        raw = yaml.safe_load(block)
        if block.startswith("# workflow"):
            wf = load_workflow(raw)
            assert wf.filters or wf.default
            kinds.append("workflow")
        elif block.startswith("# queues"):
            assert all(Queue(**q).expression for q in raw)
            kinds.append("queues")
        else:
            assert scenario_from_dict(raw).streams
            kinds.append("scenario")
    assert kinds.count("workflow") == 3 and "queues" in kinds and "scenario" in kinds


def test_given_engine_example_in_doc_then_it_runs_as_written():
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S) if "Engine(" in b]
    ns: dict = {}
    exec(compile(block, "docs/routing.md", "exec"), ns)  # noqa: S102 - our own documentation
    assert [e.name for e in ns["events"]] == ["task.queued", "task.reserved"]
    assert ns["engine"].task("call-42").state.value == "completed"
