"""The routing expression language: a tokenizer, a recursive-descent parser, a type checker and a
compiler to closures (never `eval`).

    skills.sales >= 5 AND languages HAS 'vi' AND task.vip == true

Grammar (keywords are case-insensitive):

    expr    := or
    or      := and ("OR" and)*
    and     := not ("AND" not)*
    not     := "NOT" not | cmp
    cmp     := operand (("==" | "!=" | ">" | ">=" | "<" | "<=" | "HAS" | "IN" | "NOT IN") operand)?
    operand := NUMBER | STRING | "true" | "false" | "null" | path | "[" literals "]" | "(" expr ")"
    path    := NAME ("." NAME)*

A path names an attribute of the subject (a worker in queue targets, a task in workflow filters);
`task.x` names a task attribute from a worker expression, `worker.x` a worker attribute explicitly.
A missing attribute is null: every comparison with null is false except `== null` and `!= null`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

from tongdai.core.errors import InvalidInput


class ExpressionError(InvalidInput):
    """An expression that does not parse or does not type-check; `position` is a 0-based offset."""

    error_id = "invalid_expression"

    def __init__(self, message: str, source: str, position: int) -> None:
        self.source = source
        self.position = position
        pointer = f"{source}\n{' ' * position}^"
        super().__init__(f"{message} at position {position}", details={
            "expression": source, "position": position, "reason": message, "pointer": pointer})


# ---------------------------------------------------------------- tokens

@dataclasses.dataclass(frozen=True, slots=True)
class Token:
    kind: str
    """NUMBER, STRING, NAME, OP, KEYWORD, PUNCT or END."""
    value: Any
    pos: int


KEYWORDS = {"and", "or", "not", "has", "in", "true", "false", "null"}
_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<name>[A-Za-z_][A-Za-z0-9_\-]*)
  | (?P<op>==|!=|>=|<=|>|<|&&|\|\|)
  | (?P<punct>[().\[\],])
""", re.VERBOSE)
_ALIASES = {"&&": "and", "||": "or"}


def tokenize(source: str) -> list[Token]:
    """Split an expression into tokens; raises ExpressionError at the first character it cannot read."""
    out: list[Token] = []
    pos = 0
    while pos < len(source):
        m = _TOKEN.match(source, pos)
        if m is None:
            if source[pos] in "'\"":
                raise ExpressionError("unterminated string", source, pos)
            raise ExpressionError(f"unexpected character {source[pos]!r}", source, pos)
        kind = m.lastgroup or ""
        text = m.group()
        if kind == "number":
            out.append(Token("NUMBER", float(text) if "." in text else int(text), pos))
        elif kind == "string":
            out.append(Token("STRING", re.sub(r"\\(.)", r"\1", text[1:-1]), pos))
        elif kind == "name":
            low = text.lower()
            out.append(Token("KEYWORD", low, pos) if low in KEYWORDS else Token("NAME", text, pos))
        elif kind == "op":
            out.append(Token("KEYWORD", _ALIASES[text], pos) if text in _ALIASES else Token("OP", text, pos))
        elif kind == "punct":
            out.append(Token("PUNCT", text, pos))
        pos = m.end()
    out.append(Token("END", None, len(source)))
    return out


# ---------------------------------------------------------------- syntax tree

@dataclasses.dataclass(frozen=True, slots=True)
class Literal:
    value: Any
    pos: int


@dataclasses.dataclass(frozen=True, slots=True)
class ListLit:
    items: tuple[Any, ...]
    pos: int


@dataclasses.dataclass(frozen=True, slots=True)
class Path:
    scope: str
    """"self" (the subject), "task" or "worker"."""
    parts: tuple[str, ...]
    pos: int

    @property
    def text(self) -> str:
        prefix = "" if self.scope == "self" else self.scope + "."
        return prefix + ".".join(self.parts)


@dataclasses.dataclass(frozen=True, slots=True)
class Compare:
    op: str
    left: Node
    right: Node
    pos: int


@dataclasses.dataclass(frozen=True, slots=True)
class BoolOp:
    op: str
    """"and" or "or"."""
    items: tuple[Node, ...]
    pos: int


@dataclasses.dataclass(frozen=True, slots=True)
class Not:
    item: Node
    pos: int


@dataclasses.dataclass(frozen=True, slots=True)
class Always:
    """The empty expression: true for everyone."""

    pos: int = 0


