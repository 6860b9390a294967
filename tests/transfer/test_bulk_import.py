"""Bulk Data ``$import``: system clients only, asynchronous, one transaction per file, and the
export → import round trip. Bulk Import draft: https://github.com/smart-on-fhir/bulk-import
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from hygie.auth.scopes import parse_scopes
from hygie.auth.tokens import Principal
from tests.conftest import fresh_database_url
from tests.support import open_client
from tests.transfer.bulk_helpers import (
    ASYNC,
    bearer,
    bulk_settings,
    download,
    export,
    manifest_of,
    system_principal,
)
from tests.transfer.test_bulk_export import WORLD, load

NDJSON = {**ASYNC, "Content-Type": "application/fhir+ndjson"}


def _import(client: TestClient, body: bytes, headers: dict[str, str] | None = None) -> dict[str, Any]:
    answer = client.post("/fhir/$import", content=body, headers={**NDJSON, **(headers or {})})
    assert answer.status_code == 202, answer.text[:300]
    return manifest_of(client, answer.headers["content-location"], headers)


def _lines(resources: list[dict[str, Any]]) -> bytes:
    return b"\n".join(orjson.dumps(r) for r in resources) + b"\n"


@pytest.fixture
def other_database_url(database_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A second fresh database of the same backend."""
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    yield from fresh_database_url(request, backend, tmp_path, "other.db")


def test_export_then_import_into_a_fresh_database_gives_the_same_resources(
    database_url: str, other_database_url: str, tmp_path: Path
) -> None:
    with open_client(bulk_settings(database_url, tmp_path / "a")) as source:
        load(source, WORLD)
        load(source, [{**WORLD[3], "status": "amended"}])  # a second version of o1
        exported = export(source, "$export")
    assert exported["Observation"][0]["meta"]["versionId"] == "2"
    with open_client(bulk_settings(other_database_url, tmp_path / "b")) as target:
        body = b"".join(_lines(rs) for rs in exported.values())
        manifest = _import(target, body)
        assert manifest["error"] == [], manifest
        again = export(target, "$export")
    # ids, contents, versionId and lastUpdated are kept
    assert {k: sorted(v, key=lambda r: r["id"]) for k, v in again.items()} == {
        k: sorted(v, key=lambda r: r["id"]) for k, v in exported.items()
    }


def test_a_bad_line_refuses_its_whole_file_only(database_url: str, tmp_path: Path) -> None:
    with open_client(bulk_settings(database_url, tmp_path)) as client:
        bad = _lines([{"resourceType": "Patient", "id": "x1"}, {"resourceType": "Patient", "id": "x2"}])
        bad += b'{"resourceType": "Patient", "id": "x3", "gender": 12}\n'
        manifest = _import(client, bad)
        assert manifest["output"] == []
        errors = client.get(manifest["error"][0]["url"])
        assert errors.status_code == 200
        assert "line 3" in errors.text
        assert client.get("/fhir/Patient/x1").status_code == 404  # nothing of that file
        good = _import(client, _lines([{"resourceType": "Patient", "id": "x1"}, {"resourceType": "Patient"}]))
        assert good["error"] == []
        assert good["extension"]["https://hygie.health/fhir/bulk-import/written"] == {"Patient": 2}
        assert client.get("/fhir/Patient/x1").status_code == 200
        again = _import(client, _lines([{"resourceType": "Patient", "id": "x1"}]))  # a no-op
        assert again["extension"]["https://hygie.health/fhir/bulk-import/unchanged"] == {"Patient": 1}


def test_import_is_for_system_clients_and_checks_its_request(database_url: str, tmp_path: Path) -> None:
    settings = bulk_settings(database_url, tmp_path)
    with open_client(settings) as client:
        body = _lines([{"resourceType": "Patient", "id": "x1"}])
        doctor = Principal(
            kind="professional",
            subject="doc",
            scopes=parse_scopes("user/*.cruds"),
            fhir_user="Practitioner/d1",
            organization="o1",
        )
        answer = client.post("/fhir/$import", content=body, headers={**NDJSON, **bearer(settings, doctor)})
        assert answer.status_code == 403
        assert (
            client.post(
                "/fhir/$import", content=body, headers={"Content-Type": "application/fhir+ndjson"}
            ).status_code
            == 400
        )
        assert client.get("/fhir/$import", headers=ASYNC).status_code == 405
        assert (
            client.post(
                "/fhir/$import", content=b"x", headers={**ASYNC, "Content-Type": "text/csv"}
            ).status_code
            == 415
        )
        params = {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "inputFormat", "valueCode": "application/fhir+ndjson"},
                {
                    "name": "input",
                    "part": [
                        {"name": "type", "valueCode": "Patient"},
                        {"name": "url", "valueUri": "http://169.254.169.254/latest"},
                    ],
                },
            ],
        }
        refused = client.post("/fhir/$import", json=params, headers=ASYNC)
        assert refused.status_code == 400  # no URL prefix is trusted by default (SSRF)
        assert "169.254.169.254" in refused.text
        # a read-only system client may start an import, but its files are refused (403 inside)
        reader = bearer(settings, system_principal("reader", "system/*.rs"))
        manifest = _import(client, body, reader)
        assert manifest["output"] == [] and manifest["error"][0]["count"] == 1
        assert client.get("/fhir/Patient/x1").status_code == 404


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A plain HTTP server over a directory (the files an import reads by URL)."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", root
    finally:
        server.shutdown()
        server.server_close()


def test_import_by_url_under_a_trusted_prefix(
    database_url: str, tmp_path: Path, file_server: tuple[str, Path]
) -> None:
    prefix, root = file_server
    (root / "patients.ndjson").write_bytes(_lines([{"resourceType": "Patient", "id": "u1"}]))
    settings = bulk_settings(database_url, tmp_path, bulk_import_url_prefixes=prefix)
    with open_client(settings) as client:
        params = {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "inputFormat", "valueCode": "application/fhir+ndjson"},
                {
                    "name": "input",
                    "part": [
                        {"name": "type", "valueCode": "Patient"},
                        {"name": "url", "valueUri": f"{prefix}patients.ndjson"},
                    ],
                },
                {
                    "name": "input",
                    "part": [
                        {"name": "type", "valueCode": "Patient"},
                        {"name": "url", "valueUri": f"{prefix}missing.ndjson"},
                    ],
                },
            ],
        }
        answer = client.post("/fhir/$import", json=params, headers=ASYNC)
        assert answer.status_code == 202, answer.text
        manifest = manifest_of(client, answer.headers["content-location"])
        assert manifest["output"][0]["count"] == 1
        assert manifest["error"][0]["count"] == 1
        outcomes = download(client, {"output": manifest["output"]})
        assert "patients.ndjson" in orjson.dumps(outcomes).decode()
        assert client.get("/fhir/Patient/u1").status_code == 200
