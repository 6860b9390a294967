"""A compiler for the FHIRPath subset used by FHIR R4 SearchParameter expressions.

Specs: https://hl7.org/fhirpath/N1/ (FHIRPath normative release 1) and
https://hl7.org/fhir/R4/fhirpath.html (FHIR-specific functions: ``resolve()``, ``extension()``,
``hasExtension()``, ``%resource``).

Resources are plain JSON dicts. An expression is parsed once into a small AST, then turned into a
tree of Python closures (``compile_expression`` caches the result by expression string). The
compiled function takes a resource and returns a flat list (a FHIRPath collection) of JSON values:
dicts for complex elements, ``str``/``bool``/``int``/``float`` for primitives, and
:class:`ResolvedReference` for the result of ``resolve()``.

Supported: path navigation with implicit flattening of arrays; choice elements (``Observation.value``
finds ``valueQuantity``, ``valueString``...: names in :data:`CHOICE_ELEMENTS` followed by a type
name in :data:`CHOICE_SUFFIXES`); ``as``/``is``/``ofType`` (operator and function forms;
on a choice element ``as Quantity`` selects ``valueQuantity``); indexer ``[n]``; union ``|``;
``=``, ``!=``, ``~``, ``!~``, ``<``, ``<=``, ``>``, ``>=``, ``and``, ``or``, ``xor``, ``implies``,
``in``, ``contains``, ``+ - * / & div mod``; string, number and boolean literals, ``{}``;
``$this``, ``%resource``, ``%rootResource``, ``%context``, ``%ucum``, ``%sct``, ``%loinc``;
functions ``where``, ``exists``, ``empty``, ``not``, ``first``, ``last``, ``tail``, ``count``,
``distinct``, ``single``, ``hasValue``, ``startsWith``, ``endsWith``, ``contains``, ``matches``,
``lower``, ``upper``, ``length``, ``trace``, ``extension``, ``hasExtension``, ``resolve``.

``resolve()`` does no I/O: a Reference becomes a :class:`ResolvedReference` whose type is read from
its ``reference`` string (relative ``Type/id``, absolute URL ending in ``Type/id``, ``#id`` of a
contained resource) or its ``type`` element, so ``resolve() is Patient`` checks the target type.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

__all__ = [
    "Compiled",
    "FhirPathError",
    "ResolvedReference",
    "compile_expression",
    "evaluate",
    "reference_type",
]

Compiled = Callable[[dict[str, Any]], list[Any]]
_Fn = Callable[[list[Any], dict[str, Any]], list[Any]]


class FhirPathError(ValueError):
    """Raised when an expression is malformed or uses something outside the supported subset."""


@dataclass(frozen=True, slots=True)
class ResolvedReference:
    """What ``resolve()`` yields without I/O: the target's type (if known) and the source Reference."""

    type: str | None
    reference: Any


# FHIR R4 data type names, capitalised as they appear as choice-element suffixes (valueQuantity).
CHOICE_SUFFIXES = frozenset(
    {
        "Base64Binary", "Boolean", "Canonical", "Code", "Date", "DateTime", "Decimal", "Id",
        "Instant", "Integer", "Markdown", "Oid", "PositiveInt", "String", "Time", "UnsignedInt",
        "Uri", "Url", "Uuid", "Address", "Age", "Annotation", "Attachment", "CodeableConcept",
        "Coding", "ContactPoint", "Count", "Distance", "Duration", "HumanName", "Identifier",
        "Money", "Period", "Quantity", "Range", "Ratio", "Reference", "SampledData", "Signature",
        "Timing", "ContactDetail", "Contributor", "DataRequirement", "Expression",
        "ParameterDefinition", "RelatedArtifact", "TriggerDefinition", "UsageContext", "Dosage",
        "Meta",
    }
)  # fmt: skip

