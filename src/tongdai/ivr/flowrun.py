"""The interpreter of the full call-flow model (`model.py`), sans-I/O: events and `now` in, actions out.

    run = FlowRun(flow, variables={"caller": "0901234567"}, now=now)
    actions = run.start(now)                          # e.g. [Play(...)]
    actions = run.on_event(PlayFinished(), now)       # e.g. [CollectDigits(...)]
    actions = run.on_event(Digit("1"), now)           # or DigitsCollected("1"), SpeechRecognised(...)
    actions = run.on_timer(now)                       # once `run.next_deadline` has passed

The call session carries out the actions (prompts, recognition and recording through the media plane,
business hours from the directory's calendar, HTTP requests, the queue through the routing engine) and
feeds back what happened. The run keeps its own deadlines (menu and collect timeouts, HTTP timeouts,
maximum waits in a queue), so a session may pass keys one by one (`Digit`) or collected
(`DigitsCollected`). Keys pressed while a prompt plays interrupt it (barge-in) and count. Nothing here
reads a clock or does I/O; business hours come in as `BusinessHours` or through `is_open`.

The inbound call session (`tongdai.calls.inbound`) runs every caller's flow through this module.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from tongdai.ivr import model as m
from tongdai.routing.expressions import Expression, task_expression

#: Nodes entered without waiting for anything before the run gives up (a loop in the flow).
MAX_STEPS = 50

# ---------------------------------------------------------------- actions


@dataclass(frozen=True)
class Play:
    """Play this text (text-to-speech) or recorded prompt in this language."""

    text: str
    language: str
    barge_in: bool = True
    #: a recorded prompt's id (then `text` is empty)
    prompt_id: str = ""


@dataclass(frozen=True)
class StopPlaying:
    """Stop the prompt (the caller pressed a key)."""


@dataclass(frozen=True)
class CollectDigits:
    """Listen for keys now (send `Digit`s or one `DigitsCollected`); the run keeps the timeouts."""

    min_digits: int
    max_digits: int
    terminators: str
    first_digit_timeout_s: float
    inter_digit_timeout_s: float
    total_timeout_s: float | None = None


@dataclass(frozen=True)
class Recognise:
    """Listen for one of these words (send `SpeechRecognised` or `SpeechNoMatch`)."""

    words: tuple[str, ...]
    language: str
    timeout_s: float


@dataclass(frozen=True)
class CheckHours:
    """Tell the run whether `calendar` is open now (answer with `BusinessHours`)."""

    calendar: str


@dataclass(frozen=True)
class HttpRequest:
    """Send this request (answer with `HttpResult` or `HttpFailed`; after `timeout_s` the run goes on)."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: Mapping[str, Any] | None
    timeout_s: float


@dataclass(frozen=True)
class SetLanguage:
    """The prompts that follow are in this language."""

    language: str


@dataclass(frozen=True)
class Enqueue:
    """Put the caller in this queue; `variables` are the task's routing attributes."""

    queue: str
    priority: int
    variables: dict[str, str]
    max_wait_s: float | None = None
    callback: m.Callback | None = None


@dataclass(frozen=True)
class LeaveQueue:
    """Take the caller out of the queue (`reason`: max_wait or callback)."""

    queue: str
    reason: str


@dataclass(frozen=True)
class RequestCallback:
    """Create a callback task in `queue` for `number`, keeping the caller's place; then hang up."""

    queue: str
    number: str


@dataclass(frozen=True)
class Transfer:
    """Send the call to an agent, a queue or an outside number."""

    target: str
    kind: str = "auto"


@dataclass(frozen=True)
class RecordVoicemail:
    """Record the caller (up to `max_s`) and e-mail it (to `email`, else the queue's address)."""

    max_s: int
    queue: str
    email: str


@dataclass(frozen=True)
class Hangup:
    """End the call."""

    reason: str


@dataclass(frozen=True)
class FlowFinished:
    """The run is over; `outcome` is queue, transfer, hangup, voicemail or callback."""

    outcome: str
    path: tuple[str, ...]


Action = Play | StopPlaying | CollectDigits | Recognise | CheckHours | HttpRequest | SetLanguage | Enqueue \
    | LeaveQueue | RequestCallback | Transfer | RecordVoicemail | Hangup | FlowFinished

# ---------------------------------------------------------------- events


@dataclass(frozen=True)
class PlayFinished:
    """The prompt ended."""