Node = Literal | ListLit | Path | Compare | BoolOp | Not | Always
COMPARE_OPS = {"==", "!=", ">", ">=", "<", "<=", "has", "in", "not in"}


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.i = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def error(self, message: str, tok: Token | None = None) -> ExpressionError:
        return ExpressionError(message, self.source, (tok or self.peek()).pos)

    def is_kw(self, word: str) -> bool:
        tok = self.peek()
        return tok.kind == "KEYWORD" and tok.value == word

    def parse(self) -> Node:
        if self.peek().kind == "END":
            return Always()
        node = self.parse_or()
        if self.peek().kind != "END":
            raise self.error(f"unexpected {_describe(self.peek())}; expected AND, OR or the end")
        return node

    def parse_or(self) -> Node:
        return self._chain("or", self.parse_and)

    def parse_and(self) -> Node:
        return self._chain("and", self.parse_not)

    def _chain(self, word: str, sub: Callable[[], Node]) -> Node:
        first = self.peek().pos
        items = [sub()]
        while self.is_kw(word):
            self.take()
            items.append(sub())
        return items[0] if len(items) == 1 else BoolOp(word, tuple(items), first)

    def parse_not(self) -> Node:
        if self.is_kw("not"):
            tok = self.take()
            return Not(self.parse_not(), tok.pos)
        return self.parse_cmp()

    def parse_cmp(self) -> Node:
        left = self.parse_operand()
        tok = self.peek()
        op: str | None = None
        if tok.kind == "OP" or tok.kind == "KEYWORD" and tok.value in ("has", "in"):
            op = tok.value
        elif tok.kind == "KEYWORD" and tok.value == "not" and self._next_is_in():
            self.take()
            op = "not in"
        if op is None:
            return left
        self.take()
        right = self.parse_operand()
        return Compare(op, left, right, tok.pos)

    def _next_is_in(self) -> bool:
        nxt = self.tokens[self.i + 1]
        return nxt.kind == "KEYWORD" and nxt.value == "in"

    def parse_operand(self) -> Node:
        tok = self.take()
        if tok.kind in ("NUMBER", "STRING"):
            return Literal(tok.value, tok.pos)
        if tok.kind == "KEYWORD" and tok.value in ("true", "false", "null"):
            return Literal({"true": True, "false": False, "null": None}[tok.value], tok.pos)
        if tok.kind == "NAME":
            return self.parse_path(tok)
        if tok.kind == "PUNCT" and tok.value == "(":
            node = self.parse_or()
            if not (self.peek().kind == "PUNCT" and self.peek().value == ")"):
                raise self.error(f"expected ')' but found {_describe(self.peek())}")
            self.take()
            return node
        if tok.kind == "PUNCT" and tok.value == "[":
            return self.parse_list(tok)
        raise self.error(f"expected a value, an attribute or '(' but found {_describe(tok)}", tok)

    def parse_path(self, first: Token) -> Path:
        parts = [first.value]
        while self.peek().kind == "PUNCT" and self.peek().value == ".":
            self.take()
            nxt = self.take()
            if nxt.kind not in ("NAME", "KEYWORD"):
                raise self.error(f"expected an attribute name after '.' but found {_describe(nxt)}", nxt)
            # a keyword after '.' is a plain name there (skills.IN): keep its original spelling
            parts.append(str(nxt.value) if nxt.kind == "NAME" else self.source[nxt.pos:nxt.pos + len(nxt.value)])
        scope = "self"
        if parts[0] in ("task", "worker") and len(parts) > 1:
            scope = parts.pop(0)
        return Path(scope, tuple(parts), first.pos)

    def parse_list(self, open_tok: Token) -> ListLit:
        items: list[Any] = []
        while not (self.peek().kind == "PUNCT" and self.peek().value == "]"):
            tok = self.take()
            if tok.kind not in ("NUMBER", "STRING"):
                raise self.error(f"a list holds numbers or strings, not {_describe(tok)}", tok)
            items.append(tok.value)
            if self.peek().kind == "PUNCT" and self.peek().value == ",":
                self.take()
            elif not (self.peek().kind == "PUNCT" and self.peek().value == "]"):
                raise self.error(f"expected ',' or ']' but found {_describe(self.peek())}")
        self.take()
        return ListLit(tuple(items), open_tok.pos)


def _describe(tok: Token) -> str:
    if tok.kind == "END":
        return "the end of the expression"
    return f"{tok.value!r}"


def parse(source: str) -> Node:
    """Parse an expression into its syntax tree; the empty expression is always true."""
    return _Parser(source).parse()


# ---------------------------------------------------------------- types

class T(StrEnum):
    """Types of the expression language."""

    NUMBER = "number"
    STRING = "string"
    BOOL = "bool"
    LIST = "list"
    MAP = "map"
    NULL = "null"
    ANY = "any"


