"""The full-model interpreter, pure: every node type driven by events and a hand clock."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tongdai.ivr.flowrun import (
    MAX_STEPS,
    BusinessHours,
    CheckHours,
    CollectDigits,
    Digit,
    DigitsCollected,
    DigitsTimeout,
    Enqueue,
    FlowFinished,
    FlowRun,
    Hangup,
    HttpFailed,
    HttpRequest,
    HttpResult,
    LeaveQueue,
    Play,
    PlayFinished,
    QueueAnswered,
    Recognise,
    RecordVoicemail,
    RequestCallback,
    SetLanguage,
    SpeechNoMatch,
    SpeechRecognised,
    StopPlaying,
    Transfer,
    VoicemailRecorded,
    luhn_ok,
    render,
)
from tongdai.ivr.model import Flow
from tongdai.ivr.validate import load

DEMO = Path(__file__).parent / "flows" / "demo_full.yaml"
BYE = {"type": "hangup"}


class Clock:
    """A hand clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def flow(nodes: dict, languages=("vi", "en"), **top) -> Flow:
    return load({"name": "t", "languages": list(languages), "entry": "start", "nodes": nodes, **top})


def demo_run(clock: Clock, **kw) -> tuple[FlowRun, list]:
    run = FlowRun(load(DEMO.read_text()), variables={"caller": "0901234567"}, **kw)
    return run, run.start(clock.now)


def to_menu(run: FlowRun, clock: Clock) -> list:
    """From the demo's start through hours and greeting to the menu's input window."""
    run.on_event(BusinessHours(True), clock.now)
    assert run.on_event(PlayFinished(), clock.advance(3))[0].text.startswith("Bấm phím 1")
    return run.on_event(PlayFinished(), clock.advance(5))


def kinds(actions: list) -> list[str]:
    return [type(a).__name__ for a in actions]


# --- play ---
def test_play_speaks_in_flow_language_and_goes_on_when_heard():
    clock = Clock()
    run = FlowRun(flow({"start": {"type": "play", "prompt": {"vi": "Xin chào {caller}", "en": "Hello"},
                                  "next": "bye"}, "bye": BYE}), variables={"caller": "0901"})
    assert run.start(clock.now) == [Play("Xin chào 0901", "vi", True)]
    assert run.on_event(PlayFinished(), clock.advance(2)) == [Hangup("the call flow ended the call"),
                                                               FlowFinished("hangup", ("start", "bye"))]
    assert run.finished and run.on_event(PlayFinished(), clock.advance(1)) == []


def test_play_of_recorded_prompt_gives_its_id():
    run = FlowRun(flow({"start": {"type": "play", "prompt": {"vi": {"recording": "chao-vi"}, "en": "Hi"},
                                  "next": "bye"}, "bye": BYE}))
    assert run.start(0) == [Play("", "vi", True, prompt_id="chao-vi")]


def test_key_during_play_with_barge_in_stops_it_and_counts_in_next_menu():
    clock = Clock()
    run = FlowRun(flow({"start": {"type": "play", "prompt": "hi", "next": "menu"},
                        "menu": {"type": "menu", "prompt": "1 or 2", "choices": {"1": "a", "2": "b"},
                                 "no_input": "a"},
                        "a": {"type": "transfer", "to": "1001"}, "b": {"type": "transfer", "to": "1002"}}))
    run.start(clock.now)
    actions = run.on_event(Digit("2"), clock.advance(0.5))
    assert actions[0] == StopPlaying() and Transfer("1002", "auto") in actions
    assert run.path == ["start", "menu", "b"]


def test_key_during_play_without_barge_in_is_ignored():
    run = FlowRun(flow({"start": {"type": "play", "prompt": "hi", "barge_in": False, "next": "bye"}, "bye": BYE}))
    run.start(0)
    assert run.on_event(Digit("1"), 1) == [] and run.node_id == "start"


# --- menu ---
def test_menu_key_after_prompt_leads_to_choice_and_keeps_variable():
    clock = Clock()
    run, _ = demo_run(clock)
    assert kinds(to_menu(run, clock)) == ["CollectDigits", "Recognise"]
    assert run.next_deadline == clock.now + 5
    actions = run.on_event(Digit("2"), clock.advance(1))
    assert isinstance(actions[0], Enqueue) and actions[0].queue == "support"
    assert actions[0].variables["menu.menu"] == "2" and actions[0].variables["caller"] == "0901234567"


