"""The registry of FHIR R4 search parameters and compartment definitions.

Specs: https://hl7.org/fhir/R4/searchparameter.html, https://hl7.org/fhir/R4/search.html,
https://hl7.org/fhir/R4/compartmentdefinition.html

The default registry is loaded once from ``hygie/fhir/data/r4-searchparams.json.gz``, built from
the official R4 core package by ``python -m hygie.fhir.build_searchparams``. Official expressions
are unions shared by several base types (``AllergyIntolerance.code | Condition.code | ...``): the
registry keeps, per base type, only the part of the expression that applies to it
(:func:`split_expression`). Parameters defined on ``Resource`` / ``DomainResource`` (``_id``,
``_lastUpdated``, ``_tag``, ``_profile``, ``_security``, ``_source``, ``_text``, ``_content``,
``_query``, ``_filter``) apply to every resource type and are marked ``common``.

Custom SearchParameter resources are added with :meth:`Registry.with_custom`, which returns a new
registry (registries are immutable, so compiled plans cached per registry stay valid).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from hygie.fhir.messages import register
from hygie.fhir.outcome import FhirError

DATA_FILE = Path(__file__).parent / "data" / "r4-searchparams.json.gz"
RESOURCE_BASES = ("Resource", "DomainResource")
PARAM_TYPES = frozenset(
    {"number", "date", "string", "token", "reference", "composite", "quantity", "uri", "special"}
)

register(
    {
        "searchparam-invalid": {
            "fr": "SearchParameter invalide : {reason}",
            "en": "Invalid SearchParameter: {reason}",
        },
    }
)


@dataclass(frozen=True, slots=True)
class Component:
    """One part of a composite parameter: the component parameter's code and its relative expression."""

    code: str
    definition: str
    expression: str


@dataclass(frozen=True, slots=True)
class SearchParam:
    """A search parameter as it applies to one base type.

    ``expression`` is the FHIRPath expression restricted to ``base`` (``None`` when the parameter
    has none, e.g. ``_text``, ``_content``, ``_query``, ``_filter``). ``common`` is true for the
    parameters defined on Resource / DomainResource, which storage handles specially.
    """

    code: str
    type: str
    expression: str | None
    base: str
    url: str = ""
    targets: tuple[str, ...] = ()
    components: tuple[Component, ...] = ()
    common: bool = False


