"""The call-flow interpreter, sans-I/O: events and `now` in, actions out.

    run = FlowRun(flow, now=now)
    actions = run.start(now)                 # e.g. [Say(...)]
    actions = run.on_event(PlayFinished(), now)
    actions = run.on_event(Digit("1"), now)
    actions = run.on_timer(now)              # when `run.deadline` passed (menu or collect timeouts)

The call session carries out the actions (prompts through rtpengine, business hours from the
directory's calendar, the queue through the routing engine) and feeds back what happened. Keys pressed
while a prompt plays interrupt it (barge-in) and count.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tongdai.ivr import flow as f

#: Nodes visited without waiting for the caller before the run gives up (a loop in the flow).
MAX_STEPS = 50


@dataclass(frozen=True)
class Say:
    """Play this text in this language (barge-in: a key stops it)."""

    text: str
    language: str


@dataclass(frozen=True)
class StopSaying:
    """Stop the prompt (the caller pressed a key)."""


@dataclass(frozen=True)
class CheckHours:
    """Tell the run whether `calendar` is open now (answer with `HoursChecked`)."""

    calendar: str


@dataclass(frozen=True)
class Enqueue:
    queue: str
    priority: int
    variables: dict[str, str]


@dataclass(frozen=True)
class TransferTo:
    target: str


@dataclass(frozen=True)
class Hangup:
    reason: str


@dataclass(frozen=True)
class PlayFinished:
    """The prompt ended."""


@dataclass(frozen=True)
class Digit:
    digit: str


@dataclass(frozen=True)
class HoursChecked:
    open: bool


Action = Say | StopSaying | CheckHours | Enqueue | TransferTo | Hangup
Event = PlayFinished | Digit | HoursChecked


@dataclass
class FlowRun:
    """One caller going through one flow."""

    flow: f.Flow
    now: float = 0.0
    variables: dict[str, str] = field(default_factory=dict)
    language: str = ""
    node_id: str = ""
    #: the nodes visited, for the CDR and the agent's screen ("IVR path")
    path: list[str] = field(default_factory=list)
    deadline: float | None = None
    finished: bool = False
    _saying: bool = False
    _tries: int = 0
    _digits: str = ""
    _typeahead: str = ""  # keys pressed during a plain prompt, for the menu that follows

    def __post_init__(self) -> None:
        self.language = self.language or self.flow.language

    def start(self, now: float) -> list[Action]:
        return self._enter(self.flow.entry, now, steps=0)

    def on_event(self, event: Event, now: float) -> list[Action]:
        if self.finished:
            return []
        node = self.flow.nodes[self.node_id]
        if isinstance(event, PlayFinished):
            return self._play_finished(node, now)
        if isinstance(event, Digit):
            return self._digit(node, event.digit, now)
        if isinstance(node, f.Hours):
            return self._enter(node.open if event.open else node.closed, now, steps=0)
        return []

    def on_timer(self, now: float) -> list[Action]:
        """A menu or collect waited long enough for the caller."""
        if self.finished or self.deadline is None or now < self.deadline:
            return []
        self.deadline = None
        node = self.flow.nodes[self.node_id]
        if isinstance(node, f.Collect):
            if len(self._digits) >= node.min_digits:
                return self._collected(node, now)
            return self._enter(node.no_input, now, steps=0)
        if isinstance(node, f.Menu):
            return self._retry(node, now, invalid=False)
        return []

    # --- node by node ---
    def _enter(self, node_id: str, now: float, *, steps: int) -> list[Action]:
        if steps >= MAX_STEPS:
            return self._finish(Hangup("the call flow loops without waiting for the caller"))
        self.node_id, self._tries, self._digits, self.deadline = node_id, 0, "", None
        self.path.append(node_id)
        node = self.flow.nodes[node_id]
        if isinstance(node, f.Menu | f.Collect) and self._typeahead:
            keys, self._typeahead = self._typeahead, ""
            out: list[Action] = []
            for key in keys:  # the caller knew the menu: no need to hear it
                out += self._digit(node, key, now)
                if self.node_id != node_id or self.finished:
                    break
            return out if out or self.node_id != node_id else [self._say(node.prompt)]
        if isinstance(node, f.Play | f.Menu | f.Collect):
            return [self._say(node.prompt)]
        if isinstance(node, f.SetLanguage):
            self.language = node.language
            return self._enter(node.next, now, steps=steps + 1)
        if isinstance(node, f.Hours):
            return [CheckHours(node.calendar)]
        if isinstance(node, f.Enqueue):
            return self._finish(Enqueue(node.queue, node.priority, dict(self.variables)))
        if isinstance(node, f.Transfer):
            return self._finish(TransferTo(node.to))
        return self._finish(Hangup("the call flow ended the call"))

    def _play_finished(self, node: f.Node, now: float) -> list[Action]:
        if not self._saying:
            return []
        self._saying = False
        if isinstance(node, f.Play):
            return self._enter(node.next, now, steps=0)
        if isinstance(node, f.Menu | f.Collect):
            self.deadline = now + node.timeout_s
        return []

    def _digit(self, node: f.Node, digit: str, now: float) -> list[Action]:
        if isinstance(node, f.Play):  # type-ahead: skip the prompt, keep the key for the next menu
            self._typeahead += digit
            if not self._saying:
                return []
            self._saying = False
            return [StopSaying(), *self._enter(node.next, now, steps=0)]
        if isinstance(node, f.Menu):
            out: list[Action] = [StopSaying()] if self._saying else []
            self._saying = False
            target = node.choices.get(digit)
            if target is None:
                return out + self._retry(node, now, invalid=True)
            self.variables["menu." + self.node_id] = digit
            return out + self._enter(target, now, steps=0)
        if isinstance(node, f.Collect):
            out = [StopSaying()] if self._saying else []
            self._saying = False
            if digit == node.terminator and node.terminator:
                return out + (self._collected(node, now) if len(self._digits) >= node.min_digits
                              else self._enter(node.no_input, now, steps=0))
            self._digits += digit
            if len(self._digits) >= node.max_digits:
                return out + self._collected(node, now)
            self.deadline = now + node.timeout_s
            return out
        return []

    def _retry(self, node: f.Menu, now: float, *, invalid: bool) -> list[Action]:
        self._tries += 1
        if self._tries > node.retries:
            return self._enter(node.no_input, now, steps=0)
        self.deadline = None
        prefix = [self._text(node.invalid_prompt)] if invalid else []
        self._saying = True
        return [Say(" ".join([*prefix, self._text(node.prompt)]), self.language)]

    def _collected(self, node: f.Collect, now: float) -> list[Action]:
        self.variables[node.variable] = self._digits
        return self._enter(node.next, now, steps=0)

    def _say(self, prompt: f.Prompt) -> Say:
        self._saying = True
        return Say(self._text(prompt), self.language)

    def _text(self, prompt: f.Prompt) -> str:
        if isinstance(prompt, str):
            return prompt
        return prompt.get(self.language) or prompt.get(self.flow.language) or next(iter(prompt.values()))  # type: ignore[call-overload]

    def _finish(self, action: Action) -> list[Action]:
        self.finished, self.deadline = True, None
        return [action]
