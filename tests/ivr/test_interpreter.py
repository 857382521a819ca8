"""Call flows, pure: validation errors that point at the node, and the interpreter with a hand clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tongdai.directory.hours import is_open
from tongdai.ivr.flow import FlowInvalid, builtin, load
from tongdai.ivr.interpreter import (
    CheckHours,
    Digit,
    Enqueue,
    FlowRun,
    Hangup,
    HoursChecked,
    PlayFinished,
    Say,
    StopSaying,
    TransferTo,
)

FLOW = """
name: test
language: vi
languages: [vi, en]
entry: hours
nodes:
  hours: {type: hours, calendar: Office, open: hello, closed: closed}
  hello: {type: play, prompt: {vi: Xin chào, en: Hello}, next: menu}
  menu:
    type: menu
    prompt: {vi: Bấm 1 hoặc 2, en: Press 1 or 2}
    choices: {"1": sales, "2": account, "9": english, "0": operator}
    timeout_s: 5
    retries: 1
    no_input: sales
  english: {type: language, language: en, next: menu}
  account:
    type: collect
    prompt: {vi: Nhập số tài khoản, en: Enter your account number}
    variable: account
    min_digits: 4
    max_digits: 6
    next: support
    no_input: sales
  support: {type: enqueue, queue: support, priority: 5}
  sales: {type: enqueue, queue: sales}
  operator: {type: transfer, to: "1001"}
  closed: {type: play, prompt: {vi: Đã đóng cửa, en: Closed}, next: bye}
  bye: {type: hangup}
"""


def started(now: float = 0.0) -> tuple[FlowRun, list]:
    run = FlowRun(load(FLOW), now=now)
    return run, run.start(now)


def test_given_open_hours_then_greeting_menu_and_key_1_enqueues_sales():
    run, actions = started()
    assert actions == [CheckHours("Office")]
    assert run.on_event(HoursChecked(True), 0) == [Say("Xin chào", "vi")]
    assert run.on_event(PlayFinished(), 1) == [Say("Bấm 1 hoặc 2", "vi")]
    assert run.on_event(PlayFinished(), 2) == [] and run.deadline == 7
    assert run.on_event(Digit("1"), 3) == [Enqueue("sales", 0, {"menu.menu": "1"})]
    assert run.finished and run.path == ["hours", "hello", "menu", "sales"]


def test_given_closed_then_message_and_hang_up():
    run, _ = started()
    assert run.on_event(HoursChecked(False), 0) == [Say("Đã đóng cửa", "vi")]
    assert run.on_event(PlayFinished(), 2) == [Hangup("the call flow ended the call")]


def test_given_key_9_then_prompts_switch_to_english():
    run, _ = started()
    run.on_event(HoursChecked(True), 0)
    run.on_event(PlayFinished(), 1)
    assert run.on_event(Digit("9"), 1.5) == [StopSaying(), Say("Press 1 or 2", "en")]


def test_given_silence_then_menu_repeats_then_goes_to_no_input():
    run, _ = started()
    run.on_event(HoursChecked(True), 0)
    run.on_event(PlayFinished(), 1)
    run.on_event(PlayFinished(), 2)
    assert run.on_timer(6.9) == []  # not yet
    assert run.on_timer(7) == [Say("Bấm 1 hoặc 2", "vi")]  # retry 1 of 1
    run.on_event(PlayFinished(), 8)
    assert run.on_timer(13) == [Enqueue("sales", 0, {})]


def test_given_wrong_key_then_invalid_prompt_and_menu_again():
    run, _ = started()
    run.on_event(HoursChecked(True), 0)
    run.on_event(PlayFinished(), 1)
    run.on_event(PlayFinished(), 2)
    assert run.on_event(Digit("7"), 3) == [Say("Lựa chọn không hợp lệ. Bấm 1 hoặc 2", "vi")]


def test_given_account_digits_then_collected_into_variable_with_priority():
    run, _ = started()
    run.on_event(HoursChecked(True), 0)
    run.on_event(PlayFinished(), 1)
    run.on_event(Digit("2"), 2)
    for i, d in enumerate("1234"):
        assert run.on_event(Digit(d), 3 + i) in ([StopSaying()], [])
    assert run.on_event(Digit("#"), 8) == [Enqueue("support", 5, {"menu.menu": "2", "account": "1234"})]


def test_given_too_few_digits_then_timeout_goes_to_no_input():
    run, _ = started()
    run.on_event(HoursChecked(True), 0)
    run.on_event(PlayFinished(), 1)
    run.on_event(Digit("2"), 2)
    run.on_event(PlayFinished(), 3)
    run.on_event(Digit("1"), 4)
    assert run.on_timer(11.9) == []  # 8 s after the last key
    assert run.on_timer(12) == [Enqueue("sales", 0, {"menu.menu": "2"})]


def test_given_keys_pressed_during_greeting_then_menu_is_skipped():
    run, _ = started()
    run.on_event(HoursChecked(True), 0)
    assert run.on_event(Digit("0"), 0.5) == [StopSaying(), TransferTo("1001")]


def test_given_bad_flow_then_errors_point_at_node_and_field():
    bad = FLOW.replace('"1": sales', '"1": salse').replace("en: Closed", "zz: x").replace("min_digits: 4", "min_digits: 0")
    with pytest.raises(FlowInvalid) as err:
        load(bad)
    problems = err.value.problems
    assert "nodes.account.min_digits: Input should be greater than or equal to 1" in problems, problems
    with pytest.raises(FlowInvalid) as err:
        load(FLOW.replace('"1": sales', '"1": salse'))
    assert err.value.problems == ["nodes.menu.choices.1: unknown target 'salse'"]
    with pytest.raises(FlowInvalid) as err:
        load(FLOW + "  orphan: {type: hangup}\n")
    assert err.value.problems == ["nodes.orphan: never reached from the entry"]
    with pytest.raises(FlowInvalid) as err:
        load("name: [unclosed")
    assert err.value.problems[0].startswith("line 1, column")
    with pytest.raises(FlowInvalid) as err:
        load(FLOW.replace("{vi: Đã đóng cửa, en: Closed}", "{vi: Đã đóng cửa}"))
    assert err.value.problems == ["nodes.closed.prompt: no text for en"]


def test_given_a_loop_without_input_then_run_hangs_up():
    run = FlowRun(load("name: loop\nentry: a\nnodes:\n  a: {type: language, language: en, next: b}\n"
                       "  b: {type: language, language: vi, next: a}\n"))
    assert run.start(0) == [Hangup("the call flow loops without waiting for the caller")]


def test_demo_flow_is_valid_and_business_hours_follow_the_calendar():
    assert builtin("demo") is not None and builtin("nope") is None
    weekly = {"mon": [["08:00", "17:30"]]}
    monday_9_hanoi = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 09:00 in Asia/Ho_Chi_Minh
    assert is_open("Asia/Ho_Chi_Minh", weekly, [], monday_9_hanoi)
    assert not is_open("Asia/Ho_Chi_Minh", weekly, [], datetime(2026, 11, 23, 11, 0, tzinfo=UTC))  # 18:00
    assert not is_open("Asia/Ho_Chi_Minh", weekly, [{"date": "2026-11-23"}], monday_9_hanoi)