# Names of the R4 choice elements (``value[x]``, ``onset[x]``...) of every core StructureDefinition:
# only these are looked up as ``name<Type>`` when ``name`` itself is absent.
CHOICE_ELEMENTS = frozenset(
    {
        "abatement", "additive", "age", "allowed", "amount", "answer", "asNeeded", "author", "born",
        "bounds", "characteristic", "chargeItem", "code", "collected", "content", "created", "date",
        "deceased", "defaultValue", "definingSubstance", "definition", "detail", "diagnosis", "done",
        "dose", "doseNumber", "due", "effective", "entity", "event", "example", "fastingStatus",
        "fixed", "identified", "indication", "item", "legallyBinding", "location", "manufacturer",
        "maxValue", "medication", "minValue", "minimumVolume", "module", "multipleBirth", "name",
        "occurred", "occurrence", "offset", "onset", "participantEffective", "pattern", "performed",
        "probability", "procedure", "product", "quantity", "rate", "reported", "scheduled",
        "seriesDoses", "serviced", "source", "start", "statusReason", "studyEffective", "subject",
        "substance", "target", "time", "timing", "topic", "used", "value", "what", "when", "where",
        "why",
    }
)  # fmt: skip

# Specialisations: `as Quantity` also accepts valueAge, valueDuration...
_SUBTYPES: dict[str, tuple[str, ...]] = {
    "Quantity": ("Quantity", "Age", "Count", "Distance", "Duration", "SimpleQuantity", "MoneyQuantity"),
    "string": ("String", "Code", "Id", "Markdown"),
    "uri": ("Uri", "Url", "Canonical", "Oid", "Uuid"),
    "integer": ("Integer", "UnsignedInt", "PositiveInt"),
}

_STRING_TYPES = frozenset(
    {"string", "code", "id", "markdown", "uri", "url", "canonical", "oid", "uuid", "base64Binary",
     "date", "dateTime", "instant", "time", "xhtml", "String", "Date", "DateTime", "Time"}
)  # fmt: skip
_INTEGER_TYPES = frozenset({"integer", "unsignedInt", "positiveInt", "Integer"})
_DECIMAL_TYPES = frozenset({"decimal", "Decimal"})

# Keys that may appear in each complex type (id/extension aside), for duck-typed `is`/`as`.
_SIGNATURES: dict[str, frozenset[str]] = {
    name: frozenset(keys.split())
    for name, keys in {
        "Quantity": "value comparator unit system code",
        "Age": "value comparator unit system code",
        "Duration": "value comparator unit system code",
        "Count": "value comparator unit system code",
        "Distance": "value comparator unit system code",
        "Money": "value currency",
        "CodeableConcept": "coding text",
        "Coding": "system version code display userSelected",
        "Reference": "reference type identifier display",
        "Period": "start end",
        "Range": "low high",
        "Ratio": "numerator denominator",
        "Identifier": "use type system value period assigner",
        "ContactPoint": "system value use rank period",
        "HumanName": "use text family given prefix suffix period",
        "Address": "use type text line city district state postalCode country period",
        "Attachment": "contentType language data url size hash title creation",
        "Annotation": "authorReference authorString time text",
        "Timing": "event repeat code modifierExtension",
        "SampledData": "origin period factor lowerLimit upperLimit dimensions data",
    }.items()
}

_RESOURCE_BASES = frozenset({"Resource", "DomainResource"})
_MISSING = object()
_REF_TAIL = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?/?$")


def reference_type(reference: str) -> str | None:
    """The resource type named by a reference string (``Patient/1``, ``http://x/fhir/Patient/1``)."""
    match = _REF_TAIL.search(reference.split("|", 1)[0])
    return match.group(1) if match else None


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


# ---------------------------------------------------------------------------------------------
# Runtime helpers


def _children(coll: list[Any], name: str) -> list[Any]:
    out: list[Any] = []
    choice = name in CHOICE_ELEMENTS
    for item in coll:
        if type(item) is not dict:
            continue
        value = item.get(name, _MISSING)
        if value is _MISSING:
            if not choice:
                continue
            size = len(name)
            for key, candidate in item.items():
                if len(key) > size and key.startswith(name) and key[size:] in CHOICE_SUFFIXES:
                    value = candidate
                    break
            else:
                continue
        if type(value) is list:
            out.extend(value)
        elif value is not None:
            out.append(value)
    return out


