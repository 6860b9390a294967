"""Build the compact R4 definitions file that the validator ships with.

Spec: https://hl7.org/fhir/R4/structuredefinition.html, https://hl7.org/fhir/R4/valueset.html,
https://hl7.org/fhir/R4/codesystem.html

Reads the official HL7 FHIR R4 4.0.1 core package (``hl7.fhir.r4.core``, CC0) and writes
``hygie/fhir/data/r4-definitions.json.gz``: for every base type (StructureDefinitions of kind
resource, complex-type or primitive-type with derivation ``specialization``) the snapshot elements
reduced to what validation needs, plus the codes of every required-binding value set that can be
fully enumerated from the core CodeSystems. Run::

    .venv/bin/python -m hygie.fhir.build_definitions [--source /work/shared/data/fhir-r4-core]

Element rows are ``[path, min, max, types, contentReference, valueSet, flags]`` where ``path`` is
relative to the type (``component.code``), ``max`` is ``-1`` for ``*``, ``types`` lists type codes
(``Reference``, ``string``…; FHIRPath system types are mapped back to their FHIR type),
``contentReference`` and ``valueSet`` are ``null`` when absent, and ``flags`` is a bit set:
:data:`FLAG_SUMMARY` for ``ElementDefinition.isSummary`` (what ``_summary=true`` returns,
https://hl7.org/fhir/R4/elementdefinition-definitions.html#ElementDefinition.isSummary) and
:data:`FLAG_MODIFIER` for ``ElementDefinition.isModifier``. ``valueSets`` maps a value set URL to
``{system: [codes]}``.
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path
from typing import Any

DEFAULT_SOURCE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "fhir-r4-core"
OUTPUT = Path(__file__).resolve().parent / "data" / "r4-definitions.json.gz"
FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
LICENCE = (
    "Derived from the HL7 FHIR R4 4.0.1 core package (hl7.fhir.r4.core, https://hl7.org/fhir/R4/), "
    "licence CC0-1.0 (HL7 FHIR specification content)."
)
# Abstract base types: elements are inherited by the concrete types' snapshots.
ABSTRACT_TYPES = ("Resource", "DomainResource", "Element", "BackboneElement")
# Bits of the last element-row column.
FLAG_SUMMARY = 1
FLAG_MODIFIER = 2

Json = dict[str, Any]


def _load(source: Path, prefix: str) -> list[Json]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(source.glob(f"{prefix}-*.json"))]


def _type_code(type_entry: Json) -> str:
    code: str = type_entry["code"]
    if code.startswith("http://hl7.org/fhirpath/System."):
        for ext in type_entry.get("extension", []):
            if ext.get("url") == FHIR_TYPE_EXT:
                return str(ext.get("valueUrl") or ext.get("valueUri"))
        return "string"
    return code


def _canonical(url: str) -> str:
    return url.split("|", 1)[0]


def _element_row(type_name: str, element: Json, required_vs: set[str]) -> list[Any] | None:
    path: str = element["path"]
    if path == type_name:
        return None
    rel = path[len(type_name) + 1 :]
    max_text = element.get("max", "*")
    maximum = -1 if max_text == "*" else int(max_text)
    types = [_type_code(t) for t in element.get("type", [])]
    if (
        rel == "id"
        and types == ["string"]
        and "." not in rel
        and element.get("base", {}).get("path") == ("Resource.id")
    ):
        types = ["id"]  # Resource.id is of type id (https://hl7.org/fhir/R4/resource.html#id)
    binding = element.get("binding") or {}
    vs: str | None = None
    if binding.get("strength") == "required" and binding.get("valueSet"):
        vs = _canonical(binding["valueSet"])
        required_vs.add(vs)
    flags = (FLAG_SUMMARY if element.get("isSummary") else 0) | (
        FLAG_MODIFIER if element.get("isModifier") else 0
    )
    return [rel, int(element.get("min", 0)), maximum, types, element.get("contentReference"), vs, flags]


def _flatten_concepts(concepts: list[Json], out: list[str]) -> None:
    for concept in concepts:
        out.append(concept["code"])
        _flatten_concepts(concept.get("concept", []), out)


def _code_systems(source: Path) -> dict[str, list[str]]:
    systems: dict[str, list[str]] = {}
    for cs in _load(source, "CodeSystem"):
        if cs.get("content") != "complete":
            continue
        codes: list[str] = []
        _flatten_concepts(cs.get("concept", []), codes)
        systems[cs["url"]] = codes
    return systems


class _NotEnumerableError(Exception):
    pass


def _expand_part(
    part: Json, systems: dict[str, list[str]], value_sets: dict[str, Json], seen: tuple[str, ...]
) -> dict[str, set[str]]:
    """Codes of one include/exclude entry, by system."""
    if part.get("filter"):
        raise _NotEnumerableError
    result: dict[str, set[str]] = {}
    system = part.get("system")
    if system is not None:
        if "concept" in part:
            result[system] = {c["code"] for c in part["concept"]}
        elif system in systems:
            result[system] = set(systems[system])
        else:
            raise _NotEnumerableError
    imported = [_expand(_canonical(url), systems, value_sets, seen) for url in part.get("valueSet", [])]
    for codes_by_system in imported:
        if system is not None:  # intersection of the system's codes with the imported set
            result[system] &= codes_by_system.get(system, set())
        else:
            for sys_url, codes in codes_by_system.items():
                result.setdefault(sys_url, set()).update(codes)
    return result


def _expand(
    url: str, systems: dict[str, list[str]], value_sets: dict[str, Json], seen: tuple[str, ...] = ()
) -> dict[str, set[str]]:
    if url in seen or url not in value_sets:
        raise _NotEnumerableError
    compose = value_sets[url].get("compose")
    if not compose:
        raise _NotEnumerableError
    result: dict[str, set[str]] = {}
    for part in compose.get("include", []):
        for system, codes in _expand_part(part, systems, value_sets, (*seen, url)).items():
            result.setdefault(system, set()).update(codes)
    for part in compose.get("exclude", []):
        for system, codes in _expand_part(part, systems, value_sets, (*seen, url)).items():
            result.get(system, set()).difference_update(codes)
    return result


def build(source: Path) -> Json:
    """Build the compact definitions document from the core package in ``source``."""
    types: dict[str, Json] = {}
    primitives: list[str] = []
    resources: list[str] = []
    required_vs: set[str] = set()
    for sd in _load(source, "StructureDefinition"):
        if sd.get("kind") not in ("resource", "complex-type", "primitive-type"):
            continue
        if sd.get("derivation") != "specialization" and sd["id"] not in ABSTRACT_TYPES:
            continue
        name: str = sd["type"]
        if sd["kind"] == "primitive-type":
            primitives.append(name)
            continue  # primitives are checked by hygie.fhir.primitives
        if sd["kind"] == "resource" and not sd.get("abstract"):
            resources.append(name)
        rows = [_element_row(name, e, required_vs) for e in sd["snapshot"]["element"]]
        types[name] = {
            "kind": sd["kind"],
            "abstract": bool(sd.get("abstract")),
            "elements": [r for r in rows if r is not None],
        }
    systems = _code_systems(source)
    value_sets = {vs["url"]: vs for vs in _load(source, "ValueSet")}
    enumerated: dict[str, dict[str, list[str]]] = {}
    for url in sorted(required_vs):
        try:
            expansion = _expand(url, systems, value_sets)
        except _NotEnumerableError:
            continue
        if any(expansion.values()):
            enumerated[url] = {s: sorted(c) for s, c in sorted(expansion.items()) if c}
    return {
        "licence": LICENCE,
        "fhirVersion": "4.0.1",
        "primitiveTypes": sorted(primitives),
        "resourceTypes": sorted(resources),
        "types": dict(sorted(types.items())),
        "valueSets": enumerated,
    }


def write(document: Json, output: Path = OUTPUT) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    raw = json.dumps(document, separators=(",", ":"), ensure_ascii=False, sort_keys=False).encode()
    # mtime=0 keeps the output byte-for-byte reproducible.
    with open(output, "wb") as fh, gzip.GzipFile("", "wb", 9, fh, mtime=0) as gz:
        gz.write(raw)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    document = build(args.source)
    write(document, args.output)
    print(
        f"wrote {args.output}: {len(document['types'])} types, "
        f"{len(document['resourceTypes'])} resource types, {len(document['valueSets'])} value sets"
    )


if __name__ == "__main__":
    main()
