"""The full call-flow model and its validation: errors name the node and field, warnings do not stop a flow."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema_rs
import pytest
import yaml

from tongdai.ivr.model import NODE_TYPES, Flow, json_schema
from tongdai.ivr.validate import FlowInvalid, load, validate

DEMO = Path(__file__).parent / "flows" / "demo_full.yaml"


def doc(nodes: dict, **top) -> dict:
    return {"name": "t", "languages": ["vi", "en"], "entry": "start", "nodes": nodes, **top}


BYE = {"type": "hangup"}


def errors(document) -> list[str]:
    with pytest.raises(FlowInvalid) as caught:
        load(document)
    return caught.value.problems


def test_demo_flow_with_every_demo_requirement_is_valid_without_warnings():
    flow, report = validate(DEMO.read_text())
    assert report.valid and report.warnings == []
    assert flow is not None and flow.languages == ["vi", "en", "zh"]
    menu = flow.nodes["menu"]
    assert menu.choices == {"1": "sales", "2": "support", "9": "english", "8": "chinese"}
    assert menu.speech.words == {"sales": "sales", "support": "support"}


def test_spoken_menu_words_the_recogniser_cannot_know_are_errors_at_the_menu():
    nodes = {"start": {"type": "menu", "prompt": "x", "choices": {"1": "sales"}, "no_input": "sales",
                       "speech": {"words": {"sales": "sales", "qzxv": "sales"}}}, "sales": BYE}
    assert errors(doc(nodes)) == ["nodes.start.speech.words: not in the speech recogniser's dictionary: qzxv"]


def test_unknown_menu_target_is_pointed_at_by_node_and_key():
    nodes = {"start": {"type": "menu", "prompt": "x", "choices": {"1": "sales", "3": "salse"}, "no_input": "sales"},
             "sales": BYE}
    assert errors(doc(nodes)) == ["nodes.start.choices.3: unknown target 'salse'"]


def test_unknown_targets_in_every_branching_field_are_reported():
    nodes = {
        "start": {"type": "condition", "branches": [{"when": "vip == true", "next": "nope1"}], "otherwise": "h"},
        "h": {"type": "hours", "calendar": "Office", "open": "w", "closed": "nope2", "holiday": "nope3"},
        "w": {"type": "http", "url": "https://crm.example/c/{caller}", "next": "q", "fallback": "nope4"},
        "q": {"type": "enqueue", "queue": "sales", "max_wait_s": 60, "on_max_wait": "nope5"},
        "m": {"type": "menu", "prompt": "x", "speech": {"words": {"sales": "nope6"}}, "no_input": "q",
              "no_match": "nope7"},
    }
    assert set(errors(doc(nodes))) == {
        "nodes.start.branches.0.next: unknown target 'nope1'",
        "nodes.h.closed: unknown target 'nope2'",
        "nodes.h.holiday: unknown target 'nope3'",
        "nodes.w.fallback: unknown target 'nope4'",
        "nodes.q.on_max_wait: unknown target 'nope5'",
        "nodes.m.speech.words.sales: unknown target 'nope6'",
        "nodes.m.no_match: unknown target 'nope7'",
    }


def test_unknown_entry_is_an_error():
    assert errors(doc({"other": BYE}, entry="start")) == ["entry: unknown node 'start'"]


def test_unreachable_node_is_a_warning_not_an_error():
    flow, report = validate(doc({"start": BYE, "lonely": BYE}))
    assert flow is not None and report.valid
    assert [str(w) for w in report.warnings] == ["nodes.lonely: never reached from the entry"]
    assert load(doc({"start": BYE, "lonely": BYE})).entry == "start"


def test_loop_without_input_is_an_error_naming_the_cycle():
    nodes = {"start": {"type": "set", "variables": {"x": 1}, "next": "again"},
             "again": {"type": "play", "prompt": "hi", "next": "start"}}
    assert errors(doc(nodes)) == ["nodes.start: loops without waiting for the caller: start -> again -> start"]


def test_loop_through_a_menu_is_allowed():
    nodes = {"start": {"type": "play", "prompt": "hi", "next": "menu"},
             "menu": {"type": "menu", "prompt": "x", "choices": {"0": "start", "1": "bye"}, "no_input": "start"},
             "bye": BYE}
    assert load(doc(nodes)).entry == "start"


def test_prompt_missing_a_flow_language_is_an_error_at_its_field():
    nodes = {"start": {"type": "play", "prompt": {"vi": "Xin chào"}, "next": "bye"},
             "bye": {"type": "voicemail", "prompt": {"vi": "a", "en": "b"}, "queue": "sales"}}
    assert errors(doc(nodes)) == ["nodes.start.prompt: no text for en"]


def test_callback_prompt_languages_are_checked_too():
    nodes = {"start": {"type": "enqueue", "queue": "sales", "callback": {"prompt": {"en": "Press 1"}}}}
    assert errors(doc(nodes)) == ["nodes.start.callback.prompt: no text for vi"]


def test_language_switch_outside_the_flow_languages_is_an_error():
    nodes = {"start": {"type": "language", "language": "zh", "next": "bye"}, "bye": BYE}
    assert errors(doc(nodes)) == ["nodes.start.language: 'zh' is not one of the flow's languages (vi, en)"]


def test_bad_condition_expression_points_at_the_branch():
    nodes = {"start": {"type": "condition", "branches": [{"when": "vip == == true", "next": "bye"}],
                       "otherwise": "bye"}, "bye": BYE}
    [problem] = errors(doc(nodes))
    assert problem.startswith("nodes.start.branches.0.when: ")


def test_bad_regular_expression_is_pointed_at():
    nodes = {"start": {"type": "collect", "prompt": "n", "variable": "customer_number",
                       "validate": {"pattern": "[0-9"}, "next": "bye", "no_input": "bye"}, "bye": BYE}
    [problem] = errors(doc(nodes))
    assert problem.startswith("nodes.start.validate.pattern: not a regular expression")


def test_schema_errors_name_the_node_and_field_without_the_type_tag():
    nodes = {"start": {"type": "collect", "prompt": "n", "variable": "Customer", "min_digits": 0,
                       "next": "bye", "no_input": "bye"}, "bye": BYE}
    found = errors(doc(nodes))
    assert any(p.startswith("nodes.start.variable: ") for p in found)
    assert any(p.startswith("nodes.start.min_digits: ") for p in found)


def test_cross_field_rules_are_schema_errors_at_the_node():
    assert errors(doc({"start": {"type": "collect", "prompt": "n", "variable": "n", "min_digits": 5,
                                 "max_digits": 3, "next": "start", "no_input": "start"}})) == \
        ["nodes.start: min_digits is larger than max_digits"]
    assert errors(doc({"start": {"type": "enqueue", "queue": "q", "max_wait_s": 30}})) == \
        ["nodes.start: max_wait_s and on_max_wait go together"]
    assert errors(doc({"start": {"type": "menu", "prompt": "x", "no_input": "start"}})) == \
        ["nodes.start: a menu needs choices (keys) or speech words"]


def test_unknown_node_type_and_unknown_field_are_refused():
    assert any("nodes.start" in p for p in errors(doc({"start": {"type": "dance"}})))
    assert errors(doc({"start": {"type": "hangup", "colour": "red"}})) == [
        "nodes.start.colour: Extra inputs are not permitted"]


def test_http_host_may_not_come_from_a_variable():
    nodes = {"start": {"type": "http", "url": "https://{host}/x", "next": "bye", "fallback": "bye"}, "bye": BYE}
    assert errors(doc(nodes)) == ["nodes.start.url: the host may not come from a variable"]


def test_yaml_syntax_error_gives_line_and_column():
    [problem] = errors("name: t\nnodes: {a: [}\n")
    assert problem.startswith("line 2, column")


def test_not_a_mapping_is_refused():
    assert errors("- a\n- b\n") == ["the document must be a mapping with name, entry and nodes"]


def test_flow_invalid_carries_stable_id_and_structured_details():
    nodes = {"start": {"type": "play", "prompt": "x", "next": "nowhere"}, "lonely": BYE}
    with pytest.raises(FlowInvalid) as caught:
        load(doc(nodes))
    body = caught.value.body()
    assert body["error_id"] == "flow_invalid" and caught.value.status == 422
    assert body["details"]["errors"] == [{"path": "nodes.start.next", "message": "unknown target 'nowhere'"}]
    assert body["details"]["warnings"] == ["nodes.lonely: never reached from the entry"]


def test_json_and_yaml_documents_load_the_same():
    nodes = {"start": {"type": "play", "prompt": {"vi": "a", "en": "b"}, "next": "bye"}, "bye": BYE}
    assert load(json.dumps(doc(nodes))) == load(doc(nodes))


def test_json_schema_export_covers_every_node_type_and_accepts_the_demo():
    schema = json_schema()
    text = json.dumps(schema)
    for node_type in NODE_TYPES:
        assert f'"const": "{node_type}"' in text
    assert schema["title"] == "Flow" and set(schema["required"]) == {"name", "entry", "nodes"}
    validator = jsonschema_rs.validator_for(schema)
    assert validator.is_valid(yaml.safe_load(DEMO.read_text()))
    assert not validator.is_valid({"name": "t", "entry": "a", "nodes": {"a": {"type": "menu", "prompt": "x"}}})


def test_documents_of_the_first_flow_format_are_accepted_by_the_full_model():
    from tongdai.ivr.validate import FLOWS
    flow = load((FLOWS / "demo.yaml").read_text())
    assert isinstance(flow, Flow) and flow.nodes["menu"].choices["1"] == "sales"
