"""Specialised compiled forms of the FHIRPath shapes that make up nearly all R4 search expressions.

Specs: https://hl7.org/fhirpath/N1/ (path navigation, ``as``/``ofType``, ``where``, union ``|``)
and https://hl7.org/fhir/R4/fhirpath.html (``resolve()``, ``extension()``).

Search-index extraction evaluates every parameter of a type on every write, and the R4 expressions
are almost all unions of a few shapes (counts over the R4 registry):

- ``Type.a.b.c`` — plain member paths (~2,100 branches);
- ``(Type.a.b as X)``, ``Type.a.as(X)``, ``Type.a.ofType(X)`` — a typed last step (~150);
- ``Type.a.where(resolve() is X)`` — references to one target type (~50);
- ``Type.extension('url')`` — extension values (~10).

:func:`specialise` turns such an expression into a function that starts from the resource dict
with direct lookups instead of the generic closure tree of :mod:`hygie.fhir.fhirpath` (no type
filter closure, no per-step collection for the root, no criteria collections per item), and
reports the resource's top-level keys it can read, so callers may skip it when none is present.
The results are the same as the generic engine's, in the same order (checked over the Synthea
corpus by ``tests/search/test_extract_golden.py``); any other shape is left to the generic engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from hygie.fhir.fhirpath_parser import (
    FhirPathError,
    _Binary,
    _Call,
    _Ident,
    _Literal,
    _Member,
    _Node,
    _type_argument,
    _TypeOp,
)
from hygie.fhir.fhirpath_runtime import (
    _MISSING,
    _RESOURCE_BASES,
    CHOICE_ELEMENTS,
    CHOICE_SUFFIXES,
    _distinct,
    _target_type,
    _typed_children,
    _typed_keys,
)

__all__ = ["FastPath", "Step", "distinct_union", "shapes", "specialise"]

Compiled = Callable[[dict[str, Any]], list[Any]]
_Step = Callable[[list[Any], dict[str, Any]], list[Any]]


@dataclass(frozen=True, slots=True)
class Step:
    """What a specialised step does, for code generators (:mod:`hygie.search.extract_codegen`).

    ``kind`` is ``member`` (``name``), ``typed`` (``name as type_name``, looking up ``keys`` first),
    ``resolve_is`` (``where(resolve() is type_name)``) or ``extension`` (``extension(name)``, the url).
    """

    kind: str
    name: str
    type_name: str = ""
    keys: tuple[str, ...] = ()


class _StepSpec(NamedTuple):
    step: _Step
    root_keys: frozenset[str] | None  # the top-level keys it reads when applied to the resource
    member: str | None  # the element name of a member step
    shape: Step


@dataclass(frozen=True, slots=True)
class FastPath:
    """A compiled expression and the top-level resource keys it reads (None: it may read any)."""

    run: Compiled
    root_keys: frozenset[str] | None


# ---------------------------------------------------------------------------------------------
# Steps: collection -> collection, the same semantics as the generic engine's


def _member_step(name: str) -> _Step:
    # A choice element (`value` found as valueQuantity...) is looked up among its precomputed
    # keys, rather than by testing every key's prefix and suffix as the generic `_children` does.
    choices = frozenset(name + suffix for suffix in CHOICE_SUFFIXES) if name in CHOICE_ELEMENTS else None

    def step(coll: list[Any], root: dict[str, Any]) -> list[Any]:
        out: list[Any] = []
        for item in coll:
            if type(item) is not dict:
                continue
            value = item.get(name, _MISSING)
            if value is _MISSING:
                if choices is None:
                    continue
                for key in item:  # the first present, in the item's order (as `_children`)
                    if key in choices:
                        value = item[key]
                        break
                else:
                    continue
            if type(value) is list:
                out.extend(value)
            elif value is not None:
                out.append(value)
        return out

    return step


def _typed_step(name: str, type_name: str) -> _Step:
    keys = _typed_keys(name, type_name)  # computed once, not per call as the generic engine does
    return lambda coll, root: _typed_children(coll, name, type_name, keys)


def _resolve_is_step(type_name: str) -> _Step:
    # `where(resolve() is X)`: the generic engine builds a one-item focus, a ResolvedReference and
    # two collections per item to evaluate the criteria; testing the target type directly gives
    # the same result (is_type of a ResolvedReference: same type, or any known type for Resource).
    any_resource = type_name in _RESOURCE_BASES

    def step(coll: list[Any], root: dict[str, Any]) -> list[Any]:
        out: list[Any] = []
        for item in coll:
            if isinstance(item, str | dict):
                target = _target_type(item, root)
                if target == type_name or (any_resource and target is not None):
                    out.append(item)
        return out

    return step


def _extension_step(url: str) -> _Step:
    def step(coll: list[Any], root: dict[str, Any]) -> list[Any]:
        return [
            ext
            for item in coll
            if type(item) is dict
            for ext in item.get("extension") or ()
            if isinstance(ext, dict) and ext.get("url") == url
        ]

    return step


# ---------------------------------------------------------------------------------------------
# Shapes


def _steps(node: _Node) -> tuple[str, list[_StepSpec]] | None:
    """``(root type, steps)`` of a supported branch, each step with the root keys it reads if first."""
    if isinstance(node, _Ident):
        return (node.name, []) if node.name[:1].isupper() else None
    if isinstance(node, _Member):
        found = _steps(node.base)
        if found is not None:
            name = node.name
            keys = {name} | ({name + s for s in CHOICE_SUFFIXES} if name in CHOICE_ELEMENTS else set())
            found[1].append(_StepSpec(_member_step(name), frozenset(keys), name, Step("member", name)))
        return found
    if isinstance(node, _TypeOp) and node.op == "as":
        return _typed(node.operand, node.type_name)
    if not isinstance(node, _Call) or node.base is None:
        return None
    if node.name in ("as", "ofType"):
        try:
            return _typed(node.base, _type_argument(node))
        except FhirPathError:
            return None  # let the generic compiler report it
    if node.name == "where" and len(node.args) == 1:
        criteria = node.args[0]
        if (
            isinstance(criteria, _TypeOp)
            and criteria.op == "is"
            and criteria.operand == _Call(None, "resolve", ())
            and (found := _steps(node.base)) is not None
        ):
            shape = Step("resolve_is", "", criteria.type_name)
            found[1].append(_StepSpec(_resolve_is_step(criteria.type_name), None, None, shape))
            return found
        return None
    if node.name == "extension" and len(node.args) == 1:
        url = node.args[0]
        if isinstance(url, _Literal) and len(url.values) == 1 and isinstance(url.values[0], str):
            found = _steps(node.base)
            if found is not None:
                shape = Step("extension", url.values[0])
                found[1].append(
                    _StepSpec(_extension_step(url.values[0]), frozenset({"extension"}), None, shape)
                )
            return found
    return None


def _typed(operand: _Node, type_name: str) -> tuple[str, list[_StepSpec]] | None:
    """``operand as type_name`` on a member (the generic engine's other `as` forms are not handled)."""
    if not isinstance(operand, _Member):
        return None
    found = _steps(operand.base)
    if found is not None:
        choice_keys = _typed_keys(operand.name, type_name)
        shape = Step("typed", operand.name, type_name, choice_keys)
        keys = frozenset({operand.name, *choice_keys})
        found[1].append(_StepSpec(_typed_step(operand.name, type_name), keys, None, shape))
    return found


def _branch(node: _Node) -> FastPath | None:
    """A FastPath for a union-free branch of a supported shape, else None."""
    found = _steps(node)
    if found is None or not found[1]:
        return None
    root_type, steps = found
    if root_type in _RESOURCE_BASES:
        root_type = ""  # any resource
    first, root_keys, name, _ = steps[0]
    rest = tuple(spec.step for spec in steps[1:])

    def run(resource: dict[str, Any]) -> list[Any]:
        # The generic root `Type` filter: the resource itself if it is of that type.
        if type(resource) is not dict or (
            resource.get("resourceType") != root_type if root_type else "resourceType" not in resource
        ):
            return []
        if name is None:
            coll = first([resource], resource)
        else:  # a member first (`Type.status`, `Type.meta.tag`: most expressions): read it directly
            value = resource.get(name, _MISSING)
            if value is _MISSING:
                coll = first([resource], resource) if name in CHOICE_ELEMENTS else []  # value[x]
            elif value is None:
                return []
            else:
                coll = value[:] if type(value) is list else [value]  # a copy: callers own the result
        for step in rest:
            if not coll:
                return coll
            coll = step(coll, resource)
        return coll

    return FastPath(run, root_keys)


def _union_branches(node: _Node) -> list[_Node]:
    if isinstance(node, _Binary) and node.op == "|":
        return _union_branches(node.left) + _union_branches(node.right)
    return [node]


def _union(runs: list[Compiled]) -> Compiled:
    def run(resource: dict[str, Any]) -> list[Any]:
        out: list[Any] = []
        for branch in runs:
            out += branch(resource)
        return distinct_union(out)

    return run


def distinct_union(items: list[Any]) -> list[Any]:
    """The distinct ``items`` of a union ``|``, first occurrences kept (``items`` if all are)."""
    if len(items) < 2:
        return items
    # `|` keeps distinct items: dicts are distinct by identity (as in the generic `_distinct`),
    # which a dict keyed by id() does in linear time; other items need FHIRPath equality.
    if all(type(item) is dict for item in items):
        return list({id(item): item for item in items}.values())
    return _distinct(items)


def shapes(node: _Node) -> list[tuple[str, tuple[Step, ...]] | None]:
    """Per union branch of ``node``: ``(root type, steps)`` of a shape this module specialises
    (no steps: the bare type name, the resource itself if of that type), None for any other."""
    out: list[tuple[str, tuple[Step, ...]] | None] = []
    for branch in _union_branches(node):
        found = _steps(branch)
        out.append(None if found is None else (found[0], tuple(spec.shape for spec in found[1])))
    return out


def specialise(node: _Node, generic: Callable[[_Node], Compiled]) -> FastPath | None:
    """The specialised form of ``node``, or None when no part of it has a supported shape.

    A union mixing supported and other branches compiles the others with ``generic``.
    """
    branches = _union_branches(node)
    fast = [_branch(branch) for branch in branches]
    if all(path is None for path in fast):
        return None
    if len(fast) == 1 and fast[0] is not None:
        return fast[0]
    runs = [
        path.run if path is not None else generic(branch) for path, branch in zip(fast, branches, strict=True)
    ]
    keys: frozenset[str] | None = frozenset()
    for path in fast:
        keys = None if path is None or path.root_keys is None or keys is None else keys | path.root_keys
    return FastPath(_union(runs), keys)
