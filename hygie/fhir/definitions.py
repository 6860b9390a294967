"""FHIR R4 type registry compiled from the shipped core definitions.

Spec: https://hl7.org/fhir/R4/structuredefinition.html (element definitions, choice types
https://hl7.org/fhir/R4/formats.html#choice, content references
https://hl7.org/fhir/R4/elementdefinition-definitions.html#ElementDefinition.contentReference).

``hygie/fhir/data/r4-definitions.json.gz`` (written by :mod:`hygie.fhir.build_definitions` from the
HL7 FHIR R4 4.0.1 core package, CC0) is read once and compiled into :class:`Node` tables: for each
type or backbone element, a dict from JSON property name (choice types expanded, e.g.
``valueQuantity``) to :class:`Element`. The validator walks those tables; :mod:`hygie.fhir.summary`
uses :attr:`Element.summary` (https://hl7.org/fhir/R4/search.html#summary).
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Final, TypeAlias

DATA_FILE: Final = "r4-definitions.json.gz"
FLAG_SUMMARY: Final = 1  # element row flags, see hygie.fhir.build_definitions
FLAG_MODIFIER: Final = 2
_Spec: TypeAlias = tuple[int, int, "str | None"]  # (min, max, required value set)

# Element.special values: checks beyond the element's type.
SPECIAL_NONE: Final = 0
SPECIAL_REFERENCE: Final = 1  # Reference.reference: literal reference syntax
SPECIAL_DIV: Final = 2  # Narrative.div: xhtml rules
SPECIAL_URI: Final = 3  # canonical/uri/url: may point at a contained resource ("#id")


@dataclass(slots=True, eq=False)
class Node:
    """A type or backbone element: its children by JSON property name."""

    path: str
    elements: dict[str, Element] = field(default_factory=dict, repr=False)
    # (element name as defined, min, JSON keys that make it present), for min >= 1 elements.
    required: tuple[tuple[str, int, tuple[str, ...]], ...] = field(default=(), repr=False)
    # JSON keys of the elements in the summary form (``Element.summary``), without ``_`` companions.
    summary: frozenset[str] = field(default=frozenset(), repr=False)


@dataclass(slots=True, eq=False)
class Element:
    """One JSON property of a :class:`Node` (one type of a choice element)."""

    key: str  # JSON property name: "status", "valueQuantity"
    label: str  # FHIRPath segment: "status", "value.ofType(Quantity)"
    name: str  # element name as defined: "status", "value[x]"
    type_code: str
    min: int
    max: int  # -1 for "*"
    many: bool
    choice: bool
    primitive: bool
    is_resource: bool
    node: Node | None = field(default=None, repr=False)
    codes: frozenset[str] | None = None  # required binding of a code
    system_codes: dict[str, frozenset[str]] | None = None  # required binding of a CodeableConcept
    value_set: str | None = None
    special: int = SPECIAL_NONE
    summary: bool = False  # part of the _summary=true form (see _is_summary)
    modifier: bool = False  # ElementDefinition.isModifier


@dataclass(frozen=True, slots=True)
class Registry:
    """The compiled R4 definitions."""

    fhir_version: str
    licence: str
    resource_types: frozenset[str]
    primitive_types: frozenset[str]
    nodes: dict[str, Node]  # type name -> node (resources and complex types)
    value_sets: dict[str, dict[str, frozenset[str]]]


@cache
def _raw() -> dict[str, Any]:
    data = resources.files("hygie.fhir").joinpath("data", DATA_FILE).read_bytes()
    document: dict[str, Any] = json.loads(gzip.decompress(data))
    return document


def _is_summary(parent: str, minimum: int, flags: int) -> bool:
    """Whether an element belongs to the ``_summary=true`` form.

    ``isSummary`` as published, plus the rule of its definition
    (https://hl7.org/fhir/R4/elementdefinition-definitions.html#ElementDefinition.isSummary): an
    element at the root of a resource or data type whose minimum cardinality is 1 or that is a
    modifier must be in the summary. The R4 tables miss it for a few (``DomainResource.modifierExtension``
    on every resource, ``AuditEvent.agent``…): a summary must never hide a modifier extension.
    """
    if flags & FLAG_SUMMARY:
        return True
    return parent == "" and (minimum > 0 or bool(flags & FLAG_MODIFIER))


def _choice_key(base: str, type_code: str) -> str:
    return base + type_code[0].upper() + type_code[1:]


class _Compiler:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.primitives = frozenset(raw["primitiveTypes"])
        self.value_sets = {
            url: {system: frozenset(codes) for system, codes in systems.items()}
            for url, systems in raw["valueSets"].items()
        }
        self.types: dict[str, dict[str, Any]] = raw["types"]
        self.nodes: dict[str, Node] = {name: Node(name) for name in self.types}

    def compile(self) -> dict[str, Node]:
        for name, spec in self.types.items():
            self._compile_type(name, spec["elements"])
        return self.nodes

    def _compile_type(self, type_name: str, rows: list[list[Any]]) -> None:
        backbones: dict[str, Node] = {"": self.nodes[type_name]}
        parents = {row[0].rpartition(".")[0] for row in rows}
        for row in rows:
            if row[0] in parents:
                backbones[row[0]] = Node(f"{type_name}.{row[0]}")
        children: dict[str, list[Element]] = {path: [] for path in backbones}
        requirements: dict[str, list[tuple[str, int, tuple[str, ...]]]] = {p: [] for p in backbones}
        for rel, minimum, maximum, type_codes, content_ref, vs, flags in rows:
            parent, _, name = rel.rpartition(".")
            spec = (minimum, maximum, vs)
            if content_ref is not None:
                target = backbones[content_ref[1:].partition(".")[2]]
                elements = [self._element(name, name, "BackboneElement", spec, node=target)]
            elif rel in backbones:
                elements = [self._element(name, name, "BackboneElement", spec, node=backbones[rel])]
            elif name.endswith("[x]"):
                base = name[:-3]
                elements = [self._element(_choice_key(base, code), name, code, spec) for code in type_codes]
            else:
                elements = [self._element(name, name, type_codes[0], spec)]
            self._specialise(type_name, rel, elements)
            summary = _is_summary(parent, minimum, flags)
            for element in elements:
                element.summary = summary
                element.modifier = bool(flags & FLAG_MODIFIER)
            children[parent].extend(elements)
            if minimum > 0:
                keys = [e.key for e in elements] + ["_" + e.key for e in elements if e.primitive]
                requirements[parent].append((name, minimum, tuple(keys)))
        for path, node in backbones.items():
            node.elements = {e.key: e for e in children[path]}
            node.required = tuple(requirements[path])
            node.summary = frozenset(e.key for e in children[path] if e.summary)

    def _element(
        self, key: str, name: str, type_code: str, spec: _Spec, *, node: Node | None = None
    ) -> Element:
        minimum, maximum, vs = spec
        choice = name.endswith("[x]")
        primitive = type_code in self.primitives
        element = Element(
            key=key,
            label=f"{name[:-3]}.ofType({type_code})" if choice else name,
            name=name,
            type_code=type_code,
            min=minimum,
            max=maximum,
            many=maximum != 1,
            choice=choice,
            primitive=primitive,
            is_resource=type_code == "Resource",
            node=node if node is not None or primitive else self.nodes.get(type_code),
        )
        enumerated = self.value_sets.get(vs) if vs else None
        if enumerated is not None:
            element.value_set = vs
            if type_code == "code":
                element.codes = frozenset().union(*enumerated.values())
            elif type_code in ("Coding", "CodeableConcept"):
                element.system_codes = enumerated
        return element

    @staticmethod
    def _specialise(type_name: str, rel: str, elements: list[Element]) -> None:
        for element in elements:
            if type_name == "Reference" and rel == "reference":
                element.special = SPECIAL_REFERENCE
            elif type_name == "Narrative" and rel == "div":
                element.special = SPECIAL_DIV
            elif element.type_code in ("canonical", "uri", "url"):
                element.special = SPECIAL_URI


@cache
def registry() -> Registry:
    """The compiled R4 definitions (built once per process)."""
    raw = _raw()
    compiler = _Compiler(raw)
    nodes = compiler.compile()
    return Registry(
        fhir_version=raw["fhirVersion"],
        licence=raw["licence"],
        resource_types=frozenset(raw["resourceTypes"]),
        primitive_types=compiler.primitives,
        nodes=nodes,
        value_sets=compiler.value_sets,
    )


RESOURCE_TYPES: Final[frozenset[str]] = frozenset(_raw()["resourceTypes"])
PRIMITIVE_TYPES: Final[frozenset[str]] = frozenset(_raw()["primitiveTypes"])
FHIR_VERSION: Final[str] = str(_raw()["fhirVersion"])


def is_resource_type(name: object) -> bool:
    """True for a concrete R4 resource type name (``Patient``; not ``Resource``/``DomainResource``)."""
    return type(name) is str and name in RESOURCE_TYPES


def type_node(name: str) -> Node | None:
    """The element table of a resource or complex type, or None if unknown."""
    return registry().nodes.get(name)


def resource_node(name: str) -> Node | None:
    """The element table of a concrete resource type, or None if unknown or abstract."""
    return registry().nodes.get(name) if name in RESOURCE_TYPES else None


def value_set_codes(url: str) -> dict[str, frozenset[str]] | None:
    """Codes by system of a required-binding value set that the core package enumerates."""
    return registry().value_sets.get(url.split("|", 1)[0])
