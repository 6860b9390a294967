"""HTTP binding of the FHIR REST API: parse, negotiate, run in one transaction, render.

https://hl7.org/fhir/R4/http.html — content types, ``_format``, ``Prefer``, conditional headers,
size and nesting limits. Every failure is rendered by :mod:`hygie.errors`.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response

from hygie.api import messages as _messages  # noqa: F401  (registers diagnostics)
from hygie.api.audit_trail import AuditTrail, access_record, policy_change, request_id
from hygie.api.authorize import authenticate, check
from hygie.api.bundle import process_bundle
from hygie.api.capabilities import capability_statement
from hygie.api.context import Env, FhirRequest, Result
from hygie.api.patch import JSON_PATCH
from hygie.api.render import check_summary, dumps, shape, shape_bundle
from hygie.api.routes import READ_ONLY, fill_path, route
from hygie.auth.keys import Keys, load_keys
from hygie.auth.policy import Policy
from hygie.auth.tokens import Principal, VerifiedTokens
from hygie.errors import FHIR_JSON, error_response, unexpected
from hygie.fhir import jsonio
from hygie.fhir.outcome import FhirError, Issue, outcome
from hygie.search.catalog import Catalog
from hygie.settings import Settings
from hygie.storage.database import Database
from hygie.storage.store import Store, load_catalog

JSON_TYPES = frozenset({"application/fhir+json", "application/json", "json", "application/json+fhir"})
FORM = "application/x-www-form-urlencoded"
READ_ONLY_OPERATIONS = frozenset({"$validate", "$everything", "_search"})
# ASGI scope key carrying the principal of an in-process call (:meth:`FhirApi.call`): only code
# of this process can put it there (a server builds the scope of a network request itself).
IN_PROCESS_PRINCIPAL = "hygie.principal"
_XML = ("xml", "application/fhir+xml", "application/xml", "text/xml", "application/xml+fhir")


@dataclass(slots=True)
class _Visit:
    """What one request did, for its audit record."""

    req: FhirRequest | None = None
    principal: Principal | None = None
    envs: list[Env] = field(default_factory=list)
    emergency: set[str] = field(default_factory=set)  # patients open by break-the-glass


@dataclass(slots=True)
class OperationCall:
    """One call of an operation plugged in by the composition root (:attr:`FhirApi.operations`).

    The handler owns the whole exchange: it reads the body itself (``request``), runs its
    database work with :meth:`env` (the caller's access policy applied, and every resource it
    touches audited like any FHIR interaction) and returns any Starlette response (FHIR JSON,
    NDJSON, a ZIP, a 202 kick-off). Errors are raised as :class:`FhirError`.
    """

    api: FhirApi
    request: Request
    req: FhirRequest
    policy: Policy | None
    base: str
    lang: str
    pretty: bool
    visit: _Visit

    @property
    def principal(self) -> Principal | None:
        """Who calls (None when authentication is switched off)."""
        return self.policy.principal if self.policy is not None else None

    def env(self, session: Any) -> Env:
        """The request's environment on ``session`` (policy, audit), as the interactions get."""
        self.api._emergency(session, self.policy, self.visit)
        return self.api._env(session, self.base, self.lang, self.visit.envs, self.policy)

    async def read_body(self) -> bytes:
        """The raw body, within ``HYGIE_MAX_BODY_BYTES`` (413 beyond), gunzipped if sent so."""
        return await self.api.read_raw(self.request)


OperationHandler = Callable[[OperationCall], Awaitable[Response]]


def pure_operation(compute: Callable[[Any, str], dict[str, Any]]) -> OperationHandler:
    """An operation computed from its JSON input alone (nothing read or stored), e.g. a score:
    ``POST`` only, the body parsed as for any FHIR write, ``compute(body, language)`` answered
    as FHIR JSON with 200. ``compute`` raises :class:`FhirError` for bad input."""

    async def handler(call: OperationCall) -> Response:
        body = await json_body(call)
        return call.api._json(compute(body, call.lang), 200, call.pretty, {})

    return handler


