"""Structural validation of FHIR R4 resources in their JSON form.

Spec: https://hl7.org/fhir/R4/validation.html, https://hl7.org/fhir/R4/json.html,
https://hl7.org/fhir/R4/datatypes.html, https://hl7.org/fhir/R4/references.html#literal,
https://hl7.org/fhir/R4/domainresource.html#invs (dom-2, dom-3, dom-4),
https://hl7.org/fhir/R4/narrative.html#rules, https://hl7.org/fhir/R4/extensibility.html#ext-1.

:func:`validate_resource` checks a resource against the base R4 definitions (not profiles):
resourceType, unknown elements, JSON types, cardinality, choice types, primitive values, required
bindings that the core package enumerates, literal reference syntax, contained-resource rules and
narrative safety. Nested resources (``contained``, ``Bundle.entry.resource``,
``Parameters.parameter.resource``) are validated against their own type. It runs on every write,
so it first runs the compiled acceptor of :mod:`hygie.fhir.validation_accept`, which proves most
resources valid without reporting anything. Only a resource the acceptor does not accept is
walked here, with the dispatch tables of :mod:`hygie.fhir.validation_plan` (one dict lookup per
JSON property, inline checks for the common valid values), falling back to the general checks
below only for values those inline checks do not accept, and rendering FHIRPath locations only
for the issues it reports. Diagnostics: :mod:`hygie.fhir.validation_messages`.
"""

from __future__ import annotations

from typing import Any, Final, TypeAlias

from hygie.fhir import primitives, validation_messages
from hygie.fhir.definitions import RESOURCE_TYPES, SPECIAL_DIV, SPECIAL_REFERENCE, SPECIAL_URI, Element
from hygie.fhir.outcome import Issue
from hygie.fhir.validation_accept import accepts
from hygie.fhir.validation_plan import (
    K_CODE,
    K_COMPLEX,
    K_LEXICAL,
    K_PRIMITIVE_EXT,
    K_REFERENCE,
    K_STRING,
    K_URI,
    MANY,
    MAX_DEPTH,
    REFERENCES,
    Plan,
    Plans,
    flat_ok,
    plans,
    scalar_ok,
)
from hygie.fhir.validation_rules import (
    CONDITIONAL_BUNDLES,
    REF_BAD,
    REF_LITERAL,
    REF_LOCAL,
    classify_reference,
    narrative_problem,
)

__all__ = ["MAX_DEPTH", "MAX_ISSUES", "Loc", "render_location", "validate_resource"]

MAX_ISSUES: Final = 100

# A location: (parent, FHIRPath segment, index or -1); rendered only when an issue is reported.
Loc: TypeAlias = "tuple[Loc | None, str, int]"

_ROOT: Final = 1  # walk() mode: a resource (resourceType allowed)
_HAS_VALUE: Final = 2  # walk() mode: the Element of a primitive that has a value (id alone is fine)
_MAX_CHARS: Final = primitives.MAX_STRING_CHARS
_MESSAGES: Final = validation_messages  # registers the diagnostics this module reports


class _StopError(Exception):
    """Raised when the issue cap is reached."""


class _Scope:
    """References seen within one resource, for dom-3 (contained resources must be referenced)."""

    __slots__ = ("conditional", "contained", "refs")

    def __init__(self, conditional: bool) -> None:
        self.conditional = conditional  # conditional references allowed (transaction/batch entries)
        self.refs: set[str] = set()  # local references ("#id", "#")
        self.contained: list[tuple[object, bool, Loc]] = []  # (id, refers to container, location)


def render_location(loc: Loc | None) -> str:
    """Render a location as a FHIRPath expression (``Patient.name[0].given[1]``)."""
    parts: list[str] = []
    while loc is not None:
        parent, segment, index = loc
        parts.append(segment if index < 0 else f"{segment}[{index}]")
        loc = parent
    return ".".join(reversed(parts))


