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
so it walks precompiled tables from :mod:`hygie.fhir.definitions` and builds FHIRPath locations
only for the issues it reports.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any, Final, TypeAlias

from hygie.fhir import primitives
from hygie.fhir.definitions import (
    RESOURCE_TYPES,
    SPECIAL_DIV,
    SPECIAL_REFERENCE,
    SPECIAL_URI,
    Element,
    Node,
    registry,
)
from hygie.fhir.messages import register
from hygie.fhir.outcome import Issue

MAX_ISSUES: Final = 100
MAX_DEPTH: Final = 64  # nested JSON objects; R4 resources in the wild stay far below

# A location: (parent, FHIRPath segment, index or -1); rendered only when an issue is reported.
Loc: TypeAlias = "tuple[Loc | None, str, int]"

_ID = r"[A-Za-z0-9\-\.]{1,64}"
_RELATIVE_RE: Final = re.compile(rf"([A-Za-z]+)/{_ID}(/_history/{_ID})?")
_LOCAL_RE: Final = re.compile(rf"#({_ID})?")
_ABSOLUTE_RE: Final = re.compile(r"https?://[^\s/]+/\S*")
_CONDITIONAL_RE: Final = re.compile(r"([A-Za-z]+)\?\S+")
_EVENT_ATTRIBUTE_RE: Final = re.compile(r"<[^>]*\son[a-z]+\s*=")
_ROOT: Final = 1  # walk() mode: a resource (resourceType allowed)
_HAS_VALUE: Final = 2  # walk() mode: the Element of a primitive that has a value (id alone is fine)
_CONDITIONAL_BUNDLES: Final = frozenset({"transaction", "batch"})