def test_menu_silence_reprompts_until_retries_then_no_input_target():
    clock = Clock()
    run = FlowRun(flow({"start": {"type": "menu", "prompt": {"vi": "Bấm 1", "en": "Press 1"}, "choices": {"1": "a"},
                                  "retries": 1, "timeout_s": 4, "no_input_prompt": {"vi": "Không nghe", "en": "?"},
                                  "no_input": "bye"},
                        "a": {"type": "transfer", "to": "1001"}, "bye": BYE}))
    run.start(clock.now)
    run.on_event(PlayFinished(), clock.advance(1))
    assert run.on_timer(clock.advance(3.9)) == []  # not yet
    assert run.on_timer(clock.advance(0.1)) == [Play("Không nghe Bấm 1", "vi", True)]
    assert run.next_deadline is None  # the timer starts again once the prompt is heard
    run.on_event(PlayFinished(), clock.advance(1))
    assert run.on_timer(clock.advance(4)) == [Hangup("the call flow ended the call"),
                                              FlowFinished("hangup", ("start", "bye"))]


def test_menu_wrong_key_says_invalid_prompt_then_no_match_target():
    clock = Clock()
    run = FlowRun(flow({"start": {"type": "menu", "prompt": "Press 1", "choices": {"1": "a"}, "retries": 1,
                                  "invalid_prompt": "Wrong.", "no_input": "a", "no_match": "bye"},
                        "a": {"type": "transfer", "to": "1001"}, "bye": BYE}))
    run.start(clock.now)
    run.on_event(PlayFinished(), clock.advance(1))
    assert run.on_event(Digit("7"), clock.advance(1)) == [Play("Wrong. Press 1", "vi", True)]
    assert run.on_event(Digit("7"), clock.advance(1)) == [StopPlaying(), Hangup("the call flow ended the call"),
                                                           FlowFinished("hangup", ("start", "bye"))]


def test_menu_accepts_keys_collected_by_session_and_session_timeout():
    clock = Clock()
    run, _ = demo_run(clock)
    to_menu(run, clock)
    assert run.on_event(DigitsTimeout(), clock.advance(5))[0].text.startswith("Bấm phím 1")
    run.on_event(PlayFinished(), clock.advance(5))
    assert run.on_event(DigitsCollected("1"), clock.advance(1))[0].queue == "sales"


# --- speech ---
def test_spoken_word_picks_branch():
    clock = Clock()
    run, _ = demo_run(clock)
    actions = to_menu(run, clock)
    assert Recognise(("sales", "support"), "vi", 5.0) in actions
    assert run.on_event(SpeechRecognised("Sales", 0.9), clock.advance(2))[0].queue == "sales"
    assert run.variables["speech.menu"] == "sales"


def test_low_confidence_speech_reprompts_then_no_match_falls_to_no_input():
    clock = Clock()
    run, _ = demo_run(clock)
    to_menu(run, clock)
    assert run.on_event(SpeechRecognised("support", 0.3), clock.advance(2))[0].text.startswith("Lựa chọn không")
    run.on_event(PlayFinished(), clock.advance(6))
    assert kinds(run.on_event(SpeechNoMatch(), clock.advance(2))) == ["Play"]
    run.on_event(PlayFinished(), clock.advance(6))
    actions = run.on_event(SpeechRecognised("weather", 0.95), clock.advance(2))
    assert actions[0].queue == "sales"  # the demo's no_input (no no_match given)


# --- language ---
def test_language_choice_switches_prompts_to_english_and_chinese():
    clock = Clock()
    run, _ = demo_run(clock)
    to_menu(run, clock)
    actions = run.on_event(Digit("9"), clock.advance(1))
    assert actions[0] == SetLanguage("en") and actions[1].text.startswith("Press 1") and actions[1].language == "en"
    run.on_event(PlayFinished(), clock.advance(4))
    actions = run.on_event(Digit("8"), clock.advance(1))
    assert actions[0] == SetLanguage("zh") and actions[1] == Play("销售请按1，技术支持请按2。", "zh", True)
    assert run.variables["language"] == "zh"