@dataclasses.dataclass(frozen=True)
class Schema:
    """The attributes an expression may use and their types.

    `fields` maps a first path segment to its type; `maps` gives the value type inside a MAP
    (e.g. skills -> number). `open` scopes accept unknown names as ANY.
    """

    fields: Mapping[str, T]
    maps: Mapping[str, T] = dataclasses.field(default_factory=dict)
    open: bool = False

    def type_of(self, parts: tuple[str, ...]) -> T | None:
        head = parts[0]
        if head not in self.fields:
            return T.ANY if self.open else None
        t = self.fields[head]
        if len(parts) == 1:
            return t
        if t == T.MAP and len(parts) == 2:
            return self.maps.get(head, T.ANY)
        if t == T.MAP and head in self.maps:
            return None  # skills.sales is a number: nothing lies below it
        return T.ANY if t in (T.ANY, T.MAP) else None


#: What a worker exposes (agents: skills with levels, languages, site, team, ...); other names are
#: free-form attributes.
WORKER_SCHEMA = Schema(
    fields={"id": T.STRING, "skills": T.MAP, "languages": T.LIST, "site": T.STRING, "team": T.STRING,
            "name": T.STRING, "weight": T.NUMBER, "channels": T.LIST},
    maps={"skills": T.NUMBER}, open=True)
#: Task attributes are whatever the channel or the IVR set; priority and channel are always there.
TASK_SCHEMA = Schema(fields={"priority": T.NUMBER, "channel": T.STRING}, open=True)


@dataclasses.dataclass(frozen=True)
class Scopes:
    """Which schema each path scope refers to; None forbids the scope."""

    self_: Schema | None
    task: Schema | None
    worker: Schema | None


QUEUE_SCOPES = Scopes(self_=WORKER_SCHEMA, task=None, worker=WORKER_SCHEMA)
TARGET_SCOPES = Scopes(self_=WORKER_SCHEMA, task=TASK_SCHEMA, worker=WORKER_SCHEMA)
FILTER_SCOPES = Scopes(self_=TASK_SCHEMA, task=TASK_SCHEMA, worker=None)

_ORDERED = {T.NUMBER, T.STRING, T.ANY}


def _literal_type(value: Any) -> T:
    if value is None:
        return T.NULL
    if isinstance(value, bool):
        return T.BOOL
    if isinstance(value, int | float):
        return T.NUMBER
    return T.STRING


class _Checker:
    def __init__(self, source: str, scopes: Scopes) -> None:
        self.source = source
        self.scopes = scopes

    def fail(self, message: str, pos: int) -> ExpressionError:
        return ExpressionError(message, self.source, pos)

    def type_of(self, node: Node) -> T:
        if isinstance(node, Always):
            return T.BOOL
        if isinstance(node, Literal):
            return _literal_type(node.value)
        if isinstance(node, ListLit):
            return T.LIST
        if isinstance(node, Path):
            return self.path_type(node)
        if isinstance(node, Not):
            self.want_bool(node.item)
            return T.BOOL
        if isinstance(node, BoolOp):
            for item in node.items:
                self.want_bool(item)
            return T.BOOL
        self.check_compare(node)
        return T.BOOL

    def path_type(self, node: Path) -> T:
        schema = {"self": self.scopes.self_, "task": self.scopes.task, "worker": self.scopes.worker}[node.scope]
        if schema is None:
            where = "task" if node.scope == "task" else "worker"
            raise self.fail(f"'{node.scope}.' attributes cannot be used here (no {where} in this context)",
                            node.pos)
        t = schema.type_of(node.parts)
        if t is None:
            raise self.fail(f"unknown attribute {node.text!r}", node.pos)
        return t

    def want_bool(self, node: Node) -> None:
        t = self.type_of(node)
        if t not in (T.BOOL, T.ANY):
            raise self.fail(f"expected a condition (true/false) but this is a {t}", node.pos)

    def check_compare(self, node: Compare) -> None:
        lt, rt = self.type_of(node.left), self.type_of(node.right)
        if node.op == "has":
            if lt not in (T.LIST, T.MAP, T.ANY):
                raise self.fail(f"HAS needs a list or a map on its left, not a {lt}", node.left.pos)
            if rt not in (T.STRING, T.NUMBER, T.ANY):
                raise self.fail(f"HAS looks for a string or a number, not a {rt}", node.right.pos)
        elif node.op in ("in", "not in"):
            if rt not in (T.LIST, T.MAP, T.ANY):
                raise self.fail(f"{node.op.upper()} needs a list on its right, not a {rt}", node.right.pos)
        elif node.op in ("==", "!="):
            if T.ANY not in (lt, rt) and T.NULL not in (lt, rt) and lt != rt:
                raise self.fail(f"cannot compare a {lt} with a {rt}", node.pos)
        else:
            for side, t in ((node.left, lt), (node.right, rt)):
                if t not in _ORDERED:
                    raise self.fail(f"{node.op} compares numbers or strings, not a {t}", side.pos)
            if T.ANY not in (lt, rt) and lt != rt:
                raise self.fail(f"cannot compare a {lt} with a {rt}", node.pos)


