"""URI search parameters over HTTP — https://hl7.org/fhir/R4/search.html#uri

A uri parameter matches the whole URI exactly (no prefix matching); ``:below`` matches the URIs
that the value is a prefix of ("url:below=http://acme.org/fhir/" finds every value set under it),
``:above`` the URIs that are a prefix of the value (the value set a versioned URL is about).
ValueSet ``url`` (one value) and ``reference`` (``compose.include.system``, an array) are used.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conformance.support import Fhir, cases

BASE = "http://example.org/fhir/ValueSet"


def value_set(vid: str, url: str | None = None, *systems: str) -> dict[str, object]:
    resource: dict[str, object] = {"resourceType": "ValueSet", "id": vid, "status": "active"}
    if url is not None:
        resource["url"] = url
    if systems:
        resource["compose"] = {"include": [{"system": system} for system in systems]}
    return resource


RESOURCES: list[dict[str, Any]] = [
    value_set("uri-v1", f"{BASE}/allergies", "http://loinc.org", "http://snomed.info/sct"),
    value_set("uri-v2", f"{BASE}/allergies/child", "http://loinc.org"),
    value_set("uri-v3", "http://other.example.org/ValueSet/x"),
    value_set("uri-v4", "urn:oid:1.2.3.4"),
    value_set("uri-v5"),
]

ALL = {r["id"] for r in RESOURCES}

CASES: list[tuple[str, set[str]]] = [
    (f"ValueSet?url={BASE}/allergies", {"uri-v1"}),
    (f"ValueSet?url={BASE}/allergies/child", {"uri-v2"}),
    (f"ValueSet?url={BASE}", set()),
    (f"ValueSet?url={BASE}/allergie", set()),
    ("ValueSet?url=urn:oid:1.2.3.4", {"uri-v4"}),
    ("ValueSet?url=urn:oid:1.2.3", set()),
    (f"ValueSet?url={BASE}/allergies,urn:oid:1.2.3.4", {"uri-v1", "uri-v4"}),
    # :below
    ("ValueSet?url:below=http://example.org/fhir/", {"uri-v1", "uri-v2"}),
    (f"ValueSet?url:below={BASE}/allergies", {"uri-v1", "uri-v2"}),
    (f"ValueSet?url:below={BASE}/allergies/child", {"uri-v2"}),
    ("ValueSet?url:below=http://nowhere.example/", set()),
    # :above
    (f"ValueSet?url:above={BASE}/allergies/child/_history/2", {"uri-v1", "uri-v2"}),
    (f"ValueSet?url:above={BASE}/allergies/_history/1", {"uri-v1"}),
    (f"ValueSet?url:above={BASE}/allergies", {"uri-v1"}),
    (f"ValueSet?url:above={BASE}", set()),
    # :missing, arrays.
    ("ValueSet?url:missing=true", {"uri-v5"}),
    ("ValueSet?url:missing=false", ALL - {"uri-v5"}),
    ("ValueSet?reference=http://loinc.org", {"uri-v1", "uri-v2"}),
    ("ValueSet?reference=http://snomed.info/sct", {"uri-v1"}),
    ("ValueSet?reference=http://snomed.info", set()),
    ("ValueSet?reference:missing=true", {"uri-v3", "uri-v4", "uri-v5"}),
    ("ValueSet?reference=http://snomed.info/sct&reference=http://loinc.org", {"uri-v1"}),
]


@pytest.mark.parametrize(("query", "expected"), cases(CASES))
def test_uri_search(fhir: Fhir, query: str, expected: set[str]) -> None:
    assert fhir.ids(query) == expected