# --- collect ---
COLLECT = {"type": "collect", "prompt": "Number?", "variable": "customer_number", "min_digits": 4,
           "max_digits": 8, "terminator": "#", "timeout_s": 5, "inter_digit_timeout_s": 2, "total_timeout_s": 12,
           "retries": 1, "invalid_prompt": "Invalid.", "next": "ok", "no_input": "bye", "invalid": "wrong"}
COLLECT_NODES = {"ok": {"type": "enqueue", "queue": "support"}, "bye": BYE,
                 "wrong": {"type": "transfer", "to": "1001"}}


def collect_run(**changes) -> tuple[FlowRun, Clock]:
    clock = Clock()
    run = FlowRun(flow({"start": {**COLLECT, **changes}, **COLLECT_NODES}))
    run.start(clock.now)
    actions = run.on_event(PlayFinished(), clock.advance(1))
    node = {**COLLECT, **changes}
    assert actions == [CollectDigits(node["min_digits"], node["max_digits"], "#", 5, 2, 12)]
    return run, clock


def test_collect_with_terminator_stores_variable():
    run, clock = collect_run()
    for key in "12345":
        assert run.on_event(Digit(key), clock.advance(1)) == []
    actions = run.on_event(Digit("#"), clock.advance(1))
    assert actions[0].variables["customer_number"] == "12345" and run.variables["customer_number"] == "12345"


def test_collect_stops_at_max_digits():
    run, clock = collect_run(max_digits=4)
    for key in "123":
        run.on_event(Digit(key), clock.advance(0.5))
    assert run.on_event(Digit("4"), clock.advance(0.5))[0].queue == "support"


def test_collect_first_digit_timeout_then_inter_digit_timeout_accepts_enough_digits():
    run, clock = collect_run()
    assert run.next_deadline == clock.now + 5  # first key
    run.on_event(Digit("1"), clock.advance(4))
    assert run.next_deadline == clock.now + 2  # between keys
    for key in "234":
        run.on_event(Digit(key), clock.advance(1))
    assert run.on_timer(clock.advance(1.9)) == []
    assert run.on_timer(clock.advance(0.1))[0].variables["customer_number"] == "1234"


def test_collect_total_timeout_caps_slow_typing():
    run, clock = collect_run()
    start = clock.now
    for key in "123":
        run.on_event(Digit(key), clock.advance(1.9))
    run.on_event(Digit("4"), clock.advance(1.9))
    run.on_event(Digit("5"), clock.advance(1.9))
    run.on_event(Digit("6"), clock.advance(1.0))
    assert run.next_deadline == start + 12  # the total, sooner than the inter-digit wait
    assert run.on_timer(start + 12)[0].variables["customer_number"] == "123456"


def test_collect_too_short_is_invalid_and_retried_then_invalid_target():
    run, clock = collect_run()
    run.on_event(Digit("1"), clock.advance(1))
    assert run.on_event(Digit("#"), clock.advance(1)) == [Play("Invalid. Number?", "vi", True)]
    run.on_event(PlayFinished(), clock.advance(1))
    assert run.on_event(DigitsCollected("12#"), clock.advance(1))[0] == Transfer("1001", "auto")


def test_collect_silence_retried_then_no_input_target():
    run, clock = collect_run()
    assert run.on_timer(clock.advance(5)) == [Play("Number?", "vi", True)]
    run.on_event(PlayFinished(), clock.advance(1))
    assert run.on_timer(clock.advance(5))[0] == Hangup("the call flow ended the call")


def test_collect_regex_validation():
    run, clock = collect_run(validate={"pattern": "9[0-9]+"}, retries=0)
    assert run.on_event(DigitsCollected("91234"), clock.advance(1))[0].queue == "support"
    run, clock = collect_run(validate={"pattern": "9[0-9]+"}, retries=0)
    assert run.on_event(DigitsCollected("81234"), clock.advance(1))[0] == Transfer("1001", "auto")


def test_collect_luhn_validation():
    assert luhn_ok("79927398713") and not luhn_ok("79927398710") and not luhn_ok("12a4")
    run, clock = collect_run(validate={"luhn": True}, max_digits=16, retries=0)
    assert run.on_event(DigitsCollected("4539578763621486"), clock.advance(1))[0].queue == "support"
    run, clock = collect_run(validate={"luhn": True}, max_digits=16, retries=0)
    assert run.on_event(DigitsCollected("4539578763621487"), clock.advance(1))[0] == Transfer("1001", "auto")


