"""The OpenAPI document of the non-FHIR endpoints (hygie/api/openapi.json) cannot drift from the app.

Every route the Starlette app registers outside the FHIR API (``/fhir`` and ``/fhir/{path}``,
described by the CapabilityStatement) is described, method by method, in the document, and the
document describes nothing else; ``GET /openapi.json`` serves that very document, and it is a
valid OpenAPI 3.1 document (https://spec.openapis.org/oas/v3.1.0).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import schemathesis
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient

from hygie.app import create_app
from hygie.settings import Settings
from hygie.web.routes import is_web_route

DOCUMENT = Path(__file__).resolve().parents[2] / "hygie" / "api" / "openapi.json"
FHIR_ROUTES = {"/fhir", "/fhir/{path:path}"}
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{(tmp_path / 'hygie.db').as_posix()}", keys_dir=tmp_path / "keys"
    )


def _document() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    return data


def routed(tmp_path: Path) -> set[tuple[str, str]]:
    """(path, method) of every route outside the FHIR API. Starlette answers HEAD on every GET
    route by itself (no body): HEAD is the implicit companion of GET, not described separately."""
    app = create_app(_settings(tmp_path))
    found: set[tuple[str, str]] = set()
    for route in app.routes:
        if isinstance(route, WebSocketRoute):  # Subscriptions' websocket channel: not HTTP, not OpenAPI
            assert route.path == "/fhir-ws", route.path
            continue
        assert isinstance(route, Route), route
        if route.path in FHIR_ROUTES or route.path == "/openapi.json" or is_web_route(route):
            continue  # the web UI's pages are HTML for browsers, not API endpoints (docs/web.md)
        methods = {m.lower() for m in route.methods or ()}
        if "get" in methods:
            methods.discard("head")
        found.update((route.path, m) for m in methods)
    return found


def described() -> set[tuple[str, str]]:
    paths: dict[str, dict[str, Any]] = _document()["paths"]
    return {(path, method) for path, item in paths.items() for method in item if method in METHODS}


def test_every_route_is_described(tmp_path: Path) -> None:
    missing = routed(tmp_path) - described()
    assert not missing, f"routes missing from hygie/api/openapi.json: {sorted(missing)}"


def test_the_document_describes_only_routes(tmp_path: Path) -> None:
    extra = described() - routed(tmp_path)
    assert not extra, f"hygie/api/openapi.json describes routes the app does not have: {sorted(extra)}"


def test_the_route_list_is_what_the_smart_docs_announce(tmp_path: Path) -> None:
    """A guard on the guard: the comparison above sees the authorization server's routes."""
    found = routed(tmp_path)
    for expected in [
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/.well-known/smart-configuration", "get"),
        ("/oauth/token", "post"),
        ("/oauth/authorize", "get"),
        ("/oauth/authorize", "post"),
        ("/login", "post"),
        ("/logout", "post"),
    ]:
        assert expected in found
    assert not any(path.startswith("/fhir/{") or path == "/fhir" for path, _ in found)


def test_openapi_json_is_served(tmp_path: Path) -> None:
    """Served without the app's start-up (no database involved: the route reads a package file)."""
    answer = TestClient(create_app(_settings(tmp_path))).get("/openapi.json")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json() == _document()


def test_the_document_is_valid_openapi_3_1() -> None:
    document = _document()
    assert document["openapi"].startswith("3.1.")
    schemathesis.openapi.from_dict(document).validate()  # raises on a document that is not OpenAPI


def test_every_operation_has_an_id_and_documented_responses() -> None:
    ids: list[str] = []
    for item in _document()["paths"].values():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            ids.append(operation["operationId"])
            assert operation["responses"], operation["operationId"]
    assert len(ids) == len(set(ids))