def _split_top_level(expression: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    quote: str | None = None
    start = 0
    i = 0
    while i < len(expression):
        ch = expression[i]
        if quote is not None:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'`":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(expression[start:i].strip())
            start = i + 1
        i += 1
    parts.append(expression[start:].strip())
    return [p for p in parts if p]


def _leading_name(part: str) -> str:
    stripped = part.lstrip("( ")
    name = []
    for ch in stripped:
        if not (ch.isalnum() or ch == "_"):
            break
        name.append(ch)
    return "".join(name)


def split_expression(expression: str, base: str) -> str | None:
    """The union members of ``expression`` that apply to ``base`` (``None`` if none does).

    A member applies to ``base`` when it starts with that type name; members that do not start with
    a type name (``extension(...)``, ``%resource...``) apply to every base.
    """
    kept = []
    for part in _split_top_level(expression):
        name = _leading_name(part)
        if name == base or not name[:1].isupper():
            kept.append(part)
    return " | ".join(kept) if kept else None


def _param_from_json(data: Mapping[str, Any], base: str) -> SearchParam:
    return SearchParam(
        code=data["code"],
        type=data["type"],
        expression=data.get("expression"),
        base=base,
        url=data.get("url", ""),
        targets=tuple(data.get("targets", ())),
        components=tuple(
            Component(c["code"], c.get("definition", ""), c["expression"]) for c in data.get("components", ())
        ),
        common=base in RESOURCE_BASES,
    )


def param_to_json(param: SearchParam) -> dict[str, Any]:
    """The compact JSON form stored in the data file (inverse of the loader)."""
    out: dict[str, Any] = {"code": param.code, "type": param.type, "url": param.url}
    if param.expression is not None:
        out["expression"] = param.expression
    if param.targets:
        out["targets"] = list(param.targets)
    if param.components:
        out["components"] = [
            {"code": c.code, "definition": c.definition, "expression": c.expression} for c in param.components
        ]
    return out


def _invalid(reason: str) -> FhirError:
    return FhirError.of(422, "invalid", "searchparam-invalid", reason=reason)


def params_from_resource(resource: Mapping[str, Any], code_by_url: Mapping[str, str]) -> list[SearchParam]:
    """Turn one SearchParameter resource into one :class:`SearchParam` per base type.

    ``code_by_url`` maps SearchParameter canonical URLs to codes, to name composite components.
    Raises :class:`FhirError` (422) when the resource lacks a code, a type or a base.
    """
    code, param_type, bases = resource.get("code"), resource.get("type"), resource.get("base")
    if not isinstance(code, str) or not code:
        raise _invalid("code")
    if param_type not in PARAM_TYPES:
        raise _invalid("type")
    if not isinstance(bases, list) or not bases or not all(isinstance(b, str) for b in bases):
        raise _invalid("base")
    expression = resource.get("expression")
    if expression is not None and not isinstance(expression, str):
        raise _invalid("expression")
    components = []
    for comp in resource.get("component") or ():
        definition = comp.get("definition", "")
        comp_code = code_by_url.get(definition) or definition.rsplit("/", 1)[-1].split("-", 1)[-1]
        components.append(Component(comp_code, definition, comp.get("expression", "")))
    out = []
    for base in bases:
        part = split_expression(expression, base) if expression else None
        out.append(
            SearchParam(
                code=code,
                type=str(param_type),
                expression=part,
                base=base,
                url=str(resource.get("url", "")),
                targets=tuple(resource.get("target") or ()),
                components=tuple(components),
                common=base in RESOURCE_BASES,
            )
        )
    return out


class Registry:
    """Search parameters per base type, resource types and compartments (immutable)."""

    def __init__(
        self,
        params: Mapping[str, Mapping[str, SearchParam]],
        resource_types: Mapping[str, str],
        compartments: Mapping[str, Mapping[str, tuple[str, ...]]],
    ) -> None:
        self._params = {base: dict(by_code) for base, by_code in params.items()}
        self._resource_types = dict(resource_types)
        self._compartments = {name: dict(members) for name, members in compartments.items()}
        self._merged: dict[str, dict[str, SearchParam]] = {}
        self._by_url = {p.url: p for by_code in self._params.values() for p in by_code.values() if p.url}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Registry:
        params = {
            base: {code: _param_from_json(entry, base) for code, entry in by_code.items()}
            for base, by_code in data["params"].items()
        }
        compartments = {
            name: {rt: tuple(codes) for rt, codes in members.items()}
            for name, members in data["compartments"].items()
        }
        return cls(params, data["resourceTypes"], compartments)

    def resource_types(self) -> frozenset[str]:
        """Concrete resource type names."""
        return frozenset(self._resource_types)

    def params_for(self, resource_type: str) -> dict[str, SearchParam]:
        """Every parameter usable on ``resource_type`` (common ones included), by code."""
        merged = self._merged.get(resource_type)
        if merged is None:
            merged = {}
            parent = self._resource_types.get(resource_type)
            if parent is not None:
                merged.update(self._params.get("Resource", {}))
                if parent == "DomainResource":
                    merged.update(self._params.get("DomainResource", {}))
                merged.update(self._params.get(resource_type, {}))
            self._merged[resource_type] = merged
        return merged

    def search_param(self, resource_type: str, code: str) -> SearchParam | None:
        return self.params_for(resource_type).get(code)

    def by_url(self, url: str) -> SearchParam | None:
        """A parameter by its canonical URL (for one of its bases)."""
        return self._by_url.get(url)

    def compartments(self) -> dict[str, dict[str, tuple[str, ...]]]:
        """Compartment type (Patient, Encounter, ...) → member resource type → parameter codes."""
        return {name: dict(members) for name, members in self._compartments.items()}

    def compartment_params(self, compartment: str, resource_type: str) -> tuple[str, ...]:
        """Codes linking ``resource_type`` to a ``compartment`` (empty: not a member).

        ``{def}`` means the compartment resource itself (e.g. Practitioner in its own compartment).
        """
        return self._compartments.get(compartment, {}).get(resource_type, ())

    def with_custom(self, resources: Iterable[Mapping[str, Any]]) -> Registry:
        """A new registry with these SearchParameter resources added (replacing same base + code)."""
        resources = list(resources)
        code_by_url = {url: p.code for url, p in self._by_url.items()}
        code_by_url.update({r["url"]: r["code"] for r in resources if "url" in r and "code" in r})
        params = {base: dict(by_code) for base, by_code in self._params.items()}
        resource_types = dict(self._resource_types)
        for resource in resources:
            for param in params_from_resource(resource, code_by_url):
                if param.base not in resource_types and param.base not in RESOURCE_BASES:
                    raise _invalid(f"base {param.base}")
                params.setdefault(param.base, {})[param.code] = param
        return Registry(params, resource_types, self._compartments)


@cache
def default_registry() -> Registry:
    """The registry of the official R4 search parameters (loaded once)."""
    with gzip.open(DATA_FILE, "rb") as handle:
        return Registry.from_json(orjson.loads(handle.read()))


def params_for(resource_type: str) -> dict[str, SearchParam]:
    """Every parameter usable on ``resource_type`` in the default registry, by code."""
    return default_registry().params_for(resource_type)


def search_param(resource_type: str, code: str) -> SearchParam | None:
    """One parameter of the default registry, or ``None``."""
    return default_registry().search_param(resource_type, code)


def compartment_params(compartment: str, resource_type: str) -> tuple[str, ...]:
    """Codes linking ``resource_type`` to ``compartment`` in the default registry."""
    return default_registry().compartment_params(compartment, resource_type)