def test_collect_keys_typed_ahead_of_its_prompt_are_kept():
    clock = Clock()
    run = FlowRun(flow({"start": {"type": "play", "prompt": "hi", "next": "num"},
                        "num": {**COLLECT, "max_digits": 4}, **COLLECT_NODES}))
    run.start(clock.now)
    assert run.on_event(Digit("1"), clock.advance(1)) == [StopPlaying()]  # no prompt: keys are coming
    for key in "23":
        run.on_event(Digit(key), clock.advance(0.5))
    assert run.on_event(Digit("4"), clock.advance(0.5))[0].variables["customer_number"] == "1234"


# --- hours ---
HOURS = {"start": {"type": "hours", "calendar": "Office", "open": "o", "closed": "c", "holiday": "h"},
         "o": {"type": "transfer", "to": "open"}, "c": {"type": "transfer", "to": "closed"},
         "h": {"type": "transfer", "to": "holiday"}}


def test_hours_asks_the_session_and_branches_on_its_answer():
    for event, target in ((BusinessHours(True), "open"), (BusinessHours(False), "closed"),
                          (BusinessHours(False, holiday=True), "holiday")):
        run = FlowRun(flow(HOURS))
        assert run.start(0) == [CheckHours("Office")]
        assert run.on_event(event, 1)[0] == Transfer(target, "auto")


def test_hours_from_an_input_function():
    asked: list[str] = []

    def is_open(calendar: str) -> bool | str:
        asked.append(calendar)
        return "holiday"

    assert FlowRun(flow(HOURS), is_open=is_open).start(0)[0] == Transfer("holiday", "auto")
    assert asked == ["Office"]


def test_demo_closed_plays_closed_message_and_hangs_up():
    clock = Clock()
    run, actions = demo_run(clock)
    assert actions == [CheckHours("Demo line")]
    assert run.on_event(BusinessHours(False), clock.advance(0.1))[0].text.startswith("Hiện tại ngoài giờ")
    assert kinds(run.on_event(PlayFinished(), clock.advance(4))) == ["Hangup", "FlowFinished"]


# --- condition and set ---
def test_condition_on_caller_data_and_set_variables():
    nodes = {"start": {"type": "set", "variables": {"vip": True, "greeting_for": "{caller}"}, "next": "check"},
             "check": {"type": "condition", "otherwise": "normal", "branches": [
                 {"when": "vip == true AND language == 'vi' AND caller IN ['0901', '0902']", "next": "vip"},
                 {"when": "vip == true", "next": "normal"}]},
             "vip": {"type": "enqueue", "queue": "vip", "priority": 10}, "normal": {"type": "enqueue", "queue": "q"}}
    run = FlowRun(flow(nodes), variables={"caller": "0901"})
    actions = run.start(0)
    assert actions[0] == Enqueue("vip", 10, {"caller": "0901", "language": "vi", "vip": "true",
                                             "greeting_for": "0901"})
    run = FlowRun(flow(nodes), variables={"caller": "0999"})
    assert run.start(0)[0].queue == "q"


def test_condition_on_collected_digits():
    nodes = {"start": {**COLLECT, "next": "check", "max_digits": 4},
             "check": {"type": "condition", "branches": [{"when": "customer_number == '1234'", "next": "ok"}],
                       "otherwise": "bye"}, **COLLECT_NODES}
    run = FlowRun(flow(nodes))
    run.start(0)
    run.on_event(PlayFinished(), 1)
    assert run.on_event(DigitsCollected("1234"), 2)[0].queue == "support"


# --- http ---
HTTP = {"start": {"type": "http", "url": "https://crm.example/customers?phone={caller}", "timeout_s": 2,
                  "into": "customer", "fields": {"tier": "profile.tier"}, "next": "check", "fallback": "plain"},
        "check": {"type": "condition", "branches": [{"when": "tier == 'gold'", "next": "vip"}],
                  "otherwise": "plain"},
        "vip": {"type": "enqueue", "queue": "vip", "priority": 9}, "plain": {"type": "enqueue", "queue": "q"}}


