"""Concurrent writers never produce a 500, duplicates, or lost versions (both backends)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

H = {"content-type": "application/fhir+json"}


def test_concurrent_conditional_creates_make_one_resource(live_server: str) -> None:
    body = {"resourceType": "Patient", "identifier": [{"system": "urn:test", "value": "same"}]}

    def post(_: int) -> int:
        with httpx.Client(base_url=f"{live_server}/fhir", timeout=30) as c:
            return c.post(
                "/Patient", json=body, headers={**H, "if-none-exist": "identifier=urn:test|same"}
            ).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(post, range(16)))
    assert set(statuses) <= {200, 201, 409}, statuses
    assert statuses.count(201) == 1
    total = httpx.get(f"{live_server}/fhir/Patient?identifier=urn:test|same&_summary=count").json()["total"]
    assert total == 1


def test_concurrent_updates_keep_every_version(live_server: str) -> None:
    base = f"{live_server}/fhir"
    httpx.put(f"{base}/Patient/race", json={"resourceType": "Patient", "id": "race"}, headers=H)

    def put(i: int) -> int:
        with httpx.Client(timeout=30) as c:
            body = {"resourceType": "Patient", "id": "race", "name": [{"family": f"N{i}"}]}
            return c.put(f"{base}/Patient/race", json=body, headers=H).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(put, range(24)))
    assert set(statuses) <= {200, 409}, statuses
    ok = statuses.count(200)
    current = httpx.get(f"{base}/Patient/race").json()
    assert current["meta"]["versionId"] == str(1 + ok)
    history = httpx.get(f"{base}/Patient/race/_history?_count=100").json()
    assert len(history["entry"]) == 1 + ok