register(
    {
        "validation.resource_not_object": {
            "fr": "Une ressource doit être un objet JSON.",
            "en": "A resource must be a JSON object.",
        },
        "validation.resource_type_missing": {
            "fr": "La propriété resourceType est absente.",
            "en": "The resourceType property is missing.",
        },
        "validation.resource_type_unknown": {
            "fr": "Type de ressource inconnu : {type}.",
            "en": "Unknown resource type: {type}.",
        },
        "validation.resource_type_mismatch": {
            "fr": "Type de ressource {type} reçu alors que {expected} est attendu.",
            "en": "Resource type {type} received where {expected} is expected.",
        },
        "validation.unknown_element": {
            "fr": "Élément inconnu : {name}.",
            "en": "Unknown element: {name}.",
        },
        "validation.expected_array": {
            "fr": "L'élément {name} est répétable et doit être un tableau JSON.",
            "en": "Element {name} repeats and must be a JSON array.",
        },
        "validation.unexpected_array": {
            "fr": "L'élément {name} ne se répète pas et ne doit pas être un tableau JSON.",
            "en": "Element {name} does not repeat and must not be a JSON array.",
        },
        "validation.expected_object": {
            "fr": "L'élément {name} doit être un objet JSON.",
            "en": "Element {name} must be a JSON object.",
        },
        "validation.empty_object": {
            "fr": "Un élément doit avoir une valeur ou des enfants (ele-1) : objet vide interdit.",
            "en": "An element must have a value or children (ele-1): empty objects are not allowed.",
        },
        "validation.empty_array": {
            "fr": "Les tableaux vides sont interdits ; omettre l'élément {name}.",
            "en": "Empty arrays are not allowed; omit element {name}.",
        },
        "validation.null_value": {
            "fr": "null n'est permis que dans un tableau aligné sur des extensions de primitive.",
            "en": "null is only allowed in an array aligned with primitive extensions.",
        },
        "validation.too_many": {
            "fr": "L'élément {name} admet au plus {max} valeur(s), {count} reçue(s).",
            "en": "Element {name} allows at most {max} value(s), {count} received.",
        },
        "validation.too_few": {
            "fr": "L'élément {name} exige au moins {min} valeur(s), {count} reçue(s).",
            "en": "Element {name} requires at least {min} value(s), {count} received.",
        },
        "validation.missing_required": {
            "fr": "L'élément obligatoire {name} est absent.",
            "en": "Required element {name} is missing.",
        },
        "validation.choice_multiple": {
            "fr": "Une seule variante de l'élément {name} est permise.",
            "en": "Only one variant of element {name} is allowed.",
        },
        "validation.wrong_json_type": {
            "fr": "Une valeur {type} doit être un {json} JSON.",
            "en": "A {type} value must be a JSON {json}.",
        },
        "validation.invalid_primitive": {
            "fr": "Valeur invalide pour le type {type}.",
            "en": "Invalid value for type {type}.",
        },
        "validation.code_not_in_value_set": {
            "fr": "Le code « {code} » n'appartient pas au jeu de valeurs obligatoire {valueSet}.",
            "en": "Code '{code}' is not in the required value set {valueSet}.",
        },
        "validation.concept_not_in_value_set": {
            "fr": "Aucun codage ne provient du jeu de valeurs obligatoire {valueSet}.",
            "en": "No coding comes from the required value set {valueSet}.",
        },
        "validation.reference_syntax": {
            "fr": "Référence invalide « {reference} » (attendu Type/id, URL absolue, #id, urn:uuid: ou "
            "urn:oid:).",
            "en": "Invalid reference '{reference}' (expected Type/id, absolute URL, #id, urn:uuid: or "
            "urn:oid:).",
        },
        "validation.reference_unknown_type": {
            "fr": "La référence vise un type de ressource inconnu : {type}.",
            "en": "The reference targets an unknown resource type: {type}.",
        },
        "validation.primitive_extension_mismatch": {
            "fr": "Le tableau _{name} doit avoir la même longueur que {name}.",
            "en": "Array _{name} must have the same length as {name}.",
        },
        "validation.contained_nested": {
            "fr": "Une ressource contenue ne peut pas contenir d'autres ressources (dom-2).",
            "en": "A contained resource must not contain other resources (dom-2).",
        },
        "validation.contained_meta": {
            "fr": "Une ressource contenue ne peut pas avoir meta.versionId ni meta.lastUpdated (dom-4).",
            "en": "A contained resource must not have meta.versionId or meta.lastUpdated (dom-4).",
        },
        "validation.contained_unreferenced": {
            "fr": "La ressource contenue « {id} » n'est référencée nulle part dans la ressource (dom-3).",
            "en": "Contained resource '{id}' is not referenced from elsewhere in the resource (dom-3).",
        },
        "validation.narrative_div": {
            "fr": "Le texte narratif doit être un élément XHTML <div> (txt-1).",
            "en": "The narrative must be an XHTML <div> element (txt-1).",
        },
        "validation.narrative_unsafe": {
            "fr": "Le texte narratif ne doit contenir ni script ni attribut d'événement (txt-1).",
            "en": "The narrative must not contain scripts or event attributes (txt-1).",
        },
        "validation.extension_value_and_children": {
            "fr": "Une extension a soit une valeur, soit des sous-extensions, pas les deux (ext-1).",
            "en": "An extension has either a value or sub-extensions, not both (ext-1).",
        },
        "validation.too_deep": {
            "fr": "Imbrication trop profonde (plus de {max} niveaux) : validation interrompue.",
            "en": "Nesting too deep (more than {max} levels): validation stopped.",
        },
        "validation.too_many_issues": {
            "fr": "Plus de {max} problèmes : validation interrompue.",
            "en": "More than {max} issues: validation stopped.",
        },
    }
)


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
    __slots__ = ("depth", "element_node", "issues", "nodes", "scope")

    def __init__(self) -> None:
        self.issues: list[Issue] = []
        self.depth = 0  # nested JSON objects
        self.scope = _Scope(False)  # the resource being walked
        self.nodes = registry().nodes
        self.element_node = self.nodes["Element"]

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
        if rtype == "Bundle" and _is_one_of(value.get("type"), _CONDITIONAL_BUNDLES):
            scope.conditional = True
        outer, self.scope = self.scope, scope
        self.walk(value, self.nodes[rtype], here, _ROOT)
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

    def walk(self, obj: dict[str, Any], node: Node, loc: Loc, mode: int = 0) -> None:
        """Check one JSON object against a type or backbone element (``mode``: _ROOT, _HAS_VALUE)."""
        if self.depth >= MAX_DEPTH:
            self.add("too-costly", "validation.too_deep", loc, max=MAX_DEPTH)
            return
        root = mode == _ROOT
        if not obj or (len(obj) == 1 and "id" in obj and not mode):  # ele-1
            self.add("structure", "validation.empty_object", loc)
            return
        self.depth += 1
        elements = node.elements
        variants: dict[str, str] | None = None
        for key, value in obj.items():
            element = elements.get(key)
            if element is None:
                if type(key) is str and key[:1] == "_":
                    element = elements.get(key[1:])
                    if element is not None and element.primitive:
                        if element.choice:
                            variants = self.variant(variants, element, loc)
                        self.primitive_extension(obj, element, value, loc)
                        continue
                elif root and key == "resourceType":
                    continue
                name = _shorten(key)
                self.add("structure", "validation.unknown_element", (loc, name, -1), name=name)
                continue
            if element.choice:
                variants = self.variant(variants, element, loc)
            if element.many:
                self.array(obj, element, value, loc)
            elif type(value) is list:
                self.add("structure", "validation.unexpected_array", (loc, element.label, -1), name=key)
            elif value is None:
                self.add("structure", "validation.null_value", (loc, element.label, -1))
            else:
                self.value(element, value, (loc, element.label, -1))
        self.depth -= 1
        if node.required:
            self.required(obj, node, loc)

    def required(self, obj: dict[str, Any], node: Node, loc: Loc) -> None:
        for name, minimum, keys in node.required:
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

    def variant(self, variants: dict[str, str] | None, element: Element, loc: Loc) -> dict[str, str]:
        if variants is None:
            variants = {}
        previous = variants.setdefault(element.name, element.key)
        if previous != element.key:
            self.add("structure", "validation.choice_multiple", (loc, element.label, -1), name=element.name)
        return variants

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
            if item is None:
                if not (element.primitive and _has_extension_at(obj, element.key, index)):
                    self.add("structure", "validation.null_value", (loc, element.label, index))
                continue
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
        self.walk(value, node, loc)
        if element.system_codes is not None:
            self.coded(element, value, loc)
        elif element.type_code == "Extension":
            has_value = any(type(k) is str and k.startswith(("value", "_value")) for k in value)
            if has_value and "extension" in value:
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
        self.walk(value, self.element_node, loc, _HAS_VALUE if has_value else 0)

    # -- special rules -------------------------------------------------------------------------

    def reference(self, text: str, loc: Loc) -> None:
        if text[0] == "#":
            if _LOCAL_RE.fullmatch(text):
                self.scope.refs.add(text)
                return
        elif (match := _RELATIVE_RE.fullmatch(text)) is not None:
            if match[1] not in RESOURCE_TYPES:
                self.add("value", "validation.reference_unknown_type", loc, type=_shorten(match[1], 64))
            return
        elif text.startswith("urn:"):
            if primitives.UUID_RE.fullmatch(text) or primitives.OID_RE.fullmatch(text):
                return
        elif _ABSOLUTE_RE.fullmatch(text):
            return
        elif self.scope.conditional and (match := _CONDITIONAL_RE.fullmatch(text)) is not None:
            if match[1] not in RESOURCE_TYPES:
                self.add("value", "validation.reference_unknown_type", loc, type=_shorten(match[1], 64))
            return
        self.add("value", "validation.reference_syntax", loc, reference=_shorten(text))

    def div(self, text: str, loc: Loc) -> None:
        if not text.lstrip().startswith("<div"):
            self.add("invariant", "validation.narrative_div", loc)
            return
        lowered = text.lower()
        if "<script" in lowered or _EVENT_ATTRIBUTE_RE.search(lowered):
            self.add("invariant", "validation.narrative_unsafe", loc)

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
    validator = _Validator()
    with contextlib.suppress(_StopError):
        validator.resource(resource, None, expected_type, _Scope(False))
    return validator.issues