def test_http_lookup_result_stored_and_used_by_condition():
    clock = Clock()
    run = FlowRun(flow(HTTP), variables={"caller": "+84 901"})
    assert run.start(clock.now) == [HttpRequest("GET", "https://crm.example/customers?phone=%2B84%20901", {}, None,
                                                2.0)]
    assert run.next_deadline == clock.now + 2
    actions = run.on_event(HttpResult(200, {"profile": {"tier": "gold"}}), clock.advance(0.5))
    assert actions[0].queue == "vip" and actions[0].variables["tier"] == "gold"
    assert run.variables["customer"] == {"profile": {"tier": "gold"}}


def test_http_timeout_takes_fallback_and_late_answer_is_ignored():
    clock = Clock()
    run = FlowRun(flow(HTTP), variables={"caller": "0901"})
    run.start(clock.now)
    assert run.on_timer(clock.advance(1.9)) == []
    assert run.on_timer(clock.advance(0.1))[0].queue == "q"
    assert run.on_event(HttpResult(200, {"profile": {"tier": "gold"}}), clock.advance(1)) == []


def test_http_failure_and_error_status_take_fallback():
    for event in (HttpFailed("connection refused"), HttpResult(503, None)):
        run = FlowRun(flow(HTTP), variables={"caller": "0901"})
        run.start(0)
        assert run.on_event(event, 1)[0].queue == "q"
        assert run.variables["customer"]["ok"] is False


def test_http_post_body_is_rendered():
    nodes = {"start": {"type": "http", "method": "POST", "url": "https://crm.example/lookup",
                       "body": {"phone": "{caller}", "tags": ["ivr"], "n": 1}, "next": "bye", "fallback": "bye"},
             "bye": BYE}
    action = FlowRun(flow(nodes), variables={"caller": "0901"}).start(0)[0]
    assert action.method == "POST" and action.body == {"phone": "0901", "tags": ["ivr"], "n": 1}


# --- enqueue: maximum wait, callback, answered ---
def test_queue_maximum_wait_leads_to_voicemail_recorded_then_hangup():
    clock = Clock()
    run, _ = demo_run(clock)
    to_menu(run, clock)
    enqueue = run.on_event(Digit("1"), clock.advance(1))
    assert enqueue[0].max_wait_s == 300 and enqueue[0].callback.key == "1" and not run.finished
    assert run.on_timer(clock.advance(299)) == []
    actions = run.on_timer(clock.advance(1))
    assert actions[0] == LeaveQueue("sales", "max_wait") and actions[1].text.startswith("Xin để lại lời nhắn")
    assert run.on_event(PlayFinished(), clock.advance(3)) == [RecordVoicemail(120, "sales", "")]
    assert run.on_event(VoicemailRecorded(42), clock.advance(42)) == [
        Hangup("voicemail recorded"),
        FlowFinished("voicemail", ("hours", "greeting", "menu", "sales", "sales_voicemail"))]


def test_queue_callback_key_leaves_line_and_requests_callback():
    clock = Clock()
    run, _ = demo_run(clock)
    to_menu(run, clock)
    run.on_event(Digit("2"), clock.advance(1))
    assert run.on_event(Digit("5"), clock.advance(30)) == []
    actions = run.on_event(Digit("1"), clock.advance(30))
    assert actions[:2] == [LeaveQueue("support", "callback"), RequestCallback("support", "0901234567")]
    assert actions[2].outcome == "callback" and run.finished and run.next_deadline is None


def test_queue_answered_finishes_the_run_without_timer():
    clock = Clock()
    run, _ = demo_run(clock)
    to_menu(run, clock)
    run.on_event(Digit("1"), clock.advance(1))
    assert run.on_event(QueueAnswered(), clock.advance(10))[0].outcome == "queue"
    assert run.on_timer(clock.advance(1000)) == []


def test_plain_enqueue_finishes_at_once_with_attributes():
    run = FlowRun(flow({"start": {"type": "enqueue", "queue": "sales", "priority": 3,
                                  "attributes": {"segment": "retail", "who": "{caller}"}}}), variables={"caller": "1"})
    actions = run.start(0)
    assert actions[0] == Enqueue("sales", 3, {"caller": "1", "language": "vi", "segment": "retail", "who": "1"})
    assert actions[1] == FlowFinished("queue", ("start",))


# --- transfer, voicemail, hangup ---
def test_transfer_to_agent_queue_or_number():
    for kind, to in (("agent", "1001"), ("queue", "support"), ("number", "+842838000000")):
        actions = FlowRun(flow({"start": {"type": "transfer", "to": to, "kind": kind}})).start(0)
        assert actions == [Transfer(to, kind), FlowFinished("transfer", ("start",))]


