"""Build ``hygie/fhir/data/r4-searchparams.json.gz`` from the official FHIR R4 core package.

Specs: https://hl7.org/fhir/R4/searchparameter.html, https://hl7.org/fhir/R4/compartmentdefinition.html

Run: ``.venv/bin/python -m hygie.fhir.build_searchparams [CORE_DIR]`` (default
``../shared/data/fhir-r4-core``). Reads every ``SearchParameter-*.json``, every concrete resource
``StructureDefinition-*.json`` and the base ``CompartmentDefinition-*.json``; writes a compact,
deterministic gzip'd JSON file (HL7 FHIR specification content, CC0):

``{"fhirVersion", "resourceTypes": {type: "DomainResource"|"Resource"},
"params": {base: {code: {type, url, expression?, targets?, components?}}},
"compartments": {compartment: {resource type: [codes]}}, "skipped": [urls]}``

Expressions are split per base type (:func:`hygie.fhir.searchparams.split_expression`).
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path
from typing import Any

import orjson

from hygie.fhir.searchparams import DATA_FILE, param_to_json, params_from_resource

DEFAULT_CORE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "fhir-r4-core"
# CompartmentDefinition-example.json is an example, not one of the base compartments.
BASE_COMPARTMENTS = ("patient", "encounter", "relatedPerson", "practitioner", "device")


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(path.read_bytes())
    return data


def _resource_types(core: Path) -> dict[str, str]:
    types = {}
    for path in sorted(core.glob("StructureDefinition-*.json")):
        sd = _load(path)
        concrete = sd.get("derivation") == "specialization" and not sd.get("abstract")
        if sd.get("kind") == "resource" and concrete:
            types[sd["type"]] = sd["baseDefinition"].rsplit("/", 1)[-1]
    return dict(sorted(types.items()))


def _params(core: Path, resource_types: dict[str, str]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    resources = [_load(p) for p in sorted(core.glob("SearchParameter-*.json"))]
    code_by_url = {r["url"]: r["code"] for r in resources}
    params: dict[str, dict[str, Any]] = {}
    skipped = []
    known_bases = set(resource_types) | {"Resource", "DomainResource"}
    for resource in resources:
        # The package ships example SearchParameters (ids example, example-reference...) that
        # clash with the real ones, and a few extension parameters with neither base nor expression.
        if not resource.get("base") or resource["id"].startswith("example"):
            skipped.append(resource["url"])
            continue
        for param in params_from_resource(resource, code_by_url):
            if param.base not in known_bases:
                continue
            by_code = params.setdefault(param.base, {})
            if param.code in by_code:
                raise ValueError(f"two parameters {param.base}.{param.code}: {param.url}")
            by_code[param.code] = param_to_json(param)
    ordered = {base: dict(sorted(by_code.items())) for base, by_code in sorted(params.items())}
    return ordered, sorted(skipped)


def _compartments(core: Path) -> dict[str, dict[str, list[str]]]:
    out = {}
    for name in BASE_COMPARTMENTS:
        definition = _load(core / f"CompartmentDefinition-{name}.json")
        out[definition["code"]] = {r["code"]: r["param"] for r in definition["resource"] if r.get("param")}
    return dict(sorted(out.items()))


def build(core: Path) -> dict[str, Any]:
    resource_types = _resource_types(core)
    params, skipped = _params(core, resource_types)
    return {
        "fhirVersion": "4.0.1",
        "resourceTypes": resource_types,
        "params": params,
        "compartments": _compartments(core),
        "skipped": skipped,
    }


def main(argv: list[str]) -> int:
    core = Path(argv[0]) if argv else DEFAULT_CORE
    data = build(core)
    DATA_FILE.parent.mkdir(parents=True, exist_ok=True)
    payload = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    DATA_FILE.write_bytes(gzip.compress(payload, compresslevel=9, mtime=0))
    count = sum(len(v) for v in data["params"].values())
    print(f"wrote {DATA_FILE} ({count} parameters, {len(data['resourceTypes'])} resource types)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
