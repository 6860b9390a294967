"""Helpers of the Bulk Data tests (tests/transfer/test_bulk_*.py): kick off, poll, download.

Bulk Data Access IG 2.0: https://hl7.org/fhir/uv/bulkdata/STU2/export.html
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
from starlette.testclient import TestClient

from hygie.auth.keys import load_keys
from hygie.auth.scopes import parse_scopes
from hygie.auth.tokens import Principal, issue
from hygie.settings import Settings

ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}
DEADLINE_S = 60.0


def bulk_settings(database_url: str, tmp_path: Path, **extra: Any) -> Settings:
    return Settings(
        database_url=database_url,
        keys_dir=tmp_path / "keys",
        bulk_dir=tmp_path / "bulk",
        rate_limit_per_second=0,
        **extra,
    )


def bearer(settings: Settings, principal: Principal) -> dict[str, str]:
    keys = load_keys(settings.keys_dir)
    token = issue(keys, principal, audience=keys.instance, now=int(time.time()), ttl=3600)
    return {"Authorization": f"Bearer {token}"}


def system_principal(subject: str, scope: str = "system/*.rs", launch: str | None = None) -> Principal:
    return Principal(
        kind="system", subject=subject, scopes=parse_scopes(scope), client_id=subject, launch_patient=launch
    )


def kick_off(client: TestClient, path: str, headers: dict[str, str] | None = None, **kwargs: Any) -> str:
    """Start an export; the status URL."""
    answer = client.request(
        kwargs.pop("method", "GET"), f"/fhir/{path}", headers={**ASYNC, **(headers or {})}, **kwargs
    )
    assert answer.status_code == 202, answer.text[:500]
    location = answer.headers["content-location"]
    assert "$bulk-status?_jobId=" in location
    return location


def wait(client: TestClient, url: str, headers: dict[str, str] | None = None) -> Any:
    """Poll the status URL until it answers something else than 202 (within a deadline)."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        answer = client.get(url, headers=headers or {})
        if answer.status_code != 202:
            return answer
        assert answer.headers["retry-after"].isdigit()
        assert answer.headers["x-progress"]
        time.sleep(0.02)
    raise AssertionError(f"export still running after {DEADLINE_S}s")


def manifest_of(client: TestClient, url: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    answer = wait(client, url, headers)
    assert answer.status_code == 200, answer.text[:500]
    manifest: dict[str, Any] = answer.json()
    return manifest


def download(
    client: TestClient, manifest: dict[str, Any], headers: dict[str, str] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Type → resources of every output file (checks the content type and the counts)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for item in manifest["output"]:
        answer = client.get(item["url"], headers={"Accept": "application/fhir+ndjson", **(headers or {})})
        assert answer.status_code == 200, answer.text[:300]
        assert answer.headers["content-type"].startswith("application/fhir+ndjson")
        lines = [orjson.loads(line) for line in answer.content.splitlines() if line.strip()]
        assert len(lines) == item["count"]
        assert all(r["resourceType"] == item["type"] for r in lines)
        out.setdefault(item["type"], []).extend(lines)
    return out


def keys(exported: dict[str, list[dict[str, Any]]]) -> set[str]:
    return {f"{r['resourceType']}/{r['id']}" for rs in exported.values() for r in rs}


def export(
    client: TestClient, path: str, headers: dict[str, str] | None = None, **kwargs: Any
) -> dict[str, list[dict[str, Any]]]:
    url = kick_off(client, path, headers, **kwargs)
    return download(client, manifest_of(client, url, headers), headers)
