"""The parser of the FHIRPath subset used by FHIR R4 SearchParameter expressions: text → AST.

Specs: https://hl7.org/fhirpath/N1/ (FHIRPath normative release 1, grammar and operator
precedence) and https://hl7.org/fhir/R4/fhirpath.html.

:class:`_Parser` turns an expression into a small tree of frozen dataclasses (``_Literal``,
``_Ident``, ``_Member``, ``_Call``, ``_Index``, ``_Binary``, ``_TypeOp``, ``_Unary``, ``_Var``) that
:mod:`hygie.fhir.fhirpath` compiles and :mod:`hygie.fhir.fhirpath_patch` walks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["FhirPathError"]


class FhirPathError(ValueError):
    """Raised when an expression is malformed or uses something outside the supported subset."""


# ---------------------------------------------------------------------------------------------
# Tokenizer

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>'(?:[^'\\]|\\.)*')
    | (?P<num>\d+(?:\.\d+)?)
    | (?P<id>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<bq>`[^`]*`)
    | (?P<ext>%[A-Za-z_][A-Za-z0-9_]*|%'[^']*')
    | (?P<var>\$[A-Za-z_]+)
    | (?P<op>!=|!~|<=|>=|[.\[\](),|=~<>+\-*/&{}])
    )""",
    re.VERBOSE,
)
_ESCAPES = {"'": "'", '"': '"', "`": "`", "\\": "\\", "/": "/", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _unescape(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "u" and i + 5 < len(text):
                out.append(chr(int(text[i + 2 : i + 6], 16)))
                i += 6
                continue
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _tokenize(expr: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    end = len(expr.rstrip())
    while pos < end:
        match = _TOKEN.match(expr, pos)
        if match is None or match.end() == pos:
            raise FhirPathError(f"unexpected character at {pos}: {expr[pos : pos + 10]!r}")
        kind = match.lastgroup or ""
        text = match.group(kind)
        if kind == "str":
            tokens.append(("str", _unescape(text[1:-1])))
        elif kind == "bq":
            tokens.append(("id", text[1:-1]))
        else:
            tokens.append((kind, text))
        pos = match.end()
    tokens.append(("eof", ""))
    return tokens


# ---------------------------------------------------------------------------------------------
# AST


@dataclass(frozen=True, slots=True)
class _Literal:
    values: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class _Ident:
    name: str


@dataclass(frozen=True, slots=True)
class _Member:
    base: _Node
    name: str


@dataclass(frozen=True, slots=True)
class _Call:
    base: _Node | None
    name: str
    args: tuple[_Node, ...]


@dataclass(frozen=True, slots=True)
class _Index:
    base: _Node
    index: _Node


@dataclass(frozen=True, slots=True)
class _Binary:
    op: str
    left: _Node
    right: _Node


@dataclass(frozen=True, slots=True)
class _TypeOp:
    op: str
    operand: _Node
    type_name: str


@dataclass(frozen=True, slots=True)
class _Unary:
    op: str
    operand: _Node


@dataclass(frozen=True, slots=True)
class _Var:
    name: str


_Node = _Literal | _Ident | _Member | _Call | _Index | _Binary | _TypeOp | _Unary | _Var

_BINARY_PRECEDENCE = {
    "implies": 1, "or": 2, "xor": 2, "and": 3, "in": 4, "contains": 4,
    "=": 5, "!=": 5, "~": 5, "!~": 5, "<": 6, ">": 6, "<=": 6, ">=": 6,
    "|": 7, "is": 8, "as": 8, "+": 9, "-": 9, "&": 9, "*": 10, "/": 10, "div": 10, "mod": 10,
}  # fmt: skip
_WORD_OPERATORS = frozenset(k for k in _BINARY_PRECEDENCE if k.isalpha())


class _Parser:
    def __init__(self, expr: str) -> None:
        self.tokens = _tokenize(expr)
        self.pos = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.pos]

    def take(self) -> tuple[str, str]:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def expect(self, text: str) -> None:
        kind, value = self.take()
        if value != text or kind not in ("op", "id"):
            raise FhirPathError(f"expected {text!r}, found {value!r}")

    def parse(self) -> _Node:
        node = self.expression(0)
        if self.peek()[0] != "eof":
            raise FhirPathError(f"unexpected {self.peek()[1]!r}")
        return node

    def operator(self) -> str | None:
        kind, value = self.peek()
        if (kind == "op" and value in _BINARY_PRECEDENCE) or (kind == "id" and value in _WORD_OPERATORS):
            return value
        return None

    def expression(self, min_precedence: int) -> _Node:
        left = self.unary()
        while True:
            op = self.operator()
            if op is None or _BINARY_PRECEDENCE[op] <= min_precedence:
                return left
            self.take()
            if op in ("is", "as"):
                left = _TypeOp(op, left, self.type_specifier())
            else:
                left = _Binary(op, left, self.expression(_BINARY_PRECEDENCE[op]))

    def type_specifier(self) -> str:
        kind, name = self.take()
        if kind != "id":
            raise FhirPathError(f"expected a type name, found {name!r}")
        while self.peek() == ("op", "."):
            self.take()
            name = self.take()[1]  # FHIR.Quantity, System.String: keep the unqualified name
        return name

    def unary(self) -> _Node:
        if self.peek() in (("op", "-"), ("op", "+")):
            op = self.take()[1]
            return _Unary(op, self.unary())
        return self.postfix(self.term())

    def postfix(self, node: _Node) -> _Node:
        while True:
            token = self.peek()
            if token == ("op", "."):
                self.take()
                kind, name = self.take()
                if kind != "id":
                    raise FhirPathError(f"expected a name after '.', found {name!r}")
                if self.peek() == ("op", "("):
                    node = _Call(node, name, self.arguments())
                else:
                    node = _Member(node, name)
            elif token == ("op", "["):
                self.take()
                index = self.expression(0)
                self.expect("]")
                node = _Index(node, index)
            else:
                return node

    def arguments(self) -> tuple[_Node, ...]:
        self.expect("(")
        args: list[_Node] = []
        if self.peek() != ("op", ")"):
            args.append(self.expression(0))
            while self.peek() == ("op", ","):
                self.take()
                args.append(self.expression(0))
        self.expect(")")
        return tuple(args)

    def term(self) -> _Node:
        kind, value = self.take()
        if kind == "str":
            return _Literal((value,))
        if kind == "num":
            return _Literal((float(value) if "." in value else int(value),))
        if kind in ("ext", "var"):
            return _Var(value.replace("'", ""))
        if kind == "id":
            if value in ("true", "false"):
                return _Literal((value == "true",))
            if self.peek() == ("op", "("):
                return _Call(None, value, self.arguments())
            return _Ident(value)
        if (kind, value) == ("op", "("):
            node = self.expression(0)
            self.expect(")")
            return node
        if (kind, value) == ("op", "{"):
            self.expect("}")
            return _Literal(())
        raise FhirPathError(f"unexpected {value!r}")


def _type_argument(call: _Call) -> str:
    if len(call.args) != 1:
        raise FhirPathError(f"{call.name}() takes one type argument")
    arg = call.args[0]
    if isinstance(arg, _Ident):
        return arg.name
    if isinstance(arg, _Member):
        return arg.name
    raise FhirPathError(f"{call.name}() takes a type name")