def test_voicemail_without_prompt_records_at_once_and_may_continue():
    nodes = {"start": {"type": "voicemail", "max_s": 30, "email": "boss@demo.example", "next": "bye"}, "bye": BYE}
    run = FlowRun(flow(nodes))
    assert run.start(0) == [RecordVoicemail(30, "", "boss@demo.example")]
    assert kinds(run.on_event(VoicemailRecorded(5), 6)) == ["Hangup", "FlowFinished"]


def test_events_that_do_not_fit_the_node_change_nothing():
    run = FlowRun(flow(HOURS))
    run.start(0)
    for event in (PlayFinished(), Digit("1"), HttpResult(200, {}), QueueAnswered(), SpeechRecognised("x", 1)):
        assert run.on_event(event, 1) == []
    assert run.node_id == "start" and run.on_timer(100) == []


# --- loops ---
def test_step_limit_stops_a_loop_without_input():
    # validation refuses such a flow; the run still guards against one built without it
    looping = Flow.model_validate({"name": "t", "entry": "start", "nodes": {
        "start": {"type": "set", "variables": {"x": 1}, "next": "again"},
        "again": {"type": "language", "language": "en", "next": "start"}}})
    run = FlowRun(looping)
    actions = run.start(0)
    assert actions[-2:] == [Hangup("the call flow loops without waiting for the caller"),
                            FlowFinished("hangup", tuple(run.path))]
    assert len(run.path) == MAX_STEPS


def test_loop_through_menu_runs_with_steps_reset_by_each_event():
    clock = Clock()
    run = FlowRun(flow({"start": {"type": "play", "prompt": "hi", "next": "menu"},
                        "menu": {"type": "menu", "prompt": "m", "choices": {"0": "start", "1": "bye"},
                                 "no_input": "bye"}, "bye": BYE}))
    run.start(clock.now)
    for _ in range(MAX_STEPS + 5):  # round and round, each time with the caller's key
        run.on_event(PlayFinished(), clock.advance(1))
        run.on_event(PlayFinished(), clock.advance(1))
        run.on_event(Digit("0"), clock.advance(1))
    assert not run.finished and run.node_id == "start"


def test_render_fills_placeholders_and_leaves_missing_empty():
    assert render("{a} {b.c} {nope}!", {"a": True, "b": {"c": 3}}) == "true 3 !"


# --- any order of events ---
EVENTS = st.one_of(
    st.just(PlayFinished()), st.sampled_from("0123456789*#").map(Digit), st.text("0123456789#", max_size=6).map(
        DigitsCollected), st.just(DigitsTimeout()), st.just(SpeechNoMatch()),
    st.builds(SpeechRecognised, st.sampled_from(["sales", "support", "weather", ""]), st.floats(0, 1)),
    st.builds(HttpResult, st.sampled_from([200, 404, 500]), st.just({"profile": {"tier": "gold"}})),
    st.just(HttpFailed("x")), st.builds(BusinessHours, st.booleans(), st.booleans()), st.just(QueueAnswered()),
    st.just(VoicemailRecorded(3)), st.floats(0, 400))  # a float: time passes and the timer is due


@settings(max_examples=150, deadline=None)
@given(st.lists(EVENTS, max_size=40), st.sampled_from(["demo", "http"]))
def test_any_sequence_of_events_never_leaves_the_run_stuck_or_acting_after_its_end(events, which):
    clock = Clock()
    run = FlowRun(load(DEMO.read_text()) if which == "demo" else flow(HTTP), variables={"caller": "0901"})
    run.start(clock.now)
    for event in events:
        if isinstance(event, float):
            clock.advance(event)
            actions = run.on_timer(clock.now) if run.next_deadline is not None else []
        else:
            actions = run.on_event(event, clock.advance(0.1))
        assert all(node in run.flow.nodes for node in run.path)
        if any(isinstance(a, FlowFinished) for a in actions):
            assert run.finished and isinstance(actions[-1], FlowFinished)
        if run.finished:
            assert run.next_deadline is None and run.on_event(PlayFinished(), clock.now) == []
        else:  # never stuck: a prompt plays, a timer runs, or the node waits for the session's answer
            assert run._playing or run.next_deadline is not None or run.node.type in {"hours", "enqueue", "voicemail"}
