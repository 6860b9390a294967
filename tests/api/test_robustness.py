"""Bad input never breaks the server: property-based requests never get a 500.

Hypothesis mutates real resources and builds hostile URLs, query strings and bodies; every
answer must be a 2xx/3xx or a 4xx OperationOutcome, and a refused write must change nothing.
"""

from __future__ import annotations

import json
import os
import random
from typing import Any
from urllib.parse import quote

import psycopg_pool.base
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

# Hypothesis refuses the global `random` being used while it draws data (FlakyStrategyDefinition);
# psycopg_pool's background workers draw from it for connection-lifetime jitter. Give the pool its
# own generator, so the database's threads never touch the global one during these tests.
psycopg_pool.base.random = random.Random(0).random  # type: ignore[attr-defined]

H = {"content-type": "application/fhir+json"}
SEED = {
    "resourceType": "Observation",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
    "subject": {"reference": "Patient/p1"},
    "effectiveDateTime": "2024-01-01T10:00:00+01:00",
    "valueQuantity": {"value": 72, "unit": "/min"},
}
json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
PROFILE = settings(
    max_examples=int(os.environ.get("HYGIE_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def check(r: Any) -> None:
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert r.json()["resourceType"] == "OperationOutcome"


@PROFILE
@given(key=st.sampled_from([*SEED, "extra", "_status", "contained", "meta", "id", "text"]), value=json_value)
def test_mutated_resources(client: TestClient, key: str, value: Any) -> None:
    body = {**SEED, key: value}
    before = client.get("/fhir/_history").json().get("entry", [])
    r = client.post("/fhir/Observation", content=json.dumps(body, allow_nan=False), headers=H)
    check(r)
    if r.status_code >= 400:
        assert client.get("/fhir/_history").json().get("entry", []) == before


@PROFILE
@given(raw=st.binary(max_size=200))
def test_random_bytes(client: TestClient, raw: bytes) -> None:
    check(client.post("/fhir/Patient", content=raw, headers=H))
    check(client.put("/fhir/Patient/x", content=raw, headers=H))
    check(client.post("/fhir", content=raw, headers=H))


@PROFILE
@given(
    name=st.sampled_from(
        [
            "name",
            "birthdate",
            "_id",
            "identifier",
            "general-practitioner",
            "_lastUpdated",
            "gender:not",
            "name:exact",
            "address-postalcode:missing",
            "x",
            "_count",
            "_sort",
        ]
    ),
    value=st.text(max_size=40),
)
def test_random_search_parameters(client: TestClient, name: str, value: str) -> None:
    check(client.get("/fhir/Patient", params={name: value}))
    check(client.get("/fhir/Patient/_history", params={"_since": value, "_count": value}))


@PROFILE
@given(
    path=st.lists(
        st.text(min_size=1, max_size=12).filter(lambda s: "/" not in s and "?" not in s and "#" not in s),
        max_size=5,
    )
)
def test_random_paths(client: TestClient, path: list[str]) -> None:
    url = "/fhir/" + "/".join(quote(p, safe="$") for p in path)
    for method in ("GET", "DELETE", "PATCH"):
        check(
            client.request(
                method, url, content=b"[]", headers={"content-type": "application/json-patch+json"}
            )
        )


@PROFILE
@given(
    entries=st.lists(
        st.dictionaries(st.sampled_from(["fullUrl", "resource", "request"]), json_value), max_size=4
    ),
    kind=st.sampled_from(["batch", "transaction"]),
)
def test_random_bundles(client: TestClient, entries: list[Any], kind: str) -> None:
    body = {"resourceType": "Bundle", "type": kind, "entry": entries}
    check(client.post("/fhir", content=json.dumps(body, allow_nan=False), headers=H))
