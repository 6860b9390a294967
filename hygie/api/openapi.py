"""``GET /openapi.json``: the OpenAPI 3.1 document of the endpoints outside the FHIR API.

https://spec.openapis.org/oas/v3.1.0 — health checks, SMART / OpenID Connect discovery, the OAuth
2.0 authorization server and its sign-in pages (docs/smart.md). The document is data beside the
code (``hygie/api/openapi.json``); ``tests/unit/test_openapi_routes.py`` keeps it and the app's
routes in step, and ``tests/security/test_openapi_fuzz.py`` fuzzes the app against it. The FHIR
API describes itself with its CapabilityStatement (``GET /fhir/metadata``).
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import Response


@cache
def document() -> bytes:
    """The document's bytes, read once from the package."""
    return files("hygie.api").joinpath("openapi.json").read_bytes()


async def openapi(_: Request) -> Response:
    return Response(
        document(), media_type="application/json", headers={"Cache-Control": "public, max-age=3600"}
    )
