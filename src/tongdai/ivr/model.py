"""The call-flow document a tenant writes in YAML or JSON: pydantic models and their JSON Schema.

A flow has a name, a version, a default language (`language`), the languages its prompts cover
(`languages`), an entry node and nodes keyed by id. Every node names the node(s) that follow; see
docs/call-flows.md for each type with an example. Checks beyond the schema (targets, reachability,
loops, prompt languages, expressions) are in `validate.py`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Language = Literal["vi", "en", "zh"]
LANGUAGES: tuple[Language, ...] = ("vi", "en", "zh")
DEFAULT_LANGUAGES: tuple[Language, ...] = ("vi", "en")
NodeId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
Variable = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z_][a-z0-9_]*$")]
Scalar = str | int | float | bool


class Recording(BaseModel):
    """A recorded prompt (an uploaded sound, by id) instead of text-to-speech."""

    model_config = ConfigDict(extra="forbid")
    recording: str = Field(min_length=1, max_length=100)


#: A prompt: text to speak per language (`{vi: "...", en: "..."}`), one text for every language, or a
#: recorded prompt (`{recording: id}`), per language too. Text may use `{variable}` placeholders.
Prompt = Recording | dict[Language, str | Recording] | str


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Play(_Node):
    """Say something (text-to-speech or a recording), then go on; a key stops it when `barge_in`."""

    type: Literal["play"]
    prompt: Prompt
    barge_in: bool = True
    next: NodeId


class Speech(BaseModel):
    """Spoken choices of a menu: the words of a closed grammar, each leading to a node."""

    model_config = ConfigDict(extra="forbid")
    words: dict[Annotated[str, Field(min_length=1, max_length=40)], NodeId] = Field(min_length=1)
    #: below this the recogniser's answer counts as no match (the caller is asked again)
    confidence: float = Field(0.5, ge=0, le=1)


class Menu(_Node):
    """Say the choices and wait for one key (or word); silence and wrong answers are retried, then
    `no_input` / `no_match`."""

    type: Literal["menu"]
    prompt: Prompt
    choices: dict[Annotated[str, Field(pattern=r"^[0-9*#]$")], NodeId] = Field(default_factory=dict)
    speech: Speech | None = None
    barge_in: bool = True
    timeout_s: float = Field(5.0, gt=0, le=60)
    retries: int = Field(2, ge=0, le=10)
    #: said before the menu again after a wrong key or word (the no-match prompt)
    invalid_prompt: Prompt = {"vi": "Lựa chọn không hợp lệ.", "en": "That is not a valid choice.",
                              "zh": "选择无效。"}
    #: said before the menu again after silence
    no_input_prompt: Prompt | None = None
    no_input: NodeId
    #: where wrong answers lead once the retries are used up (default: `no_input`)
    no_match: NodeId | None = None

    @model_validator(mode="after")
    def _some_choice(self) -> Menu:
        if not self.choices and self.speech is None:
            raise ValueError("a menu needs choices (keys) or speech words")
        return self


class Validation(BaseModel):
    """How collected digits are checked: a regular expression (whole match) and/or the Luhn sum."""

    model_config = ConfigDict(extra="forbid")
    pattern: str | None = Field(None, max_length=200)
    luhn: bool = False


class Collect(_Node):
    """Collect digits (e.g. a customer number) into a variable."""

    type: Literal["collect"]
    prompt: Prompt
    variable: Variable
    min_digits: int = Field(1, ge=1, le=32)
    max_digits: int = Field(16, ge=1, le=32)
    #: keys that end the input (not stored); "" for none
    terminator: str = Field("#", pattern=r"^[*#]{0,2}$")
    barge_in: bool = True
    #: the wait for the first key after the prompt
    timeout_s: float = Field(8.0, gt=0, le=60)
    #: the wait between keys (default: `timeout_s`)
    inter_digit_timeout_s: float | None = Field(None, gt=0, le=60)
    #: the longest the whole input may take after the prompt
    total_timeout_s: float | None = Field(None, gt=0, le=300)
    validate_: Validation | None = Field(None, alias="validate")
    retries: int = Field(0, ge=0, le=10)
    invalid_prompt: Prompt = {"vi": "Số không hợp lệ.", "en": "That number is not valid.", "zh": "号码无效。"}
    no_input_prompt: Prompt | None = None
    next: NodeId
    no_input: NodeId
    #: where invalid input leads once the retries are used up (default: `no_input`)
    invalid: NodeId | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _bounds(self) -> Collect:
        if self.min_digits > self.max_digits:
            raise ValueError("min_digits is larger than max_digits")
        return self


class SetLanguage(_Node):
    """Switch the language of the prompts that follow."""

    type: Literal["language"]
    language: Language
    next: NodeId


class Hours(_Node):
    """Branch on the business hours of a directory calendar (its name or id)."""

    type: Literal["hours"]
    calendar: str = Field(min_length=1, max_length=100)
    open: NodeId
    closed: NodeId
    #: where a holiday leads (default: `closed`)
    holiday: NodeId | None = None


class Branch(BaseModel):
    """One branch of a condition: the first whose expression holds is taken."""

    model_config = ConfigDict(extra="forbid")
    when: str = Field(min_length=1, max_length=500)
    next: NodeId


class Condition(_Node):
    """Branch on call variables with the routing expression language (`vip == true AND language == 'vi'`)."""

    type: Literal["condition"]
    branches: list[Branch] = Field(min_length=1, max_length=20)
    otherwise: NodeId


class SetVariables(_Node):
    """Assign call variables (they become routing attributes at `enqueue`); strings may use `{variable}`."""

    type: Literal["set"]
    variables: dict[Variable, Scalar] = Field(min_length=1)
    next: NodeId


class Http(_Node):
    """Ask an outside system (e.g. a CRM): the JSON answer is stored in `into`; failure, a non-2xx status
    or no answer within `timeout_s` leads to `fallback`."""

    type: Literal["http"]
    url: str = Field(min_length=1, max_length=2000, pattern=r"^https?://")
    method: Literal["GET", "POST"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    #: a JSON body for POST; string values may use `{variable}`
    body: dict[str, Any] | None = None
    timeout_s: float = Field(3.0, gt=0, le=30)
    into: Variable = "http"
    #: variables taken from the answer: name -> dotted path in the JSON (`customer.tier`)
    fields: dict[Variable, str] = Field(default_factory=dict)
    next: NodeId
    fallback: NodeId


class Callback(BaseModel):
    """Offer a waiting caller to be called back (keeping their place in line)."""

    model_config = ConfigDict(extra="forbid")
    key: str = Field("1", pattern=r"^[0-9*#]$")
    prompt: Prompt = {"vi": "Bấm phím 1 để được gọi lại.", "en": "Press 1 to be called back.",
                      "zh": "按1键回电。"}
    every_s: float = Field(60.0, gt=0, le=3600)


class Enqueue(_Node):
    """Wait in a queue for an agent; after `max_wait_s` the caller goes on to `on_max_wait`."""

    type: Literal["enqueue"]
    queue: str = Field(min_length=1, max_length=64)
    priority: int = Field(0, ge=0, le=100)
    attributes: dict[Variable, Scalar] = Field(default_factory=dict)
    max_wait_s: float | None = Field(None, gt=0, le=86400)
    on_max_wait: NodeId | None = None
    callback: Callback | None = None

    @model_validator(mode="after")
    def _max_wait_pair(self) -> Enqueue:
        if (self.max_wait_s is None) != (self.on_max_wait is None):
            raise ValueError("max_wait_s and on_max_wait go together")
        return self


class Transfer(_Node):
    """Send the call to an agent (extension), a queue or an outside number (the end of the flow)."""

    type: Literal["transfer"]
    to: str = Field(min_length=1, max_length=64)
    kind: Literal["agent", "queue", "number", "auto"] = "auto"


class Voicemail(_Node):
    """Record a message (up to `max_s`), e-mailed to the queue's address (or `email`)."""

    type: Literal["voicemail"]
    prompt: Prompt | None = None
    max_s: int = Field(120, ge=5, le=600)
    queue: str = Field("", max_length=64)
    email: str = Field("", max_length=200)
    #: after the recording (default: hang up)
    next: NodeId | None = None