def is_type(item: Any, type_name: str) -> bool:
    """Whether a JSON value (or a ResolvedReference) is of the FHIR type ``type_name`` (duck-typed)."""
    if isinstance(item, ResolvedReference):
        return item.type == type_name or (item.type is not None and type_name in _RESOURCE_BASES)
    if isinstance(item, bool):
        return type_name in ("boolean", "Boolean")
    if isinstance(item, int):
        return type_name in _INTEGER_TYPES or type_name in _DECIMAL_TYPES
    if isinstance(item, float):
        return type_name in _DECIMAL_TYPES
    if isinstance(item, str):
        return type_name in _STRING_TYPES
    if isinstance(item, dict):
        resource_type = item.get("resourceType")
        if resource_type is not None:
            return bool(resource_type == type_name or type_name in _RESOURCE_BASES)
        signature = _SIGNATURES.get(type_name)
        if signature is None:
            return type_name[:1].isupper()  # other complex types: not checkable by shape, accept
        keys = [k for k in item if k not in ("id", "extension") and not k.startswith("_")]
        return bool(keys) and all(k in signature for k in keys)
    return False


def _typed_children(coll: list[Any], name: str, type_name: str) -> list[Any]:
    """``name as type_name``: the choice key ``name<Type>`` if present, else a type-checked ``name``."""
    suffixes = _SUBTYPES.get(type_name, (type_name[:1].upper() + type_name[1:],))
    keys = [name + suffix for suffix in suffixes]
    out: list[Any] = []
    for item in coll:
        if type(item) is not dict:
            continue
        found = False
        for key in keys:
            value = item.get(key, _MISSING)
            if value is not _MISSING:
                found = True
                out.extend(value if type(value) is list else [value])
        if not found and name in item:
            value = item[name]
            out.extend(v for v in (value if type(value) is list else [value]) if is_type(v, type_name))
    return out


def _singleton_bool(coll: list[Any]) -> bool | None:
    if not coll:
        return None
    if len(coll) == 1:
        value = coll[0]
        return value if isinstance(value, bool) else True
    raise FhirPathError("a collection of several items cannot be used as a boolean")