@dataclass(frozen=True)
class Digit:
    """One key (RFC 4733 or in-band)."""

    digit: str


@dataclass(frozen=True)
class DigitsCollected:
    """The keys the session collected."""

    digits: str


@dataclass(frozen=True)
class DigitsTimeout:
    """The session heard no key in time."""


@dataclass(frozen=True)
class SpeechRecognised:
    """The recogniser's best answer and its confidence (0..1)."""

    text: str
    confidence: float


@dataclass(frozen=True)
class SpeechNoMatch:
    """The recogniser heard nothing it knows."""


@dataclass(frozen=True)
class HttpResult:
    """The outside system answered."""

    status: int
    data: Any


@dataclass(frozen=True)
class HttpFailed:
    """The request could not be made or answered."""

    reason: str = ""


@dataclass(frozen=True)
class BusinessHours:
    """The answer to `CheckHours`."""

    open: bool
    holiday: bool = False


@dataclass(frozen=True)
class QueueAnswered:
    """An agent took the call from the queue."""


@dataclass(frozen=True)
class VoicemailRecorded:
    """The message was recorded (and sent)."""

    seconds: float = 0.0


Event = PlayFinished | Digit | DigitsCollected | DigitsTimeout | SpeechRecognised | SpeechNoMatch | HttpResult \
    | HttpFailed | BusinessHours | QueueAnswered | VoicemailRecorded

#: "Is this calendar open now?" answered by the caller of the run: True, False or "holiday".
HoursFunction = Callable[[str], "bool | str"]

_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_.]*)\}")


