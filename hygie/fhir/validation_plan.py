"""Dispatch tables of the FHIR R4 resource validator (:mod:`hygie.fhir.validation`).

Spec: https://hl7.org/fhir/R4/json.html (JSON properties, ``_x`` primitive companions),
https://hl7.org/fhir/R4/datatypes.html#primitive (lexical rules of each primitive type).

For every :class:`~hygie.fhir.definitions.Node` reachable from the R4 types, a :class:`Plan` maps
each accepted JSON property name to an :data:`Entry` ``(kind, element, arg)``: ``kind`` tells the
validator which inline check proves the common, valid value correct with no function call (a
non-empty string, a precompiled regex, a required code, a nested object…), ``arg`` is what that
check needs (a pattern, a code set, the child plan). A value the inline check does not accept
goes to the general checks, which decide and report: the fast path only ever says "valid".
``_name`` companions of primitive elements have their own entries (:data:`K_PRIMITIVE_EXT`), so
the walk does one dict lookup per property.

:func:`compile_plans` with ``fast=False`` gives tables whose every entry takes the general checks:
the reference the tests compare the fast tables with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Final, TypeAlias

from hygie.fhir import primitives
from hygie.fhir.definitions import (
    RESOURCE_TYPES,
    SPECIAL_DIV,
    SPECIAL_NONE,
    SPECIAL_REFERENCE,
    SPECIAL_URI,
    Element,
    Node,
    registry,
)

# Entry kinds. A repeating element has MANY added to the kind of its items.
K_GENERAL: Final = 0  # no inline check: always the general checks
K_STRING: Final = 1  # string, markdown, xhtml: a non-empty JSON string of at most 1 MB
K_LEXICAL: Final = 2  # code, id, date…: arg: the type's Lexicon (valid strings seen, checker)
K_URI: Final = 3  # arg: the Lexicon; "#…" values are local references, kept by the general checks
K_BOOLEAN: Final = 4
K_INTEGER: Final = 5  # arg: the minimum
K_DECIMAL: Final = 6
K_CODE: Final = 7  # arg: the codes of the required binding that are valid codes
K_REFERENCE: Final = 9  # Reference.reference: a string, then the literal reference rules
K_COMPLEX: Final = 10  # arg: the child plan
K_CODED: Final = 11  # arg: the child plan; then the required binding of a Coding/CodeableConcept
K_EXTENSION: Final = 12  # arg: the child plan; then ext-1
K_PRIMITIVE_EXT: Final = 13  # "_name" companion of a primitive element
MANY: Final = 16

MAX_DEPTH: Final = 64  # nested JSON objects the validator walks; R4 resources in the wild stay far below
_MAX_CHARS: Final = primitives.MAX_STRING_CHARS
_INT32_MAX: Final = primitives.INT32_MAX
_isfinite: Final = math.isfinite
# Literal references found valid whatever the resource around them (not "#id", not conditional).
REFERENCES: Final = primitives.Lexicon("string")

Entry: TypeAlias = tuple[int, Element, Any]

_STRINGS: Final = frozenset({"string", "markdown", "xhtml"})
_LEXICAL: Final = frozenset(
    {"code", "id", "oid", "uuid", "time", "date", "dateTime", "instant", "uri", "url", "canonical"}
)
_INTEGERS: Final = {"integer": primitives.INT32_MIN, "unsignedInt": 0, "positiveInt": 1}


@dataclass(slots=True, eq=False)
class Plan:
    """The dispatch table of one node: JSON property name -> :data:`Entry`."""

    node: Node
    table: dict[str, Entry] = field(default_factory=dict, repr=False)
    required: tuple[tuple[str, int, tuple[str, ...]], ...] = field(default=(), repr=False)
    # No required and no choice element (Coding, CodeableConcept, Reference, Period, Money…): the
    # validator tries its quick, report-free check of such an object before the full walk.
    flat: bool = False
    # The keys of the required elements, when their mere presence satisfies every requirement
    # (no choice, minimum 1): a single subset test in the common case.
    required_keys: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class Plans:
    """Every node's plan, with the entry points the validator starts from."""

    by_node: dict[Node, Plan]  # identity-keyed (Node has eq=False)
    resources: dict[str, Plan]  # concrete resource type -> plan
    element: Plan  # the Element type: the "_name" companion of a primitive


@cache
def lexicon(type_code: str) -> primitives.Lexicon:
    """The shared cache of valid strings of one primitive type."""
    return primitives.Lexicon(type_code)


def _primitive_kind(element: Element) -> tuple[int, Any]:
    type_code = element.type_code
    if element.codes is not None:
        check = primitives.CHECKERS[type_code]
        return K_CODE, frozenset(c for c in element.codes if check(c) == primitives.OK)
    if element.special == SPECIAL_REFERENCE:
        return K_REFERENCE, None
    if element.special == SPECIAL_DIV:
        return K_GENERAL, None
    if element.special == SPECIAL_URI:
        return K_URI, lexicon(type_code)
    if element.special != SPECIAL_NONE:
        return K_GENERAL, None
    if type_code in _STRINGS:
        return K_STRING, None
    if type_code in _LEXICAL:
        return K_LEXICAL, lexicon(type_code)
    if type_code in _INTEGERS:
        return K_INTEGER, _INTEGERS[type_code]
    if type_code == "boolean":
        return K_BOOLEAN, None
    if type_code == "decimal":
        return K_DECIMAL, None
    return K_GENERAL, None  # base64Binary