class Hangup(_Node):
    """End the call."""

    type: Literal["hangup"]


AnyNode = Play | Menu | Collect | SetLanguage | Hours | Condition | SetVariables | Http | Enqueue | Transfer \
    | Voicemail | Hangup
Node = Annotated[AnyNode, Field(discriminator="type")]
NODE_TYPES = {"play", "menu", "collect", "language", "hours", "condition", "set", "http", "enqueue", "transfer",
              "voicemail", "hangup"}
#: Nodes that wait for the caller (or an agent): a loop in the flow must pass through one.
WAITING_TYPES = {"menu", "collect", "voicemail", "enqueue"}


class Flow(BaseModel):
    """A call flow."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    version: int = Field(1, ge=1)
    description: str = Field("", max_length=500)
    #: the language prompts start in
    language: Language = "vi"
    #: the languages every prompt must have a text for
    languages: list[Language] = Field(default_factory=lambda: list(DEFAULT_LANGUAGES), min_length=1)
    entry: NodeId
    nodes: dict[NodeId, Node] = Field(min_length=1)


def targets(node: AnyNode) -> dict[str, str]:
    """The nodes a node can lead to, by field path (`choices.3`, `speech.words.sales`, ...)."""
    out: dict[str, str] = {}
    for name in ("next", "no_input", "no_match", "invalid", "open", "closed", "holiday", "otherwise", "fallback",
                 "on_max_wait"):
        value = getattr(node, name, None)
        if isinstance(value, str):
            out[name] = value
    if isinstance(node, Menu):
        out.update({f"choices.{key}": value for key, value in node.choices.items()})
        if node.speech is not None:
            out.update({f"speech.words.{word}": value for word, value in node.speech.words.items()})
    if isinstance(node, Condition):
        out.update({f"branches.{i}.next": b.next for i, b in enumerate(node.branches)})
    return out


def prompts(node: AnyNode) -> dict[str, Prompt]:
    """The prompts of a node, by field path."""
    out = {name: getattr(node, name) for name in ("prompt", "invalid_prompt", "no_input_prompt")
           if getattr(node, name, None) is not None}
    if isinstance(node, Enqueue) and node.callback is not None:
        out["callback.prompt"] = node.callback.prompt
    return out


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a flow document (for editors and the API)."""
    schema = Flow.model_json_schema(by_alias=True)
    schema["$id"] = "https://tongdai.example/schemas/call-flow.json"
    return schema