async def json_body(call: OperationCall) -> Any:
    """The parsed JSON body of a ``POST`` operation (405 for another method, 415 for another
    media type, 400 when empty or malformed)."""
    if call.req.method != "POST":
        raise FhirError.of(405, "not-supported", "method_not_allowed", method=call.req.method[:16])
    ctype = (call.request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if ctype not in JSON_TYPES:
        raise FhirError.of(415, "not-supported", "unsupported_media_type", type=ctype[:80] or "-")
    raw = await call.read_body()
    if not raw.strip():
        raise FhirError.of(400, "required", "body_required")
    return parse_json(raw, call.api.settings.max_json_depth)


def operation_key(req: FhirRequest) -> str | None:
    """``system:$op``, ``type:Patient:$op`` or ``instance:Patient:$op`` for an operation URL."""
    if req.operation is None or not req.operation.startswith("$") or req.compartment is not None:
        return None
    if req.type is None:
        return f"system:{req.operation}"
    level = "instance" if req.id is not None else "type"
    return f"{level}:{req.type}:{req.operation}"


class FhirApi:
    """The ASGI endpoint for everything under ``/fhir``."""

    def __init__(self, settings: Settings, db: Database, params: Catalog, keys: Keys | None = None) -> None:
        self.settings = settings
        self.db = db
        self.params = params
        self.keys = keys or load_keys(settings.keys_dir)
        self.revoked: set[str] = set()  # revoked access-token ids (loaded by the app at start)
        self.verified = VerifiedTokens()  # tokens whose signature was checked already
        self.tz = ZoneInfo(settings.timezone)
        self.trail: AuditTrail | None = None  # set by the app (hygie.api.audit_trail)
        # Operations implemented above this layer (Bulk Data, portability…), wired by the app:
        # key as :func:`operation_key` builds it.
        self.operations: dict[str, OperationHandler] = {}

    async def __call__(self, request: Request) -> Response:
        lang = language(request.headers.get("accept-language"), self.settings.default_language)
        pretty = request.query_params.get("_pretty") == "true"
        visit = _Visit()
        rid = request_id(request.headers.get("x-request-id"))
        try:
            response = await self._handle(request, lang, pretty, visit)
        except FhirError as err:
            response = error_response(err, lang, pretty=pretty)
        except Exception as exc:
            response = unexpected(exc, lang)
        response.headers["X-Request-ID"] = rid
        if self.trail is not None and visit.req is not None:
            self._audit(self.trail, visit.req, request, visit, response.status_code, rid)
        return response

    async def call(
        self,
        principal: Principal,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]] = (),
        *,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        client_ip: str | None = None,
        scheme: str = "http",
    ) -> Response:
        """One FHIR interaction made in process as ``principal`` — the web UI acting for the
        signed-in person (hygie.web.fhir): the same routing, access policy and audit trail as an
        HTTP call to ``/fhir/{path}``, without minting a token. ``headers`` (e.g. ``host``,
        ``accept-language``, ``content-type``) are those the call would carry."""
        sent = {k.lower(): v for k, v in (headers or {}).items()}
        sent.setdefault("host", "localhost")
        if body:
            sent["content-length"] = str(len(body))
        scope: dict[str, Any] = {
            "type": "http",
            "http_version": "1.1",
            "method": method.upper(),
            "scheme": scheme,
            "path": f"/fhir/{path}",
            "raw_path": f"/fhir/{path}".encode(),
            "root_path": "",
            "query_string": urlencode(list(query)).encode(),
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in sent.items()],
            "client": (client_ip or "-", 0),
            "server": None,
            "path_params": {"path": path},
            IN_PROCESS_PRINCIPAL: principal,
        }
        chunks = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            return chunks.pop() if chunks else {"type": "http.disconnect"}

        return await self(Request(scope, receive))

    @staticmethod
    def _emergency(session: Any, policy: Policy | None, visit: _Visit) -> None:
        """The patients a professional currently sees by break-the-glass: their accesses are
        audited with purpose of use BTG."""
        if policy is None or policy.account is None or policy.principal.kind != "professional":
            return
        rows = session.all(
            "SELECT patient FROM btg_grant WHERE account = ? AND until > ?", (policy.account, policy.now_ms)
        )
        visit.emergency = {str(r[0]) for r in rows}

    def _audit(
        self, trail: AuditTrail, req: FhirRequest, request: Request, visit: _Visit, status: int, rid: str
    ) -> None:
        body = req.body if isinstance(req.body, dict) and req.type is None else {}
        bundle_type = body.get("type")
        touched = [v for env in visit.envs for v in env.touched]
        client_ip = request.client.host if request.client else None
        now_ms = int(time.time() * 1000)
        change = policy_change(
            req, principal=visit.principal, status=status, touched=touched, client_ip=client_ip, now_ms=now_ms
        )
        if change is not None:
            trail.record(change)
        trail.record(
            access_record(
                req,
                principal=visit.principal,
                status=status,
                touched=[v for env in visit.envs for v in env.touched],
                patients={p for env in visit.envs for p in env.audited_patients},
                special=next((env.audit for env in visit.envs if env.audit), None),
                emergency=visit.emergency,
                client_ip=request.client.host if request.client else None,
                request_id=rid,
                bundle_type=bundle_type if isinstance(bundle_type, str) else None,
                now_ms=int(time.time() * 1000),
            )
        )

    async def _handle(self, request: Request, lang: str, pretty: bool, visit: _Visit) -> Response:
        negotiate(request)
        method = request.method
        path = request.path_params.get("path", "")
        segments = [s for s in path.split("/") if s]
        req = FhirRequest(method=method, query=parse_qsl(request.url.query, keep_blank_values=True))
        req.headers = {k: v for k, v in request.headers.items() if k.startswith(("if-", "prefer"))}
        base = self.base_url(request)
        if segments == ["metadata"]:
            if method not in READ_ONLY:
                raise FhirError.of(405, "not-supported", "method_not_allowed", method=method)
            return self._json(
                capability_statement(self.settings, base, self.params.registry, self.operations),
                200,
                pretty,
                {},
            )
        fill_path(req, segments)
        visit.req = req
        policy = self._policy(request, base)
        visit.principal = policy.principal if policy is not None else None
        key = operation_key(req)
        if key is not None and key in self.operations:
            call = OperationCall(self, request, req, policy, base, lang, pretty, visit)
            return await self.operations[key](call)
        if method in ("POST", "PUT", "PATCH"):
            await self._read_body(request, req)
        summary = check_summary(req.param("_summary"))
        elements_param = req.param("_elements")
        elements = [e.strip() for e in elements_param.split(",") if e.strip()] if elements_param else None
        minimal = "return=minimal" in req.headers.get("prefer", "")
        envs = visit.envs
        if not segments:
            if method != "POST":
                raise FhirError.of(405, "not-supported", "method_not_allowed", method=method)

            def bundle_work(session: Any) -> Result:
                self._emergency(session, policy, visit)
                return process_bundle(self._env(session, base, lang, envs, policy), req.body, minimal=minimal)

            result = await self.db.run(bundle_work)
        else:
            handler = route(req)
            write = method not in READ_ONLY and req.operation not in READ_ONLY_OPERATIONS

            def work(session: Any) -> Result:
                self._emergency(session, policy, visit)
                env = self._env(session, base, lang, envs, policy)
                check(env, req)
                return handler(env, req)

            result = await self.db.run(work, write=write)
        if result.version is not None and envs:  # read, vread, create, update…: for the audit trail
            envs[-1].touched.append(result.version)
        if any(env.store.catalog_changed for env in envs):
            await self.reload_catalog()
        return self._render(result, req, base, lang, pretty, summary, elements)

    def _policy(self, request: Request, base: str) -> Policy | None:
        """The caller's access policy (None: unrestricted — auth switched off). An in-process
        call (:meth:`call`) always runs under its principal's policy."""
        principal = request.scope.get(IN_PROCESS_PRINCIPAL)
        if not isinstance(principal, Principal):
            if not self.settings.auth_required:
                return None
            principal = authenticate(
                request.headers.get("authorization"),
                self.keys,
                audiences=(self.keys.instance, base),
                now=int(time.time()),
                revoked=self.revoked,
                cache=self.verified,
            )
        account = principal.subject if principal.kind in ("professional", "patient") else None
        return Policy(principal, self.params, base, int(time.time() * 1000), account, self.settings.timezone)

    def _env(
        self,
        session: Any,
        base: str,
        lang: str,
        envs: list[Env] | None = None,
        policy: Policy | None = None,
    ) -> Env:
        env = Env(Store(session, self.params.scoped(policy), self.tz), self.settings, base, lang)
        if envs is not None:
            envs.append(env)
        return env

    async def reload_catalog(self) -> None:
        """Take up the stored SearchParameter resources (after one was written and committed)."""
        self.params = await self.db.run(load_catalog, write=True)

    def base_url(self, request: Request) -> str:
        if self.settings.base_url:
            return self.settings.base_url.rstrip("/") + "/fhir"
        return f"{request.url.scheme}://{request.url.netloc}/fhir"

    async def read_raw(self, request: Request, limit: int | None = None) -> bytes:
        """The request body within ``limit`` bytes (default ``HYGIE_MAX_BODY_BYTES``; 413 beyond),
        gunzipped if sent so (within the same limit)."""
        limit = self.settings.max_body_bytes if limit is None else limit
        declared = request.headers.get("content-length")
        if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
            raise FhirError.of(413, "too-costly", "body_too_large", limit=limit)
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise FhirError.of(413, "too-costly", "body_too_large", limit=limit)
            chunks.append(chunk)
        raw = b"".join(chunks)
        if request.headers.get("content-encoding", "identity").lower() == "gzip":
            raw = _gunzip(raw, limit)
        return raw

    async def _read_body(self, request: Request, req: FhirRequest) -> None:
        raw = await self.read_raw(request)
        ctype = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        if req.operation == "_search":
            if ctype != FORM:
                raise FhirError.of(415, "not-supported", "unsupported_media_type", type=ctype or "-")
            req.query = [*req.query, *parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)]
            return
        if ctype not in JSON_TYPES and ctype != JSON_PATCH:
            raise FhirError.of(415, "not-supported", "unsupported_media_type", type=ctype[:80] or "-")
        if not raw.strip():
            raise FhirError.of(400, "required", "body_required")
        req.content_type = ctype if ctype == JSON_PATCH else "application/fhir+json"
        # Resources are depth-checked by the validator; patch bodies are checked here.
        depth = self.settings.max_json_depth if req.method == "PATCH" else None
        req.body = parse_json(raw, depth)

    def _json(self, data: Any, status: int, pretty: bool, headers: dict[str, str]) -> Response:
        return Response(dumps(data, pretty), status_code=status, media_type=FHIR_JSON, headers=headers)

    def _render(
        self,
        result: Result,
        req: FhirRequest,
        base: str,
        lang: str,
        pretty: bool,
        summary: str | None,
        elements: list[str] | None,
    ) -> Response:
        headers = dict(result.headers)
        version = result.version
        if version is not None:
            headers["ETag"] = version.etag
            headers["Last-Modified"] = http_date(version.last_updated // 1000)
            if result.location and not version.deleted:
                headers["Location"] = f"{base}/{version.type}/{version.id}/_history/{version.vid}"
        if result.status in (204, 304) or req.method == "HEAD":
            return Response(None, status_code=result.status, headers=headers)
        if result.resource is not None:
            data: Any = result.resource
            if data.get("resourceType") == "Bundle" and (summary or elements):
                data = shape_bundle(jsonio.loads(jsonio.dumps(data)), summary, elements)
            return self._json(data, result.status, pretty, headers)
        assert version is not None
        write = req.method in ("POST", "PUT", "PATCH")
        prefer = req.headers.get("prefer", "")
        if write and "return=minimal" in prefer:
            return Response(None, status_code=result.status, headers=headers)
        if write and "return=OperationOutcome" in prefer:
            key = "created" if result.status == 201 else "updated"
            info = Issue("informational", key, severity="information")
            return self._json(outcome([info], lang), result.status, pretty, headers)
        if summary or elements or pretty:
            return self._json(shape(version.resource(), summary, elements), result.status, pretty, headers)
        return Response(version.body, status_code=result.status, media_type=FHIR_JSON, headers=headers)


@lru_cache(maxsize=256)
def http_date(seconds: int) -> str:
    return format_datetime(datetime.fromtimestamp(seconds, UTC), usegmt=True)


def negotiate(request: Request) -> None:
    """Only JSON is served: ``_format``/``Accept`` asking for XML alone → 406."""
    fmt = request.query_params.get("_format")
    if fmt is not None:
        if fmt.split(";")[0].strip().lower() not in JSON_TYPES:
            raise FhirError.of(406, "not-supported", "not_acceptable", format=fmt[:60])
        return
    accept = request.headers.get("accept", "")
    if accept and any(x in accept for x in _XML) and "json" not in accept and "*/*" not in accept:
        raise FhirError.of(406, "not-supported", "not_acceptable", format=accept[:60])


def language(header: str | None, default: str) -> str:
    """The first of fr/en in Accept-Language order of preference (q values honoured)."""
    if not header:
        return default
    ranked: list[tuple[float, str]] = []
    for part in header.split(","):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        ranked.append((q, tag.strip().lower()[:2]))
    for _, tag in sorted(ranked, key=lambda x: -x[0]):
        if tag in ("fr", "en"):
            return tag
    return default


def parse_json(raw: bytes, max_depth: int | None) -> Any:
    try:
        data = jsonio.loads(raw)
    except ValueError as exc:
        raise FhirError.of(400, "structure", "malformed_json", detail=str(exc)[:120]) from exc
    if max_depth is not None and raw.count(b"{") + raw.count(b"[") > max_depth and _depth(data) > max_depth:
        raise FhirError.of(400, "too-costly", "too_deep", limit=max_depth)
    return data


def _depth(data: Any) -> int:
    deepest, stack = 0, [(data, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(node, dict):
            stack.extend((v, level + 1) for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend((v, level + 1) for v in node if isinstance(v, (dict, list)))
    return deepest


def _gunzip(raw: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise FhirError.of(400, "structure", "malformed_json", detail="invalid gzip body") from exc
    if len(out) > limit or inflater.unconsumed_tail:
        raise FhirError.of(413, "too-costly", "body_too_large", limit=limit)
    return out
