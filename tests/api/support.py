"""Helpers shared by the in-process API tests."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

H = {"content-type": "application/fhir+json"}


def put_all(client: TestClient, resources: list[dict[str, Any]]) -> None:
    """Store ``resources`` with their own ids, in one transaction of ``PUT Type/id`` entries."""
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
            for r in resources
        ],
    }
    r = client.post("/fhir", json=bundle, headers=H)
    assert r.status_code == 200, r.text


def search_ids(client: TestClient, query: str) -> set[str] | str:
    """Ids in the Bundle of ``GET /fhir/{query}`` (up to 100), or the error as text to report."""
    if "_count=" not in query:
        query += ("&" if "?" in query else "?") + "_count=100"
    r = client.get(f"/fhir/{query}")
    if r.status_code != 200:
        return f"{r.status_code}: {r.text[:300]}"
    return {e["resource"]["id"] for e in r.json().get("entry", [])}