def _equal_items(left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    return type(left) is type(right) and bool(left == right)


def _equal(left: list[Any], right: list[Any]) -> list[Any]:
    if not left or not right:
        return []
    if len(left) != len(right):
        return [False]
    return [all(_equal_items(a, b) for a, b in zip(left, right, strict=True))]


def _equivalent_items(left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        return " ".join(left.lower().split()) == " ".join(right.lower().split())
    return _equal_items(left, right)


def _equivalent(left: list[Any], right: list[Any]) -> list[Any]:
    if not left and not right:
        return [True]
    if len(left) != len(right):
        return [False]
    return [all(any(_equivalent_items(a, b) for b in right) for a in left)]


def _distinct(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if not any(item is seen or (type(item) is not dict and _equal_items(item, seen)) for seen in out):
            out.append(item)
    return out


def _resolve(item: Any, root: dict[str, Any]) -> ResolvedReference | None:
    if isinstance(item, str):
        return ResolvedReference(reference_type(item), item)
    if not isinstance(item, dict):
        return None
    ref = item.get("reference")
    target: str | None = None
    if isinstance(ref, str):
        if ref.startswith("#"):
            for contained in root.get("contained") or ():
                if isinstance(contained, dict) and contained.get("id") == ref[1:]:
                    target = contained.get("resourceType")
        else:
            target = reference_type(ref)
    if target is None and isinstance(item.get("type"), str):
        target = item["type"]
    return ResolvedReference(target, item)


def _compare(op: str, left: list[Any], right: list[Any]) -> list[Any]:
    if len(left) != 1 or len(right) != 1:
        return []
    a, b = left[0], right[0]
    comparable = (isinstance(a, int | float) and isinstance(b, int | float)) or (
        isinstance(a, str) and isinstance(b, str)
    )
    if not comparable or isinstance(a, bool) or isinstance(b, bool):
        return []
    if op == "<":
        return [a < b]
    if op == ">":
        return [a > b]
    if op == "<=":
        return [a <= b]
    return [a >= b]


def _arithmetic(op: str, left: list[Any], right: list[Any]) -> list[Any]:
    if op == "&":
        return ["".join(str(x[0]) if x else "" for x in (left, right))]
    if len(left) != 1 or len(right) != 1:
        return []
    a, b = left[0], right[0]
    if op == "+" and isinstance(a, str) and isinstance(b, str):
        return [a + b]
    if not (isinstance(a, int | float) and isinstance(b, int | float)):
        return []
    if op == "+":
        return [a + b]
    if op == "-":
        return [a - b]
    if op == "*":
        return [a * b]
    if b == 0:
        return []
    if op == "/":
        return [a / b]
    if op == "div":
        return [int(a // b)]
    return [a % b]


def _logic(op: str, a: bool | None, b: bool | None) -> list[Any]:
    result: bool | None
    if op == "and":
        result = False if a is False or b is False else (True if a and b else None)
    elif op == "or":
        result = True if a is True or b is True else (False if a is False and b is False else None)
    elif op == "xor":
        result = None if a is None or b is None else a != b
    else:  # implies
        result = True if a is False or b is True else (None if a is None or b is None else False)
    return [] if result is None else [result]


# ---------------------------------------------------------------------------------------------
# Compiler


def _type_filter(name: str) -> _Fn:
    any_resource = name in _RESOURCE_BASES

    def matches(item: Any) -> bool:
        if type(item) is not dict or "resourceType" not in item:
            return False
        return any_resource or item["resourceType"] == name

    def run(focus: list[Any], root: dict[str, Any]) -> list[Any]:
        if len(focus) == 1:  # the usual case: the resource itself
            return focus if matches(focus[0]) else []
        return [item for item in focus if matches(item)]

    return run


def _member(base: _Fn | None, names: tuple[str, ...]) -> _Fn:
    """Navigate ``names`` in turn from ``base`` (or from the focus)."""
    if len(names) == 1:
        name = names[0]
        if base is None:
            return lambda focus, root: _children(focus, name)
        return lambda focus, root: _children(base(focus, root), name)

    def run(focus: list[Any], root: dict[str, Any]) -> list[Any]:
        coll = focus if base is None else base(focus, root)
        for name in names:
            if not coll:
                return coll
            coll = _children(coll, name)
        return coll

    return run


def _compile_type_op(op: str, operand: _Node, type_name: str) -> _Fn:
    if op == "is":
        inner = _compile(operand)

        def run_is(focus: list[Any], root: dict[str, Any]) -> list[Any]:
            values = inner(focus, root)
            if not values:
                return []
            if len(values) > 1:
                raise FhirPathError("'is' needs a single item")
            return [is_type(values[0], type_name)]

        return run_is
    # `as` / ofType(): on a member, pick the matching choice element
    is_type_name = isinstance(operand, _Ident) and operand.name[:1].isupper()
    if isinstance(operand, _Member | _Ident) and not is_type_name:
        parent = _compile(operand.base) if isinstance(operand, _Member) else None
        name = operand.name
        if parent is None:
            return lambda focus, root: _typed_children(focus, name, type_name)
        return lambda focus, root: _typed_children(parent(focus, root), name, type_name)
    inner = _compile(operand)
    return lambda focus, root: [v for v in inner(focus, root) if is_type(v, type_name)]


def _type_argument(call: _Call) -> str:
    if len(call.args) != 1:
        raise FhirPathError(f"{call.name}() takes one type argument")
    arg = call.args[0]
    if isinstance(arg, _Ident):
        return arg.name
    if isinstance(arg, _Member):
        return arg.name
    raise FhirPathError(f"{call.name}() takes a type name")


def _arg_count(call: _Call, *allowed: int) -> None:
    if len(call.args) not in allowed:
        raise FhirPathError(f"{call.name}() takes {' or '.join(map(str, allowed))} argument(s)")


def _compile_call(call: _Call) -> _Fn:
    name = call.name
    base: _Fn = _compile(call.base) if call.base is not None else (lambda focus, root: focus)
    if name in ("as", "ofType", "is"):
        type_name = _type_argument(call)
        operand: _Node = call.base if call.base is not None else _Var("$this")
        return _compile_type_op("is" if name == "is" else "as", operand, type_name)
    args = [_compile(arg) for arg in call.args]
    simple = _SIMPLE_FUNCTIONS.get(name)
    if simple is not None:
        _arg_count(call, 0)
        return lambda focus, root: simple(base(focus, root))
    if name in ("where", "exists", "all"):
        _arg_count(call, 0, 1) if name == "exists" else _arg_count(call, 1)
        if not args:
            return lambda focus, root: [bool(base(focus, root))]
        criteria = args[0]

        def selected(focus: list[Any], root: dict[str, Any]) -> list[Any]:
            return [item for item in base(focus, root) if _singleton_bool(criteria([item], root)) is True]

        if name == "where":
            return selected
        if name == "exists":
            return lambda focus, root: [bool(selected(focus, root))]
        return lambda focus, root: [len(selected(focus, root)) == len(base(focus, root))]
    if name == "resolve":
        _arg_count(call, 0)

        def run_resolve(focus: list[Any], root: dict[str, Any]) -> list[Any]:
            resolved = (_resolve(item, root) for item in base(focus, root))
            return [r for r in resolved if r is not None]

        return run_resolve
    if name in ("extension", "hasExtension"):
        _arg_count(call, 1)
        url_fn = args[0]

        def run_extension(focus: list[Any], root: dict[str, Any]) -> list[Any]:
            urls = url_fn(focus, root)
            url = urls[0] if urls else None
            return [
                ext
                for item in base(focus, root)
                if type(item) is dict
                for ext in item.get("extension") or ()
                if isinstance(ext, dict) and ext.get("url") == url
            ]

        if name == "extension":
            return run_extension
        return lambda focus, root: [bool(run_extension(focus, root))]
    string_fn = _STRING_FUNCTIONS.get(name)
    if string_fn is not None:
        _arg_count(call, 1)
        arg = args[0]

        def run_string(focus: list[Any], root: dict[str, Any]) -> list[Any]:
            values = base(focus, root)
            operands = arg(focus, root)
            if len(values) != 1 or len(operands) != 1:
                return []
            if not isinstance(values[0], str) or not isinstance(operands[0], str):
                return []
            return [string_fn(values[0], operands[0])]

        return run_string
    if name == "trace":
        return base
    raise FhirPathError(f"unsupported function {name}()")


def _not(coll: list[Any]) -> list[Any]:
    value = _singleton_bool(coll)
    return [] if value is None else [not value]


def _single(coll: list[Any]) -> list[Any]:
    if len(coll) > 1:
        raise FhirPathError("single() on a collection of several items")
    return coll


def _string_map(fn: Callable[[str], Any]) -> Callable[[list[Any]], list[Any]]:
    return lambda coll: [fn(coll[0])] if len(coll) == 1 and isinstance(coll[0], str) else []


_SIMPLE_FUNCTIONS: dict[str, Callable[[list[Any]], list[Any]]] = {
    "empty": lambda coll: [not coll],
    "not": _not,
    "first": lambda coll: coll[:1],
    "last": lambda coll: coll[-1:],
    "tail": lambda coll: coll[1:],
    "count": lambda coll: [len(coll)],
    "distinct": _distinct,
    "single": _single,
    "hasValue": lambda coll: [len(coll) == 1 and not isinstance(coll[0], dict | ResolvedReference)],
    "lower": _string_map(str.lower),
    "upper": _string_map(str.upper),
    "length": _string_map(len),
}

_STRING_FUNCTIONS: dict[str, Callable[[str, str], Any]] = {
    "startsWith": str.startswith,
    "endsWith": str.endswith,
    "contains": lambda value, sub: sub in value,
    "matches": lambda value, pattern: re.search(pattern, value) is not None,
}

_CONSTANTS = {
    "%ucum": "http://unitsofmeasure.org",
    "%sct": "http://snomed.info/sct",
    "%loinc": "http://loinc.org",
}


def _compile_binary(node: _Binary) -> _Fn:
    left, right, op = _compile(node.left), _compile(node.right), node.op
    if op == "|":
        return lambda focus, root: _distinct(left(focus, root) + right(focus, root))
    if op in ("=", "!="):
        negate = op == "!="

        def run_equal(focus: list[Any], root: dict[str, Any]) -> list[Any]:
            result = _equal(left(focus, root), right(focus, root))
            return [not result[0]] if negate and result else result

        return run_equal
    if op in ("~", "!~"):
        negate = op == "!~"

        def run_equivalent(focus: list[Any], root: dict[str, Any]) -> list[Any]:
            result = _equivalent(left(focus, root), right(focus, root))
            return [not result[0]] if negate else result

        return run_equivalent
    if op in ("and", "or", "xor", "implies"):
        return lambda focus, root: _logic(
            op, _singleton_bool(left(focus, root)), _singleton_bool(right(focus, root))
        )
    if op in ("in", "contains"):
        item_fn, coll_fn = (left, right) if op == "in" else (right, left)

        def run_membership(focus: list[Any], root: dict[str, Any]) -> list[Any]:
            items = item_fn(focus, root)
            if not items:
                return []
            return [any(_equal_items(items[0], x) for x in coll_fn(focus, root))]

        return run_membership
    if op in ("<", ">", "<=", ">="):
        return lambda focus, root: _compare(op, left(focus, root), right(focus, root))
    return lambda focus, root: _arithmetic(op, left(focus, root), right(focus, root))


def _compile(node: _Node) -> _Fn:
    if isinstance(node, _Literal):
        values = list(node.values)
        return lambda focus, root: list(values)
    if isinstance(node, _Ident):
        if node.name[:1].isupper():
            return _type_filter(node.name)
        return _member(None, (node.name,))
    if isinstance(node, _Member):
        names = [node.name]
        start: _Node = node.base
        while isinstance(start, _Member):
            names.append(start.name)
            start = start.base
        names.reverse()
        if isinstance(start, _Ident) and not start.name[:1].isupper():
            return _member(None, (start.name, *names))
        return _member(_compile(start), tuple(names))
    if isinstance(node, _Call):
        return _compile_call(node)
    if isinstance(node, _Index):
        base, index = _compile(node.base), _compile(node.index)

        def run_index(focus: list[Any], root: dict[str, Any]) -> list[Any]:
            position = index(focus, root)
            values = base(focus, root)
            if len(position) != 1 or not isinstance(position[0], int) or isinstance(position[0], bool):
                return []
            return values[position[0] : position[0] + 1] if position[0] >= 0 else []

        return run_index
    if isinstance(node, _Binary):
        return _compile_binary(node)
    if isinstance(node, _TypeOp):
        return _compile_type_op(node.op, node.operand, node.type_name)
    if isinstance(node, _Unary):
        inner = _compile(node.operand)
        if node.op == "+":
            return inner
        return lambda focus, root: [
            -v for v in inner(focus, root) if isinstance(v, int | float) and not isinstance(v, bool)
        ]
    # _Var
    if node.name == "$this":
        return lambda focus, root: focus
    if node.name in ("%resource", "%rootResource", "%context"):
        return lambda focus, root: [root]
    constant = _CONSTANTS.get(node.name)
    if constant is None:
        raise FhirPathError(f"unknown variable {node.name}")
    return lambda focus, root: [constant]


@lru_cache(maxsize=4096)
def compile_expression(expression: str) -> Compiled:
    """Compile a FHIRPath expression into ``resource -> collection`` (cached by expression string).

    Raises :class:`FhirPathError` if the expression is malformed or outside the supported subset.
    """
    fn = _compile(_Parser(expression).parse())

    def run(resource: dict[str, Any]) -> list[Any]:
        return fn([resource], resource)

    return run


def evaluate(expression: str, resource: dict[str, Any]) -> list[Any]:
    """Evaluate ``expression`` against ``resource`` (compiling it once)."""
    return compile_expression(expression)(resource)