def luhn_ok(digits: str) -> bool:
    """The Luhn check sum (card and account numbers)."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def lookup(variables: Mapping[str, Any], dotted: str) -> Any:
    """A variable by dotted path (`customer.tier`), None when missing."""
    value: Any = variables
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def render(template: str, variables: Mapping[str, Any], *, url: bool = False) -> str:
    """`{variable}` placeholders filled in (URL-quoted for URLs; missing ones empty)."""
    def one(match: re.Match[str]) -> str:
        value = lookup(variables, match.group(1))
        text = "" if value is None else _text(value)
        return quote(text, safe="") if url else text
    return _PLACEHOLDER.sub(one, template)


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


@dataclass
class FlowRun:
    """One caller going through one flow."""

    flow: m.Flow
    variables: dict[str, Any] = field(default_factory=dict)
    now: float = 0.0
    language: str = ""
    #: "is this calendar open?" answered at once (else the run asks with `CheckHours`)
    is_open: HoursFunction | None = None
    node_id: str = ""
    #: the nodes visited, for the CDR and the agent's screen ("IVR path")
    path: list[str] = field(default_factory=list)
    deadline: float | None = None
    finished: bool = False
    _playing: bool = False
    _tries: int = 0
    _digits: str = ""
    _total_deadline: float | None = None
    _typeahead: str = ""  # keys pressed during a plain prompt, for the menu that follows
    _steps: int = 0
    _conditions: dict[str, list[Expression]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.language = self.language or self.flow.language
        self.variables.setdefault("language", self.language)

    @property
    def next_deadline(self) -> float | None:
        """When `on_timer` must be called next (None: no timer)."""
        return self.deadline

    @property
    def node(self) -> m.AnyNode:
        """The node the caller is at."""
        return self.flow.nodes[self.node_id]

    def start(self, now: float) -> list[Action]:
        """Enter the flow's entry node."""
        return self._enter(self.flow.entry, now)

    def on_event(self, event: Event, now: float) -> list[Action]:
        """What the session saw happen; the actions that follow."""
        if self.finished or not self.node_id:
            return []
        self._steps = 0
        node = self.node
        if isinstance(event, PlayFinished):
            return self._play_finished(node, now)
        if isinstance(event, Digit):
            return self._digit(node, event.digit, now)
        if isinstance(event, DigitsCollected):
            return self._collected_by_session(node, event.digits, now)
        if isinstance(event, DigitsTimeout | SpeechNoMatch):
            return self._silence_or_no_match(node, now, no_match=isinstance(event, SpeechNoMatch))
        if isinstance(event, SpeechRecognised):
            return self._speech(node, event, now)
        if isinstance(event, HttpResult | HttpFailed) and isinstance(node, m.Http):
            return self._http_answer(node, event, now)
        if isinstance(event, BusinessHours) and isinstance(node, m.Hours):
            return self._hours(node, event.open, event.holiday, now)
        if isinstance(event, QueueAnswered) and isinstance(node, m.Enqueue):
            return self._finish(None, "queue")
        if isinstance(event, VoicemailRecorded) and isinstance(node, m.Voicemail):
            if node.next:
                return self._enter(node.next, now)
            return self._finish(Hangup("voicemail recorded"), "voicemail")
        return []

    def on_timer(self, now: float) -> list[Action]:
        """A deadline passed: a menu or collect waited long enough, an HTTP request or a queue took too long."""
        if self.finished or self.deadline is None or now < self.deadline:
            return []
        self.deadline = None
        self._steps = 0
        node = self.node
        if isinstance(node, m.Collect):
            if self._digits and len(self._digits) >= node.min_digits:
                return self._check_digits(node, now)
            return self._retry(node, now, no_match=bool(self._digits))
        if isinstance(node, m.Menu):
            return self._retry(node, now, no_match=False)
        if isinstance(node, m.Http):
            self.variables[node.into] = {"status": 0, "ok": False}
            return self._enter(node.fallback, now)
        if isinstance(node, m.Enqueue) and node.on_max_wait:
            return [LeaveQueue(node.queue, "max_wait"), *self._enter(node.on_max_wait, now)]
        return []

    # --- entering nodes ---
    def _enter(self, node_id: str, now: float) -> list[Action]:
        self._steps += 1
        if self._steps > MAX_STEPS:
            return self._finish(Hangup("the call flow loops without waiting for the caller"), "hangup")
        self.node_id, self._tries, self._digits, self.deadline = node_id, 0, "", None
        self._total_deadline = None
        self.path.append(node_id)
        node = self.node
        if isinstance(node, m.Menu | m.Collect) and self._typeahead:
            return self._replay_typeahead(node, now)
        if isinstance(node, m.Play | m.Menu | m.Collect):
            return [self._play(node.prompt, node.barge_in)]
        return self._enter_other(node, now)

    def _enter_other(self, node: m.AnyNode, now: float) -> list[Action]:
        if isinstance(node, m.SetLanguage):
            self.language = self.variables["language"] = node.language
            return [SetLanguage(node.language), *self._enter(node.next, now)]
        if isinstance(node, m.SetVariables):
            for name, value in node.variables.items():
                self.variables[name] = render(value, self.variables) if isinstance(value, str) else value
            return self._enter(node.next, now)
        if isinstance(node, m.Condition):
            return self._enter(self._branch(node), now)
        if isinstance(node, m.Hours):
            if self.is_open is not None:
                answer = self.is_open(node.calendar)
                return self._hours(node, answer is True, answer == "holiday", now)
            return [CheckHours(node.calendar)]
        if isinstance(node, m.Http):
            self.deadline = now + node.timeout_s
            body = None if node.body is None else _render_json(node.body, self.variables)
            return [HttpRequest(node.method, render(node.url, self.variables, url=True), dict(node.headers), body,
                                node.timeout_s)]
        if isinstance(node, m.Enqueue):
            return self._enqueue(node, now)
        if isinstance(node, m.Transfer):
            return self._finish(Transfer(render(node.to, self.variables), node.kind), "transfer")
        if isinstance(node, m.Voicemail):
            if node.prompt is not None:  # the recording starts once the prompt has been heard
                return [self._play(node.prompt, False)]
            return [RecordVoicemail(node.max_s, node.queue, node.email)]
        return self._finish(Hangup("the call flow ended the call"), "hangup")

    def _enqueue(self, node: m.Enqueue, now: float) -> list[Action]:
        attributes = {k: render(v, self.variables) if isinstance(v, str) else v for k, v in node.attributes.items()}
        flat = {k: _text(v) for k, v in {**self.variables, **attributes}.items()
                if isinstance(v, str | int | float | bool)}
        action = Enqueue(node.queue, node.priority, flat, node.max_wait_s, node.callback)
        if node.max_wait_s is None and node.callback is None:
            return self._finish(action, "queue")
        if node.max_wait_s is not None:  # the run stays with the caller until an agent answers
            self.deadline = now + node.max_wait_s
        return [action]

    def _branch(self, node: m.Condition) -> str:
        compiled = self._conditions.get(self.node_id)
        if compiled is None:
            compiled = self._conditions[self.node_id] = [task_expression(b.when) for b in node.branches]
        for branch, expression in zip(node.branches, compiled, strict=True):
            if expression.matches(self.variables, self.variables):
                return branch.next
        return node.otherwise

    def _hours(self, node: m.Hours, is_open: bool, holiday: bool, now: float) -> list[Action]:
        self.variables["open"] = is_open
        if is_open:
            return self._enter(node.open, now)
        return self._enter(node.holiday if holiday and node.holiday else node.closed, now)

    def _http_answer(self, node: m.Http, event: HttpResult | HttpFailed, now: float) -> list[Action]:
        self.deadline = None
        if isinstance(event, HttpFailed) or not 200 <= event.status < 300:
            self.variables[node.into] = {"status": getattr(event, "status", 0), "ok": False}
            return self._enter(node.fallback, now)
        self.variables[node.into] = event.data
        for name, dotted in node.fields.items():
            self.variables[name] = lookup({"data": event.data}, f"data.{dotted}")
        return self._enter(node.next, now)

    # --- prompts and input ---
    def _play_finished(self, node: m.AnyNode, now: float) -> list[Action]:
        if not self._playing:
            return []
        self._playing = False
        if isinstance(node, m.Play):
            return self._enter(node.next, now)
        if isinstance(node, m.Menu | m.Collect):
            return self._open_input(node, now)
        if isinstance(node, m.Voicemail):
            return [RecordVoicemail(node.max_s, node.queue, node.email)]
        return []

    def _open_input(self, node: m.Menu | m.Collect, now: float) -> list[Action]:
        self.deadline = now + node.timeout_s
        if isinstance(node, m.Collect):
            if node.total_timeout_s is not None:
                self._total_deadline = now + node.total_timeout_s
                self.deadline = min(self.deadline, self._total_deadline)
            return [CollectDigits(node.min_digits, node.max_digits, node.terminator, node.timeout_s,
                                  node.inter_digit_timeout_s or node.timeout_s, node.total_timeout_s)]
        out: list[Action] = []
        if node.choices:
            out.append(CollectDigits(1, 1, "", node.timeout_s, node.timeout_s))
        if node.speech is not None:
            out.append(Recognise(tuple(node.speech.words), self.language, node.timeout_s))
        return out

    def _interrupt(self) -> list[Action]:
        if not self._playing:
            return []
        self._playing = False
        return [StopPlaying()]

    def _digit(self, node: m.AnyNode, digit: str, now: float) -> list[Action]:
        if isinstance(node, m.Play):  # type-ahead: skip the prompt, keep the key for the next menu
            if not node.barge_in or not self._playing:
                return []
            self._typeahead += digit
            return [*self._interrupt(), *self._enter(node.next, now)]
        if isinstance(node, m.Menu | m.Collect):
            if self._playing and not node.barge_in:
                return []  # keys during a prompt that may not be interrupted are dropped
            out = self._interrupt()
            if isinstance(node, m.Collect):
                return out + self._collect_key(node, digit, now)
            target = node.choices.get(digit)
            if target is None:
                return out + self._retry(node, now, no_match=True)
            self.variables["menu." + self.node_id] = digit
            return out + self._enter(target, now)
        if isinstance(node, m.Enqueue) and node.callback is not None and digit == node.callback.key:
            return [LeaveQueue(node.queue, "callback"),
                    *self._finish(RequestCallback(node.queue, str(self.variables.get("caller", ""))), "callback")]
        return []

    def _collect_key(self, node: m.Collect, digit: str, now: float) -> list[Action]:
        if node.terminator and digit in node.terminator:
            if len(self._digits) >= node.min_digits:
                return self._check_digits(node, now)
            return self._retry(node, now, no_match=bool(self._digits))
        self._digits += digit
        if len(self._digits) >= node.max_digits:
            return self._check_digits(node, now)
        self.deadline = now + (node.inter_digit_timeout_s or node.timeout_s)
        if self._total_deadline is not None:
            self.deadline = min(self.deadline, self._total_deadline)
        return []

    def _collected_by_session(self, node: m.AnyNode, digits: str, now: float) -> list[Action]:
        if isinstance(node, m.Menu) and digits:
            return self._digit(node, digits[0], now)
        if isinstance(node, m.Collect) and digits:
            out = self._interrupt()
            self._digits = digits.rstrip(node.terminator) if node.terminator else digits
            if not node.min_digits <= len(self._digits) <= node.max_digits:
                return out + self._retry(node, now, no_match=True)
            return out + self._check_digits(node, now)
        return self._silence_or_no_match(node, now, no_match=False)

    def _silence_or_no_match(self, node: m.AnyNode, now: float, *, no_match: bool) -> list[Action]:
        if isinstance(node, m.Menu | m.Collect):
            return self._interrupt() + self._retry(node, now, no_match=no_match)
        return []

    def _speech(self, node: m.AnyNode, event: SpeechRecognised, now: float) -> list[Action]:
        if not isinstance(node, m.Menu) or node.speech is None:
            return []
        out = self._interrupt()
        heard = event.text.strip().lower()
        words = {w.strip().lower(): target for w, target in node.speech.words.items()}
        target = words.get(heard) or next((t for w, t in words.items() if w in heard.split()), None)
        if target is None or event.confidence < node.speech.confidence:
            return out + self._retry(node, now, no_match=True)
        self.variables["speech." + self.node_id] = heard
        return out + self._enter(target, now)

    def _check_digits(self, node: m.Collect, now: float) -> list[Action]:
        digits, rule = self._digits, node.validate_
        valid = rule is None or ((rule.pattern is None or re.fullmatch(rule.pattern, digits) is not None)
                                 and (not rule.luhn or luhn_ok(digits)))
        if not valid:
            return self._retry(node, now, no_match=True)
        self.variables[node.variable] = digits
        return self._enter(node.next, now)

    def _retry(self, node: m.Menu | m.Collect, now: float, *, no_match: bool) -> list[Action]:
        """Ask again (after the no-match or no-input prompt), or leave once the retries are used up."""
        self._tries += 1
        self._digits, self.deadline, self._total_deadline = "", None, None
        if self._tries > node.retries:
            if no_match:
                other = node.no_match if isinstance(node, m.Menu) else node.invalid
                return self._enter(other or node.no_input, now)
            return self._enter(node.no_input, now)
        before = node.invalid_prompt if no_match else node.no_input_prompt
        prefix = self._prompt_text(before) if before is not None else ""
        play = self._play(node.prompt, node.barge_in)
        if prefix and not play.prompt_id:
            play = Play(f"{prefix} {play.text}", play.language, play.barge_in)
        return [play]

    def _replay_typeahead(self, node: m.Menu | m.Collect, now: float) -> list[Action]:
        keys, self._typeahead = self._typeahead, ""
        node_id = self.node_id
        out: list[Action] = []
        for key in keys:  # the caller knew the menu: no need to hear it
            out += self._digit(node, key, now)
            if self.node_id != node_id or self.finished:
                return out
        if isinstance(node, m.Collect) and self._digits:
            return out  # part of a number typed ahead: wait for the rest
        return out or [self._play(node.prompt, node.barge_in)]

    def _play(self, prompt: m.Prompt, barge_in: bool) -> Play:
        self._playing = True
        chosen = self._localised(prompt)
        if isinstance(chosen, m.Recording):
            return Play("", self.language, barge_in, chosen.recording)
        return Play(render(chosen, self.variables), self.language, barge_in)

    def text(self, prompt: m.Prompt) -> str:
        """A prompt's text in the caller's language, placeholders filled ("" for a recorded prompt)."""
        return self._prompt_text(prompt)

    def _prompt_text(self, prompt: m.Prompt) -> str:
        chosen = self._localised(prompt)
        return "" if isinstance(chosen, m.Recording) else render(chosen, self.variables)

    def _localised(self, prompt: m.Prompt) -> str | m.Recording:
        if isinstance(prompt, str | m.Recording):
            return prompt
        texts: dict[str, str | m.Recording] = {str(k): v for k, v in prompt.items()}
        return texts.get(self.language) or texts.get(self.flow.language) or next(iter(texts.values()))

    def _finish(self, action: Action | None, outcome: str) -> list[Action]:
        self.finished, self.deadline = True, None
        done = FlowFinished(outcome, tuple(self.path))
        return [action, done] if action is not None else [done]


def _render_json(value: Any, variables: Mapping[str, Any]) -> Any:
    """A JSON body with `{variable}` placeholders filled in its strings."""
    if isinstance(value, str):
        return render(value, variables)
    if isinstance(value, dict):
        return {k: _render_json(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_json(v, variables) for v in value]
    return value