def check(source: str, scopes: Scopes) -> Node:
    """Parse and type-check; raises ExpressionError pointing at the offending position."""
    node = parse(source)
    _Checker(source, scopes).want_bool(node)
    return node


# ---------------------------------------------------------------- evaluation

Getter = Callable[[Mapping[str, Any], Mapping[str, Any]], Any]
Predicate = Callable[[Mapping[str, Any], Mapping[str, Any]], bool]
_MISSING = None


def _getter(node: Node, subject_is_worker: bool) -> Getter:
    """A function (worker_attrs, task_attrs) -> value for an operand."""
    if isinstance(node, Literal):
        value = node.value
        return lambda w, t: value
    if isinstance(node, ListLit):
        items = frozenset(node.items)
        return lambda w, t: items
    if isinstance(node, Path):
        on_worker = node.scope == "worker" or (node.scope == "self" and subject_is_worker)
        return _path_getter(node.parts, on_worker)
    pred = _compile(node, subject_is_worker)
    return lambda w, t: pred(w, t)


def _path_getter(parts: tuple[str, ...], on_worker: bool) -> Getter:
    if len(parts) == 1:
        (a,) = parts
        return (lambda w, t: w.get(a)) if on_worker else (lambda w, t: t.get(a))
    if len(parts) == 2:
        a, b = parts

        def two(w: Mapping[str, Any], t: Mapping[str, Any]) -> Any:
            inner = (w if on_worker else t).get(a)
            return inner.get(b) if isinstance(inner, Mapping) else _MISSING
        return two

    def deep(w: Mapping[str, Any], t: Mapping[str, Any]) -> Any:
        cur: Any = w if on_worker else t
        for p in parts:
            if not isinstance(cur, Mapping):
                return _MISSING
            cur = cur.get(p)
        return cur
    return deep


def _ordered(op: str) -> Callable[[Any, Any], bool]:
    import operator

    fn: Callable[[Any, Any], bool] = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}[op]

    def cmp(a: Any, b: Any) -> bool:
        if a is None or b is None or isinstance(a, bool) or isinstance(b, bool):
            return False
        try:
            return fn(a, b)
        except TypeError:
            return False
    return cmp


def _contains(container: Any, item: Any) -> bool:
    if isinstance(container, (list, tuple, set, frozenset, dict)):
        try:
            return item in container
        except TypeError:
            return False
    return False


def _compile_compare(node: Compare, subject_is_worker: bool) -> Predicate:
    left, right = _getter(node.left, subject_is_worker), _getter(node.right, subject_is_worker)
    op = node.op
    if op == "==":
        return lambda w, t: bool(left(w, t) == right(w, t))
    if op == "!=":
        return lambda w, t: bool(left(w, t) != right(w, t))
    if op == "has":
        return lambda w, t: _contains(left(w, t), right(w, t))
    if op == "in":
        return lambda w, t: _contains(right(w, t), left(w, t))
    if op == "not in":
        return lambda w, t: not _contains(right(w, t), left(w, t))
    cmp = _ordered(op)
    return lambda w, t: cmp(left(w, t), right(w, t))


def _pair(op: str, a: Predicate, b: Predicate) -> Predicate:
    # nested closures beat all()/any() over a generator on the hot path
    if op == "and":
        return lambda w, t: a(w, t) and b(w, t)
    return lambda w, t: a(w, t) or b(w, t)


def _compile(node: Node, subject_is_worker: bool) -> Predicate:
    if isinstance(node, Always):
        return lambda w, t: True
    if isinstance(node, Compare):
        return _compile_compare(node, subject_is_worker)
    if isinstance(node, Not):
        inner = _compile(node.item, subject_is_worker)
        return lambda w, t: not inner(w, t)
    if isinstance(node, BoolOp):
        parts = [_compile(i, subject_is_worker) for i in node.items]
        combined = parts[0]
        for nxt in parts[1:]:
            combined = _pair(node.op, combined, nxt)
        return combined
    get = _getter(node, subject_is_worker)
    return lambda w, t: get(w, t) is True