def _is_flat(node: Node) -> bool:
    """No required or choice element."""
    return not node.required and not any(e.choice for e in node.elements.values())


class _Compiler:
    def __init__(self, fast: bool) -> None:
        self.fast = fast
        self.plans: dict[Node, Plan] = {}

    def plan(self, node: Node) -> Plan:
        plan = self.plans.get(node)
        if plan is None:
            plan = self.plans[node] = Plan(node, required=node.required)
            for key, element in node.elements.items():  # after registering: types recurse
                plan.table[key] = self.entry(element)
                if element.primitive:
                    plan.table["_" + key] = (K_PRIMITIVE_EXT, element, None)
            plan.flat = self.fast and _is_flat(node)
            if self.fast and all(minimum == 1 and "[x]" not in name for name, minimum, _ in node.required):
                plan.required_keys = frozenset(keys[0] for _, _, keys in node.required)
        return plan

    def entry(self, element: Element) -> Entry:
        child = element.node
        if child is not None:
            child_plan = self.plan(child)
        if not self.fast:
            return K_GENERAL, element, None
        if element.primitive:
            kind, arg = _primitive_kind(element)
        elif element.is_resource or child is None:
            kind, arg = K_GENERAL, None
        elif element.system_codes is not None:
            kind, arg = K_CODED, child_plan
        elif element.type_code == "Extension":
            kind, arg = K_EXTENSION, child_plan
        else:
            kind, arg = K_COMPLEX, child_plan
        return (kind | MANY if element.many else kind), element, arg


def compile_plans(*, fast: bool = True) -> Plans:
    """Build the plans of every R4 type (``fast=False``: general checks only, for reference)."""
    nodes = registry().nodes
    compiler = _Compiler(fast)
    for node in nodes.values():
        compiler.plan(node)
    return Plans(
        by_node=compiler.plans,
        resources={name: compiler.plans[nodes[name]] for name in RESOURCE_TYPES},
        element=compiler.plans[nodes["Element"]],
    )


def flat_ok(obj: dict[str, Any], plan: Plan, depth: int) -> bool:
    """True if ``obj`` is valid by the inline checks alone, ``plan`` being flat.

    Primitives and nested flat types only; False says nothing: the full walk then checks the
    object and reports what is wrong. ``depth``: the walker's depth when it would walk ``obj``.
    """
    if depth >= MAX_DEPTH or not obj or (len(obj) == 1 and "id" in obj):
        return False
    table = plan.table
    for key, value in obj.items():
        entry = table.get(key)
        if entry is None:
            return False
        kind, element, arg = entry
        if kind == K_STRING:
            if not (type(value) is str and value and len(value) <= _MAX_CHARS):
                return False
        elif kind == K_LEXICAL:
            if not (type(value) is str and (value in arg or arg.learn(value))):
                return False
        elif kind == K_URI:
            if not (type(value) is str and (value in arg or arg.learn(value)) and value[0] != "#"):
                return False
        elif kind == K_COMPLEX:
            if not (type(value) is dict and arg.flat and flat_ok(value, arg, depth + 1)):
                return False
        elif kind >= MANY:
            if type(value) is not list or not value or 0 < element.max < len(value):
                return False
            if kind == K_COMPLEX + MANY:
                if not arg.flat:
                    return False
                for item in value:
                    if not (type(item) is dict and flat_ok(item, arg, depth + 1)):
                        return False
            else:
                kind -= MANY
                for item in value:
                    if not scalar_ok(kind, arg, item):
                        return False
        elif kind == K_REFERENCE:
            if not (type(value) is str and value in REFERENCES):
                return False
        elif not scalar_ok(kind, arg, value):
            return False
    return True


def scalar_ok(kind: int, arg: Any, value: object) -> bool:
    """The inline check of a primitive kind (see :mod:`hygie.fhir.validation_plan`): True if valid."""
    if type(value) is str:
        if kind == K_STRING:
            return 0 < len(value) <= _MAX_CHARS
        if kind == K_LEXICAL:
            return value in arg or arg.learn(value)
        if kind == K_CODE:
            return value in arg
        if kind == K_URI:
            return (value in arg or arg.learn(value)) and value[0] != "#"
        return False
    if kind == K_BOOLEAN:
        return type(value) is bool
    if kind == K_INTEGER:
        return type(value) is int and arg <= value <= _INT32_MAX
    if kind == K_DECIMAL:
        return type(value) is int or (isinstance(value, float) and _isfinite(value))
    return False


@cache
def plans() -> Plans:
    """The fast plans (built once per process)."""
    return compile_plans()
