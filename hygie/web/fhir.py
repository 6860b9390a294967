"""Data access for pages: FHIR calls made as the signed-in person.

Every call goes through :meth:`hygie.api.http.FhirApi.call` — the same routing, access policy
(compiled into the SQL) and audit trail as an HTTP call to ``/fhir`` with that person's token — so
the web UI can never show more than the API would, and every access appears in the audit log
("who accessed my record"). Pages get a :class:`WebFhir` as ``p.fhir``::

    patient = await p.fhir.get(f"Patient/{p.patient}")
    bundle = await p.fhir.search("Observation", [("patient", p.patient), ("_sort", "-date")])
    for obs in resources(bundle):
        ...
    await p.fhir.operation("Task/42/$acknowledge", parameters)

Results are plain dicts (resources stay JSON). A refusal or failure raises :class:`WebFhirError`
with the HTTP status and the OperationOutcome; the page wrapper (:mod:`hygie.web.pages`) turns an
uncaught one into the friendly error page of that status (404 for what the person may not see,
exactly as the API answers).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from hygie.api.http import FhirApi
from hygie.auth.tokens import Principal

FHIR_JSON = "application/fhir+json"
Params = Sequence[tuple[str, str]]


class WebFhirError(Exception):
    """A FHIR call that did not succeed: ``status`` (HTTP) and the ``outcome`` (OperationOutcome)."""

    def __init__(self, status: int, outcome: dict[str, Any] | None = None) -> None:
        super().__init__(f"FHIR call failed with {status}")
        self.status = status
        self.outcome = outcome or {}

    @property
    def codes(self) -> list[str]:
        """The issue codes of the OperationOutcome (``not-found``, ``forbidden``, ``invalid``…)."""
        return [str(i.get("code")) for i in self.outcome.get("issue", []) if isinstance(i, dict)]


class WebFhir:
    """FHIR interactions as ``principal``, for one page request (see the module docstring)."""

    def __init__(
        self,
        api: FhirApi,
        principal: Principal,
        *,
        lang: str = "fr",
        host: str = "localhost",
        scheme: str = "http",
        client_ip: str | None = None,
    ) -> None:
        self.api = api
        self.principal = principal
        self.client_ip = client_ip
        self.scheme = scheme
        self.headers = {"host": host, "accept-language": "en" if lang == "en" else "fr"}

    @classmethod
    def for_request(cls, api: FhirApi, principal: Principal, request: Request, lang: str) -> WebFhir:
        """Calls on behalf of a browser request (its host and scheme build the resources' full
        URLs; its address goes to the audit trail)."""
        return cls(
            api,
            principal,
            lang=lang,
            host=request.headers.get("host", "localhost"),
            scheme=request.url.scheme,
            client_ip=request.client.host if request.client else None,
        )

    async def get(self, reference: str, params: Params = ()) -> dict[str, Any]:
        """Read ``Type/id`` (or any GET path, e.g. ``Patient/1/$everything``)."""
        return await self._json("GET", reference, params)

    async def search(self, resource_type: str, params: Params = ()) -> dict[str, Any]:
        """A search Bundle (``resource_type`` may also be a compartment path such as
        ``Patient/1/Observation``); :func:`resources` lists its matches."""
        return await self._json("GET", resource_type, params)

    async def create(self, resource: dict[str, Any]) -> dict[str, Any]:
        return await self._json("POST", str(resource["resourceType"]), (), resource)

    async def update(self, resource: dict[str, Any]) -> dict[str, Any]:
        return await self._json("PUT", f"{resource['resourceType']}/{resource['id']}", (), resource)

    async def delete(self, reference: str) -> None:
        await self._json("DELETE", reference, ())

    async def transaction(self, bundle: dict[str, Any]) -> dict[str, Any]:
        """``POST [base]`` of a batch or transaction Bundle; its response Bundle
        (:class:`WebFhirError` with the status when it fails: 409/412 for a stale ``ifMatch``)."""
        return await self._json("POST", "", (), bundle)

    async def operation(
        self,
        path: str,
        parameters: dict[str, Any] | None = None,
        params: Params = (),
        *,
        if_match: str | None = None,
    ) -> dict[str, Any]:
        """``POST path`` (e.g. ``Patient/1/$break-glass``) with a Parameters body, or ``GET`` when
        ``parameters`` is None; the operation's JSON answer (``{}`` when it has no body).
        ``if_match``: the version the page showed (``If-Match: W/"3"``)."""
        extra = {"if-match": f'W/"{if_match}"'} if if_match else {}
        if parameters is None:
            return await self._json("GET", path, params, extra=extra)
        return await self._json("POST", path, params, parameters, extra=extra)

    async def raw(
        self,
        method: str,
        path: str,
        params: Params = (),
        body: bytes = b"",
        content_type: str = FHIR_JSON,
        extra: dict[str, str] | None = None,
    ) -> Response:
        """The API's own response (e.g. a ZIP download to hand to the browser as it is)."""
        headers = {**self.headers, **(extra or {})}
        if body:
            headers["content-type"] = content_type
        return await self.api.call(
            self.principal,
            method,
            path,
            params,
            body=body,
            headers=headers,
            client_ip=self.client_ip,
            scheme=self.scheme,
        )

    async def _json(
        self,
        method: str,
        path: str,
        params: Params,
        resource: dict[str, Any] | None = None,
        *,
        extra: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        body = orjson.dumps(resource) if resource is not None else b""
        response = await self.raw(method, path, params, body, extra=extra)
        raw = await body_of(response)
        data = orjson.loads(raw) if raw.strip() else {}
        if response.status_code >= 400:
            raise WebFhirError(response.status_code, data if isinstance(data, dict) else None)
        return data if isinstance(data, dict) else {"value": data}


async def body_of(response: Response) -> bytes:
    """The whole body of a Starlette response (streamed or not)."""
    if isinstance(response, StreamingResponse):
        chunks = [c if isinstance(c, bytes) else str(c).encode() async for c in response.body_iterator]
        return b"".join(chunks)
    return bytes(response.body)


def resources(bundle: dict[str, Any], mode: str | None = "match") -> list[dict[str, Any]]:
    """The resources of a Bundle's entries (only the search matches unless ``mode`` is None;
    ``mode="include"`` for ``_include``/``_revinclude``d ones)."""
    out = []
    for entry in bundle.get("entry", []):
        if mode is not None and entry.get("search", {}).get("mode", "match") != mode:
            continue
        if isinstance(entry.get("resource"), dict):
            out.append(entry["resource"])
    return out