def _shorten(value: object, limit: int = 80) -> str:
    """A short text for diagnostics; never formats hostile nested values."""
    text = value if type(value) is str else f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Validator:
    __slots__ = ("by_node", "depth", "element_plan", "issues", "resource_plans", "scope")

    def __init__(self, tables: Plans) -> None:
        self.issues: list[Issue] = []
        self.depth = 0  # nested JSON objects
        self.scope = _Scope(False)  # the resource being walked
        self.by_node = tables.by_node
        self.resource_plans = tables.resources
        self.element_plan = tables.element

    def add(self, issue_type: str, key: str, loc: Loc | None, /, **params: Any) -> None:
        expression = (render_location(loc),)
        if len(self.issues) >= MAX_ISSUES:
            self.issues.append(
                Issue(
                    code="too-costly",
                    key="validation.too_many_issues",
                    params={"max": MAX_ISSUES},
                    expression=expression,
                )
            )
            raise _StopError
        self.issues.append(Issue(code=issue_type, key=key, params=params, expression=expression))

    # -- resources -----------------------------------------------------------------------------

    def resource(self, value: object, loc: Loc | None, expected: str | None, scope: _Scope) -> None:
        if type(value) is not dict:
            self.add("structure", "validation.resource_not_object", loc or (None, expected or "Resource", -1))
            return
        rtype = value.get("resourceType")
        known = type(rtype) is str and rtype in RESOURCE_TYPES
        here: Loc = loc or (None, rtype if known and isinstance(rtype, str) else "Resource", -1)
        if rtype is None:
            self.add("required", "validation.resource_type_missing", here)
            return
        if not known:
            self.add("invalid", "validation.resource_type_unknown", here, type=_shorten(rtype, 64))
            return
        if expected is not None and rtype != expected:
            self.add("invalid", "validation.resource_type_mismatch", here, type=rtype, expected=expected)
        if rtype == "Bundle" and _is_one_of(value.get("type"), CONDITIONAL_BUNDLES):
            scope.conditional = True
        outer, self.scope = self.scope, scope
        self.walk(value, self.resource_plans[rtype], here, _ROOT)
        self.scope = outer
        for contained_id, refers_to_container, contained_loc in scope.contained:
            if refers_to_container or (type(contained_id) is str and "#" + contained_id in scope.refs):
                continue
            self.add(
                "invariant", "validation.contained_unreferenced", contained_loc, id=_shorten(contained_id)
            )

    def contained(self, value: dict[str, Any], loc: Loc) -> None:
        scope = self.scope
        child = _Scope(scope.conditional)
        if "contained" in value:
            self.add("invariant", "validation.contained_nested", (loc, "contained", -1))
        meta = value.get("meta")
        if type(meta) is dict and ("versionId" in meta or "lastUpdated" in meta):
            self.add("invariant", "validation.contained_meta", (loc, "meta", -1))
        self.resource(value, loc, None, child)
        scope.refs |= child.refs
        scope.contained.append((value.get("id"), "#" in child.refs, loc))

    # -- complex values ------------------------------------------------------------------------

    def walk(self, obj: dict[str, Any], plan: Plan, loc: Loc, mode: int = 0) -> None:
        """Check one JSON object against a type or backbone element (``mode``: _ROOT, _HAS_VALUE).

        Each property's entry says which inline check proves a valid value right; a value that
        check does not accept (or an entry with no inline check) goes to :meth:`general`.
        """
        if self.depth >= MAX_DEPTH:
            self.add("too-costly", "validation.too_deep", loc, max=MAX_DEPTH)
            return
        if not obj or (len(obj) == 1 and "id" in obj and not mode):  # ele-1
            self.add("structure", "validation.empty_object", loc)
            return
        self.depth += 1
        table = plan.table
        variants: dict[str, str] | None = None
        for key, value in obj.items():
            entry = table.get(key)
            if entry is None:
                if not (mode == _ROOT and key == "resourceType"):
                    name = _shorten(key)
                    self.add("structure", "validation.unknown_element", (loc, name, -1), name=name)
                continue
            kind, element, arg = entry
            if element.choice:
                if variants is None:
                    variants = {element.name: element.key}
                elif variants.setdefault(element.name, element.key) != element.key:
                    self.add(
                        "structure", "validation.choice_multiple", (loc, element.label, -1), name=element.name
                    )
            if kind == K_STRING:
                if type(value) is str and value and len(value) <= _MAX_CHARS:
                    continue
            elif kind == K_COMPLEX:
                if type(value) is dict:
                    if not (arg.flat and flat_ok(value, arg, self.depth)):
                        self.walk(value, arg, (loc, element.label, -1))
                    continue
            elif kind >= MANY:
                if type(value) is list and value:
                    self.items(obj, element, kind - MANY, arg, value, loc)
                    continue
            elif kind == K_CODE:
                if type(value) is str and value in arg:
                    continue
            elif kind == K_LEXICAL:
                if type(value) is str and (value in arg or arg.learn(value)):
                    continue
            elif kind == K_URI:
                if type(value) is str and (value in arg or arg.learn(value)) and value[0] != "#":
                    continue
            elif kind == K_REFERENCE:
                if type(value) is str and value in REFERENCES:
                    continue
            elif kind == K_PRIMITIVE_EXT:
                self.primitive_extension(obj, element, value, loc)
                continue
            elif scalar_ok(kind, arg, value):
                continue
            self.general(obj, element, value, loc)
        self.depth -= 1
        if plan.required and not (plan.required_keys is not None and obj.keys() >= plan.required_keys):
            self.required(obj, plan, loc)

    def items(
        self, obj: dict[str, Any], element: Element, kind: int, arg: Any, value: list[Any], loc: Loc
    ) -> None:
        """The items of a repeating element (a non-empty JSON array)."""
        if 0 < element.max < len(value):
            self.add(
                "structure",
                "validation.too_many",
                (loc, element.label, -1),
                name=element.key,
                max=element.max,
                count=len(value),
            )
        label = element.label
        if kind == K_COMPLEX:
            flat, depth = arg.flat, self.depth
            for index, item in enumerate(value):
                if type(item) is dict:
                    if not (flat and flat_ok(item, arg, depth)):
                        self.walk(item, arg, (loc, label, index))
                else:
                    self.item(obj, element, item, loc, index)
            return
        for index, item in enumerate(value):
            if not scalar_ok(kind, arg, item):
                self.item(obj, element, item, loc, index)

    def general(self, obj: dict[str, Any], element: Element, value: object, loc: Loc) -> None:
        """Every check of one property's value, reporting what fails."""
        if element.many:
            self.array(obj, element, value, loc)
        elif type(value) is list:
            self.add("structure", "validation.unexpected_array", (loc, element.label, -1), name=element.key)
        elif value is None:
            self.add("structure", "validation.null_value", (loc, element.label, -1))
        else:
            self.value(element, value, (loc, element.label, -1))

    def required(self, obj: dict[str, Any], plan: Plan, loc: Loc) -> None:
        for name, minimum, keys in plan.required:
            for key in keys:
                if key in obj:
                    break
            else:
                label = name[:-3] if name.endswith("[x]") else name
                self.add("required", "validation.missing_required", (loc, label, -1), name=name)
                continue
            if minimum > 1:
                count = len(obj[keys[0]]) if type(obj.get(keys[0])) is list else 1
                if count < minimum:
                    self.add(
                        "required", "validation.too_few", (loc, name, -1), name=name, min=minimum, count=count
                    )

    def array(self, obj: dict[str, Any], element: Element, value: object, loc: Loc) -> None:
        if type(value) is not list:
            self.add("structure", "validation.expected_array", (loc, element.label, -1), name=element.key)
            return
        if not value:
            self.add("structure", "validation.empty_array", (loc, element.label, -1), name=element.key)
            return
        if 0 < element.max < len(value):
            self.add(
                "structure",
                "validation.too_many",
                (loc, element.label, -1),
                name=element.key,
                max=element.max,
                count=len(value),
            )
        for index, item in enumerate(value):
            self.item(obj, element, item, loc, index)

    def item(self, obj: dict[str, Any], element: Element, item: object, loc: Loc, index: int) -> None:
        if item is None:
            if not (element.primitive and _has_extension_at(obj, element.key, index)):
                self.add("structure", "validation.null_value", (loc, element.label, index))
            return
        self.value(element, item, (loc, element.label, index))

    def value(self, element: Element, value: object, loc: Loc) -> None:
        if element.primitive:
            self.primitive(element, value, loc)
            return
        if type(value) is not dict:
            self.add("structure", "validation.expected_object", loc, name=element.key)
            return
        if element.is_resource:
            if element.key == "contained":
                self.contained(value, loc)
            else:
                self.resource(value, loc, None, _Scope(self.scope.conditional))
            return
        node = element.node
        if node is None:  # abstract type (never in the base definitions)
            return
        self.walk(value, self.by_node[node], loc)
        if element.system_codes is not None:
            self.coded(element, value, loc)
        elif (
            element.type_code == "Extension"
            and "extension" in value
            and any(type(k) is str and k.startswith(("value", "_value")) for k in value)
        ):
            self.add("invariant", "validation.extension_value_and_children", loc)

    # -- primitives ----------------------------------------------------------------------------

    def primitive(self, element: Element, value: object, loc: Loc) -> None:
        result = primitives.CHECKERS[element.type_code](value)
        if result:
            if result == primitives.BAD_JSON_TYPE:
                self.add(
                    "structure",
                    "validation.wrong_json_type",
                    loc,
                    type=element.type_code,
                    json=primitives.json_type_of(element.type_code),
                )
            else:
                self.add("value", "validation.invalid_primitive", loc, type=element.type_code)
            return
        if element.codes is not None and value not in element.codes:
            self.add(
                "code-invalid",
                "validation.code_not_in_value_set",
                loc,
                code=_shorten(value),
                valueSet=element.value_set,
            )
            return
        special = element.special
        if special and type(value) is str:  # every special element is string-typed
            if special == SPECIAL_URI:
                if value[0] == "#":
                    self.scope.refs.add(value)
            elif special == SPECIAL_REFERENCE:
                self.reference(value, loc)
            elif special == SPECIAL_DIV:
                self.div(value, loc)

    def primitive_extension(self, obj: dict[str, Any], element: Element, value: object, loc: Loc) -> None:
        """The ``_name`` sibling of a primitive: an Element (id, extension) or an aligned array."""
        main = obj.get(element.key)
        if not element.many:
            self.element_extension(value, (loc, element.label, -1), main is not None)
            return
        if type(value) is not list:
            self.add(
                "structure", "validation.expected_array", (loc, element.label, -1), name="_" + element.key
            )
            return
        if main is not None and (type(main) is not list or len(main) != len(value)):
            self.add(
                "structure",
                "validation.primitive_extension_mismatch",
                (loc, element.label, -1),
                name=element.key,
            )
        for index, item in enumerate(value):
            if item is None:
                if main is None:
                    self.add("structure", "validation.null_value", (loc, element.label, index))
                continue
            has_value = type(main) is list and index < len(main) and main[index] is not None
            self.element_extension(item, (loc, element.label, index), has_value)

    def element_extension(self, value: object, loc: Loc, has_value: bool) -> None:
        if type(value) is not dict:
            self.add("structure", "validation.expected_object", loc, name="_" + loc[1])
            return
        self.walk(value, self.element_plan, loc, _HAS_VALUE if has_value else 0)

    # -- special rules -------------------------------------------------------------------------

    def reference(self, text: str, loc: Loc) -> None:
        kind, unknown_type = classify_reference(text, self.scope.conditional)
        if kind == REF_LOCAL:
            self.scope.refs.add(text)
        elif kind == REF_LITERAL:
            REFERENCES.remember(text)
        elif kind == REF_BAD:
            if unknown_type is not None:
                self.add("value", "validation.reference_unknown_type", loc, type=_shorten(unknown_type, 64))
            else:
                self.add("value", "validation.reference_syntax", loc, reference=_shorten(text))

    def div(self, text: str, loc: Loc) -> None:
        problem = narrative_problem(text)
        if problem is not None:
            self.add("invariant", problem, loc)

    def coded(self, element: Element, value: dict[str, Any], loc: Loc) -> None:
        """Required binding of a Coding or CodeableConcept to an enumerated value set."""
        systems = element.system_codes or {}
        if element.type_code == "Coding":
            codings: object = [value]
            coding_loc: Loc | None = None
        else:
            codings = value.get("coding")
            coding_loc = loc
            if codings is None:
                self.add(
                    "code-invalid", "validation.concept_not_in_value_set", loc, valueSet=element.value_set
                )
                return
        if type(codings) is not list:
            return  # already reported as a structure issue
        matched = reported = False
        for index, coding in enumerate(codings):
            if type(coding) is not dict or type(coding.get("system")) is not str:
                continue
            codes = systems.get(coding["system"])
            if codes is None:
                continue
            code = coding.get("code")
            if type(code) is str and code in codes:
                matched = True
                continue
            here: Loc = loc if coding_loc is None else (coding_loc, "coding", index)
            self.add(
                "code-invalid",
                "validation.code_not_in_value_set",
                (here, "code", -1),
                code=_shorten(code),
                valueSet=element.value_set,
            )
            reported = True
        if not matched and not reported:
            self.add("code-invalid", "validation.concept_not_in_value_set", loc, valueSet=element.value_set)


def _is_one_of(value: object, choices: frozenset[str]) -> bool:
    return type(value) is str and value in choices


def _has_extension_at(obj: dict[str, Any], key: str, index: int) -> bool:
    extensions = obj.get("_" + key)
    return type(extensions) is list and index < len(extensions) and type(extensions[index]) is dict


def validate_resource(resource: object, *, expected_type: str | None = None) -> list[Issue]:
    """Validate one resource (JSON-decoded) against the base R4 definitions.

    Returns every problem found (at most ``MAX_ISSUES`` plus one ``too-costly`` issue), each of
    severity ``error`` with a FHIRPath ``expression``; an empty list means the resource is valid.
    ``expected_type`` is the type the interaction requires (e.g. the ``[type]`` of the URL).
    """
    if accepts(resource, expected_type):  # the compiled checks prove most resources valid
        return []
    return _validate(resource, expected_type, plans())


def _validate(resource: object, expected_type: str | None, tables: Plans) -> list[Issue]:
    validator = _Validator(tables)
    try:  # noqa: SIM105 (cheaper than contextlib.suppress on this hot path)
        validator.resource(resource, None, expected_type, _Scope(False))
    except _StopError:
        pass  # the issue cap is reached: the last issue says so
    return validator.issues
