"""The expression language: grammar, types checked at save time, positioned errors, evaluation."""

from __future__ import annotations

import pytest

from tongdai.routing.expressions import ExpressionError, parse, task_expression, worker_expression

LAN = {"skills": {"sales": 8, "support": 3}, "languages": ["vi", "en"], "site": "hanoi", "team": "a"}
MINH = {"skills": {"sales": 5}, "languages": ["vi"], "site": "hcm"}


@pytest.mark.parametrize(("source", "lan", "minh"), [
    ("skills.sales >= 5", True, True),
    ("skills.sales > 5", True, False),
    ("skills.support >= 1", True, False),
    ("languages HAS 'en'", True, False),
    ("languages has 'vi' and site == 'hcm'", False, True),
    ("site IN ['hanoi', 'danang']", True, False),
    ("site NOT IN ['hanoi']", False, True),
    ("NOT (skills.sales >= 8)", False, True),
    ("skills.sales >= 8 OR site == \"hcm\"", True, True),
    ("skills HAS 'support'", True, False),
    ("team == null", False, True),
    ("team != null", True, False),
    ("skills.billing < 3", False, False),
    ("", True, True),
    ("skills.sales >= 5 && languages HAS 'vi' || site == 'x'", True, True),
])
def test_given_worker_expression_when_evaluated_then_matches_expected_agents(source, lan, minh):
    expr = worker_expression(source)
    assert expr.matches(LAN, {}) is lan
    assert expr.matches(MINH, {}) is minh


def test_given_issue_example_then_task_attributes_and_worker_attributes_combine():
    expr = worker_expression("skills.sales >= 5 AND languages HAS 'vi' AND task.vip == true", allow_task=True)
    assert expr.matches(LAN, {"vip": True})
    assert not expr.matches(LAN, {"vip": False})
    assert not expr.matches(LAN, {})


def test_given_task_reference_then_comparison_uses_the_task_value():
    expr = worker_expression("skills.sales >= task.level", allow_task=True)
    assert expr.matches(MINH, {"level": 5}) and not expr.matches(MINH, {"level": 6})


def test_given_workflow_filter_then_bare_names_are_task_attributes():
    expr = task_expression("type == 'sales' AND priority >= 1")
    assert expr.matches({}, {"type": "sales", "priority": 2})
    assert not expr.matches({}, {"type": "support", "priority": 2})


def test_given_and_or_not_then_precedence_is_not_and_or():
    tree = parse("a == 1 OR b == 2 AND NOT c == 3")
    assert type(tree).__name__ == "BoolOp" and tree.op == "or"
    expr = task_expression("a == 1 OR b == 2 AND NOT c == 3")
    assert expr.matches({}, {"a": 1, "c": 3})
    assert not expr.matches({}, {"b": 2, "c": 3})


@pytest.mark.parametrize(("source", "position", "fragment"), [
    ("skills.sales >= ", 16, "expected a value"),
    ("skills.sales >= 5 AND", 21, "expected a value"),
    ("skills.sales >= 5 5", 18, "expected AND, OR"),
    ("(skills.sales >= 5", 18, "expected ')'"),
    ("site == 'hanoi", 8, "unterminated string"),
    ("site == $x", 8, "unexpected character"),
    ("site IN ['a', skills]", 14, "a list holds"),
    ("skills. >= 1", 8, "expected an attribute name"),
])
def test_given_bad_syntax_then_error_points_at_the_position(source, position, fragment):
    with pytest.raises(ExpressionError) as err:
        worker_expression(source)
    assert err.value.position == position
    assert fragment in err.value.details["reason"]
    assert err.value.details["pointer"].splitlines()[1] == " " * position + "^"
    assert err.value.status == 422 and err.value.error_id == "invalid_expression"


@pytest.mark.parametrize(("source", "position", "fragment"), [
    ("skills.sales >= 'five'", 13, "cannot compare a number with a string"),
    ("languages >= 2", 0, "compares numbers or strings, not a list"),
    ("site HAS 'x'", 0, "HAS needs a list or a map"),
    ("skills.sales AND site == 'x'", 0, "expected a condition"),
    ("skills.sales IN 5", 16, "needs a list on its right"),
    ("skills.sales.level >= 1", 0, "unknown attribute"),
    ("task.vip == true", 0, "cannot be used here"),
    ("site == 3", 5, "cannot compare a string with a number"),
])
def test_given_type_error_when_queue_saved_then_error_points_at_the_position(source, position, fragment):
    with pytest.raises(ExpressionError) as err:
        worker_expression(source)
    assert err.value.position == position, err.value.details
    assert fragment in err.value.details["reason"]


def test_given_worker_scope_in_workflow_filter_then_rejected():
    with pytest.raises(ExpressionError, match="cannot be used here"):
        task_expression("worker.site == 'x'")


def test_given_false_skill_comparison_then_why_false_names_skill_too_low_or_missing():
    expr = worker_expression("languages HAS 'vi' AND skills.sales >= 6")
    assert expr.why_false(MINH, {}) == ("skill_too_low", "skills.sales >= 6 (skills.sales is 5)")
    assert expr.why_false({"languages": ["vi"], "skills": {}}, {})[0] == "skill_missing"
    assert expr.why_false({"languages": ["en"], "skills": {"sales": 9}}, {})[0] == "expression_false"


def test_given_keyword_as_attribute_name_after_dot_then_it_keeps_its_spelling():
    expr = worker_expression("skills.IN >= 1 AND skills.Not == 2")
    assert expr.matches({"skills": {"IN": 1, "Not": 2}}, {})
    assert not expr.matches({"skills": {"in": 1, "not": 2}}, {})


def test_given_no_eval_then_python_code_is_just_a_parse_error():
    with pytest.raises(ExpressionError):
        worker_expression("__import__('os').system('true')")


def test_given_missing_attributes_then_comparisons_are_false_not_errors():
    expr = worker_expression("skills.sales >= 1 OR languages HAS 'vi' OR site < 'z'")
    assert expr.matches({}, {}) is False
    assert expr.matches({"skills": "not-a-map", "languages": 3, "site": True}, {}) is False