@dataclasses.dataclass(frozen=True)
class Expression:
    """A checked, compiled expression: `matches(worker_attrs, task_attrs)`."""

    source: str
    tree: Node
    matches: Predicate
    subject_is_worker: bool

    @property
    def always(self) -> bool:
        return isinstance(self.tree, Always)

    def uses_task(self) -> bool:
        """Does the result depend on the task (so it cannot be precomputed per worker)?"""
        return _uses_scope(self.tree, "task") or (not self.subject_is_worker and not self.always)

    def first_skill(self) -> str | None:
        """The first `skills.X` the expression tests (the default skill of skill-ordered strategies)."""
        return _first_skill(self.tree)

    def why_false(self, worker: Mapping[str, Any], task: Mapping[str, Any]) -> tuple[str, str]:
        """(reason code, text) for a false result: skill_missing, skill_too_low or expression_false."""
        leaf = _failing_leaf(self.tree, worker, task, self.subject_is_worker)
        if leaf is None:
            return "expression_false", self.source
        return _classify(leaf, worker, task, self.subject_is_worker)


def compile_expression(source: str, scopes: Scopes) -> Expression:
    """Check and compile an expression for the given scopes."""
    tree = check(source, scopes)
    is_worker = scopes.self_ is WORKER_SCHEMA
    return Expression(source, tree, _compile(tree, is_worker), is_worker)


def worker_expression(source: str, *, allow_task: bool = False) -> Expression:
    """An expression selecting workers (queue target; with task references for workflow targets)."""
    return compile_expression(source, TARGET_SCOPES if allow_task else QUEUE_SCOPES)


def task_expression(source: str) -> Expression:
    """An expression on task attributes (workflow filters)."""
    return compile_expression(source, FILTER_SCOPES)


def _uses_scope(node: Node, scope: str) -> bool:
    if isinstance(node, Path):
        return node.scope == scope
    if isinstance(node, Compare):
        return _uses_scope(node.left, scope) or _uses_scope(node.right, scope)
    if isinstance(node, Not):
        return _uses_scope(node.item, scope)
    if isinstance(node, BoolOp):
        return any(_uses_scope(i, scope) for i in node.items)
    return False


def _first_skill(node: Node) -> str | None:
    if isinstance(node, Path) and node.scope != "task" and len(node.parts) == 2 and node.parts[0] == "skills":
        return node.parts[1]
    children: tuple[Node, ...] = ()
    if isinstance(node, Compare):
        children = (node.left, node.right)
    elif isinstance(node, Not):
        children = (node.item,)
    elif isinstance(node, BoolOp):
        children = node.items
    for c in children:
        found = _first_skill(c)
        if found:
            return found
    return None


def _failing_leaf(node: Node, w: Mapping[str, Any], t: Mapping[str, Any], sw: bool) -> Node | None:
    """The comparison that makes the expression false (explain path only, not the hot path)."""
    if _compile(node, sw)(w, t):
        return None
    if isinstance(node, BoolOp) and node.op == "and":
        for item in node.items:
            leaf = _failing_leaf(item, w, t, sw)
            if leaf is not None:
                return leaf
    return node


def _classify(leaf: Node, w: Mapping[str, Any], t: Mapping[str, Any], sw: bool) -> tuple[str, str]:
    text = _render(leaf)
    if isinstance(leaf, Compare) and isinstance(leaf.left, Path) and leaf.left.parts[0] == "skills":
        value = _getter(leaf.left, sw)(w, t)
        if value is None:
            return "skill_missing", f"{text} (no {leaf.left.text})"
        if leaf.op in (">", ">="):
            return "skill_too_low", f"{text} ({leaf.left.text} is {value})"
    if isinstance(leaf, Compare) and isinstance(leaf.left, Path):
        return "expression_false", f"{text} ({leaf.left.text} is {_getter(leaf.left, sw)(w, t)!r})"
    return "expression_false", text


def _render(node: Node) -> str:
    if isinstance(node, Literal):
        return {True: "true", False: "false", None: "null"}.get(node.value, repr(node.value)) \
            if node.value is None or isinstance(node.value, bool) else repr(node.value)
    if isinstance(node, ListLit):
        return "[" + ", ".join(repr(i) for i in node.items) + "]"
    if isinstance(node, Path):
        return node.text
    if isinstance(node, Compare):
        return f"{_render(node.left)} {node.op.upper() if node.op[0].isalpha() else node.op} {_render(node.right)}"
    if isinstance(node, Not):
        return f"NOT {_render(node.item)}"
    if isinstance(node, BoolOp):
        return "(" + f" {node.op.upper()} ".join(_render(i) for i in node.items) + ")"
    return "true"
