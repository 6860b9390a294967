"""References to another server are never followed as if they named this server's resources.

https://hl7.org/fhir/R4/search.html#reference: ``Patient/1`` on this server and
``http://other.example/fhir/Patient/1`` are different resources. Chains, ``_has``, ``_include``,
``_revinclude``, compartments and ``$everything`` join on the reference's type and id, so each of
them must check the reference is relative or under this server's base (the TestClient's base is
``http://testserver/fhir``).
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.api.support import put_all, search_ids

BASE = "http://testserver/fhir"
OTHER = "http://other.example/fhir"


def _obs(oid: str, reference: str, status: str = "final") -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": status,
        "code": {"text": "pouls"},
        "subject": {"reference": reference},
    }


@pytest.fixture
def data(client: TestClient) -> TestClient:
    put_all(
        client,
        [
            {"resourceType": "Patient", "id": "1", "name": [{"family": "Durand"}]},
            _obs("relative", "Patient/1"),
            _obs("absolute-local", f"{BASE}/Patient/1"),
            _obs("foreign", f"{OTHER}/Patient/1", status="amended"),
        ],
    )
    return client


def test_chain_follows_local_references_only(data: TestClient) -> None:
    assert search_ids(data, "Observation?subject.name=durand") == {"relative", "absolute-local"}
    assert search_ids(data, "Observation?subject:Patient.name=durand") == {"relative", "absolute-local"}


def test_has_counts_local_references_only(data: TestClient) -> None:
    assert search_ids(data, "Patient?_has:Observation:subject:status=amended") == set()
    assert search_ids(data, "Patient?_has:Observation:subject:status=final") == {"1"}


def test_include_skips_foreign_reference(data: TestClient) -> None:
    bundle = data.get("/fhir/Observation?_id=foreign&_include=Observation:subject").json()
    assert [e["resource"]["id"] for e in bundle["entry"]] == ["foreign"]
    bundle = data.get("/fhir/Observation?_id=absolute-local&_include=Observation:subject").json()
    assert {e["resource"]["id"] for e in bundle["entry"]} == {"absolute-local", "1"}


def test_revinclude_skips_foreign_reference(data: TestClient) -> None:
    for query in ("_revinclude=Observation:subject", "_revinclude=*"):
        bundle = data.get(f"/fhir/Patient?_id=1&{query}").json()
        assert {e["resource"]["id"] for e in bundle["entry"]} == {"1", "relative", "absolute-local"}, query


def test_compartment_and_everything_skip_foreign_reference(data: TestClient) -> None:
    assert search_ids(data, "Patient/1/Observation") == {"relative", "absolute-local"}
    assert search_ids(data, "Patient/1/*") == {"1", "relative", "absolute-local"}
    bundle = data.get("/fhir/Patient/1/$everything").json()
    assert {e["resource"]["id"] for e in bundle["entry"]} == {"1", "relative", "absolute-local"}
