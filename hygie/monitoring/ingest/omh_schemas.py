"""The Open mHealth schemas shipped in ``hygie/monitoring/data/omh`` (Apache-2.0, Open mHealth:
see LICENSE.md there), loaded into a ``referencing`` registry so that every ``$ref`` — relative
file names, ``*.x`` aliases, IEEE 1752.1 URLs — resolves offline. Nothing is fetched at run time.

Schema library: https://www.openmhealth.org/documentation/#/schema-docs/schema-library
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft7Validator  # type: ignore[import-untyped]  # no stubs shipped
from jsonschema.protocols import Validator  # type: ignore[import-untyped]
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

BASE = "https://w3id.org/openmhealth/schemas/omh/"
IEEE = "https://w3id.org/ieee/ieee-1752-schema/"

# (schema name, major version) → the file to validate a body against (the latest minor version
# shipped), for the data point schemas Hygie converts.
SUPPORTED: dict[tuple[str, str], str] = {
    ("heart-rate", "2"): "heart-rate-2.x.json",
    ("blood-pressure", "4"): "blood-pressure-4.x.json",
    ("blood-glucose", "4"): "blood-glucose-4.x.json",
    ("step-count", "3"): "step-count-3.x.json",
    ("sleep-duration", "2"): "sleep-duration-2.x.json",
    ("sleep-episode", "1"): "sleep-episode-1.x.json",
    ("oxygen-saturation", "2"): "oxygen-saturation-2.x.json",
    ("body-temperature", "4"): "body-temperature-4.x.json",
    ("respiratory-rate", "2"): "respiratory-rate-2.x.json",
    ("body-weight", "3"): "body-weight-3.x.json",
}


def _folder() -> Any:
    return resources.files("hygie.monitoring").joinpath("data/omh")


@cache
def registry() -> Registry[Any]:
    """Every shipped schema under its Open mHealth URL, its aliases and its IEEE URL."""
    folder = _folder()
    index = json.loads(folder.joinpath("index.json").read_text("utf-8"))
    contents: dict[str, Any] = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".json") and entry.name != "index.json":
            contents[entry.name] = json.loads(entry.read_text("utf-8"))
    names = {name: name for name in contents}
    names.update({alias.removeprefix(IEEE): name for alias, name in index["aliases"].items()})
    pairs: list[tuple[str, Resource[Any]]] = []
    for uri_name, name in names.items():
        resource = Resource.from_contents(contents[name], default_specification=DRAFT4)
        # Under both bases: a schema reached through an IEEE URL resolves its own relative
        # references against the IEEE base.
        pairs += [(BASE + uri_name, resource), (IEEE + uri_name, resource)]
    return Registry().with_resources(pairs)


@cache
def validator(file: str) -> Validator:
    """A validator for the schema shipped as (or aliased by) ``file``."""
    # The root is addressed by URL so that its relative references resolve against BASE.
    return Draft7Validator({"$ref": BASE + file}, registry=registry())


def data_point_validator() -> Validator:
    return validator("data-point-1.x.json")
