"""Python source of the compiled acceptor of FHIR R4 resources (:mod:`hygie.fhir.validation_accept`).

Spec: https://hl7.org/fhir/R4/json.html (JSON properties, ``_x`` primitive companions), choice
types https://hl7.org/fhir/R4/formats.html#choice, https://hl7.org/fhir/R4/datatypes.html
(primitive rules), https://hl7.org/fhir/R4/conformance-rules.html#cardinality.

From the fast dispatch tables of :mod:`hygie.fhir.validation_plan`, :class:`Writer` writes one
function per type or backbone element, ``n<i>(o, d, c) -> bool``: True when the JSON object
``o`` (walked at depth ``d``, local references collected in the context ``c``) has no issue at
all, False when it may have one. The function tests the node's properties one after the other
(``if (v := o.get("status")) is not None: …``), the likeliest first, counts those it finds and
returns as soon as it has found them all; the properties left then (``_x`` companions, a second
type of a choice element, unknown names) go to ``rest()``. Each check only proves values valid
(the inline checks of the dispatch tables); anything else answers False, and the reporting
validator then walks the resource and says what is wrong. The source is plain Python, readable
with :func:`hygie.fhir.validation_accept.source`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

from hygie.fhir import primitives
from hygie.fhir.definitions import RESOURCE_TYPES, Element
from hygie.fhir.validation_plan import (
    K_BOOLEAN,
    K_CODE,
    K_CODED,
    K_COMPLEX,
    K_DECIMAL,
    K_EXTENSION,
    K_INTEGER,
    K_LEXICAL,
    K_PRIMITIVE_EXT,
    K_REFERENCE,
    K_STRING,
    K_URI,
    MANY,
    MAX_DEPTH,
    Plan,
    Plans,
)

# Inherited by every element: tested after the node's own elements (rarely present).
_ELEMENT_BASE: Final = ("id", "extension", "modifierExtension")
# Inherited by every resource: often present, tested first (an object's last property found ends
# the tests); rarely present, tested last.
_RESOURCE_EARLY: Final = ("id", "meta", "text", "contained", "extension")
_RESOURCE_LATE: Final = ("implicitRules", "language", "modifierExtension")
# Choice groups of at least this many types are skipped with one isdisjoint() when absent.
_GUARDED_CHOICE: Final = 5
# Sibling tests written as `"a" in o or …` up to this many keys, as one isdisjoint() above.
_INLINE_KEYS: Final = 3
# Lexical types whose valid strings are cached by the acceptor (hygie.fhir.validation_accept).
CACHED_TYPES: Final = (
    *("code", "id", "oid", "uuid", "time", "date", "dateTime", "instant"),
    *("uri", "url", "canonical"),
)


class Writer:
    """Writes the function of each node on demand (``source``), and the constants it uses.

    Names: ``n<i>`` the type or backbone element ``i`` of the plans, ``r<i>`` a resource type,
    ``e<i>`` the Element type of a primitive that has a value (``_x`` companions).
    """

    def __init__(self, tables: Plans) -> None:
        self.index = {id(plan): index for index, plan in enumerate(tables.by_node.values())}
        self.constants: dict[str, Any] = {}  # every constant named so far
        self.by_value: dict[tuple[type, Any], str] = {}
        self.lines: list[str] = []
        self.functions: dict[str, tuple[Plan, bool]] = {}  # name -> (plan, is a resource)
        resources = {id(plan) for plan in tables.resources.values()}
        for plan in tables.by_node.values():
            if id(plan) not in resources:
                self.functions[self.function(plan)] = (plan, False)
        self.roots = {t: "r" + self.function(tables.resources[t])[1:] for t in sorted(RESOURCE_TYPES)}
        for rtype, name in self.roots.items():
            self.functions[name] = (tables.resources[rtype], True)
        self.element = self.function(tables.element)  # ele-1: a value or children
        self.element_with_value = "e" + self.element[1:]  # the primitive has a value: "id" alone is fine
        self.functions[self.element_with_value] = (tables.element, False)

    def source(self, name: str, seen: Mapping[str, int] | None = None) -> str:
        """The source of function ``name`` (constants it names are added to :attr:`constants`).

        ``seen``: how often each property was found in the objects checked so far; the
        properties then are tested most frequent first (any order gives the same answers).
        """
        plan, root = self.functions[name]
        self.lines = []
        groups = _groups(plan, root)
        if seen:  # stable sorts: ties keep the default order
            for group in groups:
                group.sort(key=lambda element: -seen.get(element.key, 0))
            groups.sort(key=lambda group: -sum(seen.get(element.key, 0) for element in group))
        self.node(plan, name, groups, root=root, ele1=not root and name != self.element_with_value)
        return "\n".join(self.lines)

    def program(self) -> str:
        """The source of every function, to read (the acceptor compiles them one by one)."""
        return "\n".join(self.source(name) for name in self.functions)

    def function(self, plan: Plan) -> str:
        return f"n{self.index[id(plan)]}"

    def constant(self, value: Any, prefix: str) -> str:
        """A name bound to ``value`` (one per distinct hashable value, one per object otherwise)."""
        key: tuple[type, Any] = (type(value), tuple(value.items()) if type(value) is dict else value)
        try:
            hash(key)
        except TypeError:  # kept alive in self.constants: its id is not reused
            key = (type(value), id(value))
        name = self.by_value.get(key)
        if name is None:
            name = self.by_value[key] = f"{prefix}{len(self.constants)}"
            self.constants[name] = value
        return name

    def emit(self, indent: int, *lines: str) -> None:
        self.lines.extend("    " * indent + line for line in lines)

    # -- checks of one value -------------------------------------------------------------------

    def value_check(self, kind: int, element: Element, arg: Any, x: str, root: bool) -> str:
        """A boolean expression: True if the JSON value ``x`` of ``element`` is surely valid."""
        if kind == K_STRING:
            return f"type({x}) is str and 0 < len({x}) <= {primitives.MAX_STRING_CHARS}"
        if kind == K_LEXICAL and root and element.key == "id":  # a resource id: seldom seen twice
            return f"type({x}) is str and ID({x}) is not None"
        if kind == K_LEXICAL:
            cache = element.type_code
            return f"type({x}) is str and ({x} in S_{cache} or learn_{cache}({x}))"
        if kind == K_URI:  # the cache keeps no local reference ("#id"): learn_ notes those in c
            cache = element.type_code
            return f"type({x}) is str and ({x} in S_{cache} or learn_{cache}({x}, c))"
        if kind == K_CODE:
            return f"type({x}) is str and {x} in {self.constant(arg, 'S')}"
        if kind == K_REFERENCE:
            return f"type({x}) is str and ({x} in REFERENCES or reference(c, {x}))"
        if kind == K_BOOLEAN:
            return f"type({x}) is bool"
        if kind == K_INTEGER:
            return f"type({x}) is int and {arg} <= {x} <= {primitives.INT32_MAX}"
        if kind == K_DECIMAL:
            return f"(type({x}) is int or (isinstance({x}, float) and isfinite({x})))"
        if kind in (K_COMPLEX, K_EXTENSION):
            call = f"{self.function(arg)}({x}, d1, c)"
            if arg.node.path == "Reference":  # the usual form: a literal reference alone
                alone = f"len({x}) == 1 and type(r := {x}.get('reference')) is str and d1 < {MAX_DEPTH}"
                return f"type({x}) is dict and ({alone} and (r in REFERENCES or reference(c, r)) or {call})"
            return f"type({x}) is dict and {call}"
        if kind == K_CODED:
            systems = self.constant(element.system_codes, "V")
            call = f"{self.function(arg)}({x}, d1, c)"
            return f"type({x}) is dict and {call} and coded({x}, {systems}, {element.type_code == 'Coding'})"
        if element.primitive:  # base64Binary, Narrative.div: the general checks, as a predicate
            return f"primitive({self.constant(element, 'E')}, c, {x})"
        if element.is_resource:
            return f"resource({x}, d1, c)"
        return "False"  # an abstract type: never in the base definitions

    def value_lines(self, plan: Plan, element: Element, root: bool) -> list[str]:
        """Statements over ``v``, the value of ``element`` in ``o``, returning False when in doubt."""
        kind, _, arg = plan.table[element.key]
        if element.key == "contained" and element.is_resource:
            return ["if not contained(v, d1, c):", "    return False"]
        lines: list[str] = []
        if kind >= MANY:
            item = self.value_check(kind - MANY, element, arg, "x", root)
            lines += [
                "if type(v) is not list or not v:",
                "    return False",
                "for x in v:",
                f"    if not ({item}):",
                "        return False",
            ]
        else:
            lines += [f"if not ({self.value_check(kind, element, arg, 'v', root)}):", "    return False"]
        if element.key == "extension" and plan.node.path == "Extension":  # ext-1
            values = sorted(k for k in plan.table if k.startswith(("value", "_value")))
            lines += [f"if {self.any_of(values)}:", "    return False"]
        return lines

    def any_of(self, keys: list[str]) -> str:
        """An expression: True if ``o`` has any of ``keys``."""
        if len(keys) <= _INLINE_KEYS:
            return " or ".join(f"{k!r} in o" for k in keys) or "False"
        return f"not o.keys().isdisjoint({self.constant(frozenset(keys), 'K')})"

    # -- one node ------------------------------------------------------------------------------

    def node(
        self, plan: Plan, name: str, groups: list[list[Element]], *, root: bool = False, ele1: bool = True
    ) -> None:
        """``name(o, d, c)``: the checks of one type or backbone element (``root``: a resource),
        its elements tested in the order of ``groups``."""
        required = {element_name: minimum for element_name, minimum, _ in plan.required}
        last_required = max((i for i, g in enumerate(groups) if g[0].name in required), default=-1)
        rest: dict[str, tuple[bool, bool, str, str | None]] = {}  # see validation_accept.Rest
        if root:
            rest["resourceType"] = (False, False, "", None)
        for key, (kind, element, _) in plan.table.items():
            choice = element.name if element.choice else None
            rest[key] = (kind == K_PRIMITIVE_EXT, element.many, element.key, choice)
        self.emit(0, f"def {name}(o, d, c):", f'    """{plan.node.path}{" (resource)" if root else ""}"""')
        if any(e.min > 1 or e.max > 1 for e in plan.node.elements.values()):
            self.emit(1, "return False  # bounds R4 never defines: the reporting validator decides", "")
            return
        if root:  # a resource: its resourceType is known, there is no ele-1
            self.emit(1, "n = len(o) - 1", f"if d >= {MAX_DEPTH}:", "    return False")
        else:  # ele-1: a value or children (an id alone is refused where the id is tested)
            self.emit(1, "n = len(o)", f"if not n or d >= {MAX_DEPTH}:", "    return False")
        self.emit(1, "d1 = d + 1")
        for position, group in enumerate(groups):
            done = "True" if position >= last_required else "False"
            lines = list(self.group_lines(plan, group, required.get(group[0].name, 0), done, root))
            if ele1 and not root and group[0].key == "id":  # ele-1: an id alone is no value nor child
                lines[1:1] = ["    if len(o) == 1:", "        return False"]
            self.emit(1, *lines)
        self.emit(1, f"return rest(o, d1, c, {self.constant(rest, 'R')})", "")

    def group_lines(
        self, plan: Plan, group: list[Element], minimum: int, done: str, root: bool
    ) -> Iterator[str]:
        """One element, or the types of one choice element.

        Of a choice element, the first type present is checked; a second one is never counted, so
        that ``rest()`` sees it (and refuses it).
        """
        companions = [f"_{e.key}" for e in group if e.primitive]
        guarded = len(group) >= _GUARDED_CHOICE
        indent = "    " if guarded else ""
        if guarded:
            yield f"if not o.keys().isdisjoint({self.constant(frozenset(e.key for e in group), 'K')}):"
        for number, element in enumerate(group):
            yield f"{indent}{'elif' if number else 'if'} (v := o.get({element.key!r})) is not None:"
            for line in self.value_lines(plan, element, root):
                yield f"{indent}    {line}"
            yield f"{indent}    n -= 1"
            yield f"{indent}    if not n:"
            yield f"{indent}        return {done}"
        if minimum:  # required: absent, or only its "_x" companion
            yield "else:"
            if len(companions) == 1:
                yield f"    if {companions[0]!r} not in o:"
                yield "        return False"
            elif companions:
                yield f"    if not ({self.any_of(companions)}):"
                yield "        return False"
            else:
                yield "    return False"


def _groups(plan: Plan, root: bool) -> list[list[Element]]:
    """The node's elements, choice types grouped, in test order.

    The node function stops after the last property of the object, so the likeliest properties
    should come first. Before any object is seen: the required elements, then (in a resource) id,
    meta, text, contained and extension, the other elements in definition order, and the
    inherited ones that few objects have last.
    """
    groups: dict[str, list[Element]] = {}
    for element in plan.node.elements.values():
        groups.setdefault(element.name, []).append(element)
    required = {name for name, _, _ in plan.required}
    late = _RESOURCE_LATE if root else _ELEMENT_BASE
    first = [g for name, g in groups.items() if name in required]
    if root:
        first += [groups[name] for name in _RESOURCE_EARLY if name in groups and name not in required]
    middle = [g for name, g in groups.items() if name not in required and name not in late and g not in first]
    return first + middle + [groups[name] for name in late if name in groups and name not in required]
