"""A compiler for the FHIRPath subset used by FHIR R4 SearchParameter expressions.

Specs: https://hl7.org/fhirpath/N1/ (FHIRPath normative release 1) and
https://hl7.org/fhir/R4/fhirpath.html (FHIR-specific functions: ``resolve()``, ``extension()``,
``hasExtension()``, ``%resource``).

Resources are plain JSON dicts. An expression is parsed once into a small AST
(:mod:`hygie.fhir.fhirpath_parser`), then turned into a tree of Python closures over the runtime
helpers of :mod:`hygie.fhir.fhirpath_runtime` (``compile_expression`` caches the result by
expression string). The compiled function takes a resource and returns a flat list (a FHIRPath
collection) of JSON values: dicts for complex elements, ``str``/``bool``/``int``/``float`` for
primitives, and :class:`ResolvedReference` for the result of ``resolve()``.

The shapes that make up nearly all search expressions (member paths, ``as``, ``where(resolve() is
X)``, ``extension('url')``, unions of those) get specialised forms from
:mod:`hygie.fhir.fhirpath_fast`, with the same results; :func:`compile_generic` keeps the generic
engine as their reference, and :func:`root_keys` tells which top-level keys an expression reads.

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
from functools import lru_cache
from typing import Any

from hygie.fhir.fhirpath_fast import FastPath, specialise
from hygie.fhir.fhirpath_parser import (
    FhirPathError,
    _Binary,
    _Call,
    _Ident,
    _Index,
    _Literal,
    _Member,
    _Node,
    _Parser,
    _type_argument,
    _TypeOp,
    _Unary,
    _Var,
)
from hygie.fhir.fhirpath_runtime import (
    _RESOURCE_BASES,
    CHOICE_ELEMENTS,
    CHOICE_SUFFIXES,
    ResolvedReference,
    _arithmetic,
    _children,
    _compare,
    _distinct,
    _equal,
    _equal_items,
    _equivalent,
    _logic,
    _resolve,
    _singleton_bool,
    _typed_children,
    is_type,
    reference_type,
)

__all__ = [
    "CHOICE_ELEMENTS",
    "CHOICE_SUFFIXES",
    "Compiled",
    "FhirPathError",
    "ResolvedReference",
    "compile_expression",
    "compile_generic",
    "evaluate",
    "is_type",
    "reference_type",
    "root_keys",
]

Compiled = Callable[[dict[str, Any]], list[Any]]
_Fn = Callable[[list[Any], dict[str, Any]], list[Any]]


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


def _compile_root(node: _Node) -> Compiled:
    fn = _compile(node)

    def run(resource: dict[str, Any]) -> list[Any]:
        return fn([resource], resource)

    return run


@lru_cache(maxsize=4096)
def _compiled(expression: str) -> FastPath:
    node = _Parser(expression).parse()
    generic = _compile_root(node)  # also raises the generic engine's errors for unsupported input
    return specialise(node, _compile_root) or FastPath(generic, None)


def compile_expression(expression: str) -> Compiled:
    """Compile a FHIRPath expression into ``resource -> collection`` (cached by expression string).

    The common shapes of search expressions get a specialised form (:mod:`hygie.fhir.fhirpath_fast`)
    with the same results as the generic engine. Raises :class:`FhirPathError` if the expression is
    malformed or outside the supported subset.
    """
    return _compiled(expression).run


@lru_cache(maxsize=4096)
def compile_generic(expression: str) -> Compiled:
    """Compile ``expression`` with the generic engine only: the reference for the specialised forms."""
    return _compile_root(_Parser(expression).parse())


def root_keys(expression: str) -> frozenset[str] | None:
    """The top-level keys of the resource that ``expression`` may read (None: any of them).

    When a resource has none of these keys, the expression yields an empty collection.
    """
    return _compiled(expression).root_keys


def evaluate(expression: str, resource: dict[str, Any]) -> list[Any]:
    """Evaluate ``expression`` against ``resource`` (compiling it once)."""
    return compile_expression(expression)(resource)
