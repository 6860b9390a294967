"""Runtime helpers of the FHIRPath subset: navigation, type tests, equality, ``resolve()``.

Specs: https://hl7.org/fhirpath/N1/ (collections, equality, type operators) and
https://hl7.org/fhir/R4/fhirpath.html (``resolve()``, choice elements ``value[x]``).

Resources are plain JSON dicts; a FHIRPath collection is a Python list. Shared by the generic
compiler (:mod:`hygie.fhir.fhirpath`) and the specialised paths (:mod:`hygie.fhir.fhirpath_fast`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hygie.fhir.fhirpath_parser import FhirPathError

__all__ = ["CHOICE_ELEMENTS", "CHOICE_SUFFIXES", "ResolvedReference", "is_type", "reference_type"]


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
    if "/" not in reference:  # urn:uuid:..., #contained: skip the regex (it needs Type/id)
        return None
    match = _REF_TAIL.search(reference.split("|", 1)[0])
    return match.group(1) if match else None


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


def _typed_keys(name: str, type_name: str) -> tuple[str, ...]:
    """The choice keys ``name as type_name`` looks up: ``value as Quantity`` → valueQuantity, valueAge..."""
    suffixes = _SUBTYPES.get(type_name, (type_name[:1].upper() + type_name[1:],))
    return tuple(name + suffix for suffix in suffixes)


def _typed_children(
    coll: list[Any], name: str, type_name: str, keys: tuple[str, ...] | None = None
) -> list[Any]:
    """``name as type_name``: the choice key ``name<Type>`` if present, else a type-checked ``name``.

    ``keys`` is :func:`_typed_keys` of ``name`` and ``type_name``, if the caller computed it once.
    """
    if keys is None:
        keys = _typed_keys(name, type_name)
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


def _target_type(item: str | dict[str, Any], root: dict[str, Any]) -> Any:
    """The target type ``resolve()`` finds for a reference string or a Reference (None if unknown)."""
    if isinstance(item, str):
        return reference_type(item)
    ref = item.get("reference")
    target: Any = None
    if isinstance(ref, str):
        if ref.startswith("#"):
            for contained in root.get("contained") or ():
                if isinstance(contained, dict) and contained.get("id") == ref[1:]:
                    target = contained.get("resourceType")
        else:
            target = reference_type(ref)
    if target is None and isinstance(item.get("type"), str):
        target = item["type"]
    return target


def _resolve(item: Any, root: dict[str, Any]) -> ResolvedReference | None:
    if isinstance(item, str | dict):
        return ResolvedReference(_target_type(item, root), item)
    return None


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
