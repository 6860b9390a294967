"""Composition root: ``create_app(settings)`` wires storage, the FHIR API and health checks."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hygie.api.audit_trail import AuditTrail
from hygie.api.auth_routes import auth_routes
from hygie.api.context import open_storage
from hygie.api.hardening import Hardening
from hygie.api.http import FhirApi, pure_operation
from hygie.api.oauth import OAuthServer
from hygie.api.openapi import openapi
from hygie.api.subscriptions import service as subscriptions
from hygie.auth import balp
from hygie.cds import hooks as cds
from hygie.errors import error_response, unexpected
from hygie.fhir.outcome import FhirError
from hygie.logging import configure, get_logger
from hygie.monitoring import operations as monitoring
from hygie.monitoring.news2_fhir import news2_operation
from hygie.settings import Settings
from hygie.transfer import operations as transfer
from hygie.web.routes import WEB_PREFIXES, missing_page, web_routes
from hygie.web.signin_pages import WebLoginPages

FHIR_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


def create_app(
    settings: Settings | None = None, *, freeze_gc: bool = False, clock: Callable[[], float] | None = None
) -> Starlette:
    """The ASGI app. ``clock`` (seconds, default ``time.time``) drives the authorization server:
    codes, sessions, refresh tokens, sign-in throttling (tests move it)."""
    settings = settings or Settings()
    configure(settings.log_level, settings.log_json)
    log = get_logger("hygie.app")
    state: dict[str, FhirApi] = {}
    auth: dict[str, OAuthServer] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db, params = open_storage(settings)
        api = state["api"] = app.state.fhir_api = FhirApi(settings, db, params)
        api.trail = AuditTrail(db, api.keys.audit, balp.Server(base_url=settings.base_url))
        api.trail.start()
        auth["server"] = OAuthServer(settings, api, clock)
        await auth["server"].start()  # revoked access-token ids → api.revoked
        api.operations.update(transfer.operations())  # Bulk Data, portability (hygie/transfer)
        api.operations["type:Observation:$news2"] = pure_operation(news2_operation)  # hygie/monitoring
        api.operations.update(cds.operations())  # MedicationRequest/$check-interactions (hygie/cds)
        cds.warm_up()  # the medication knowledge base and drug search, loaded in the background
        monitor = monitoring.start(api)  # alert rounds (HYGIE_MONITORING_INTERVAL_SECONDS)
        api.operations.update(monitoring.operations(monitor))  # $ingest, alert inbox, $samples…
        await transfer.start(api)
        api.operations.update(subscriptions.operations())  # Subscriptions backport (docs/subscriptions.md)
        await subscriptions.start(api)
        if freeze_gc:  # start-up objects (definitions, registries) leave the collector's scans
            gc.collect()
            gc.freeze()
        log.info("started", backend=db.dialect)
        if not settings.auth_required:
            log.warning(
                "AUTHENTICATION DISABLED (HYGIE_AUTH_REQUIRED=false): every request acts as a "
                "system client with system/*.cruds; never expose this server"
            )
        try:
            yield
        finally:
            await auth["server"].close()
            await monitoring.close(monitor)
            await transfer.close(api)
            await subscriptions.close(api)
            await api.trail.close()  # the last records reach the ledger before the database closes
            db.close()

    async def fhir(request: Request) -> Response:
        return await state["api"](request)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        api = state.get("api")
        ok = api is not None and api.db.ping()
        return JSONResponse({"status": "ok" if ok else "unavailable"}, status_code=200 if ok else 503)

    routes = [
        *auth_routes(lambda: auth["server"], WebLoginPages()),  # /fhir/.well-known/… before /fhir/…
        Route("/fhir", fhir, methods=FHIR_METHODS),
        Route("/fhir/{path:path}", fhir, methods=FHIR_METHODS),
        subscriptions.route(),  # /fhir-ws: the websocket channel of Subscriptions
        Route("/healthz", healthz),
        Route("/openapi.json", openapi),  # the non-FHIR endpoints (hygie/api/openapi.json)
        Route("/readyz", readyz),
        *cds.routes(lambda: state["api"]),  # /cds-services: CDS Hooks 2.0 (docs/cds-hooks.md)
        *web_routes(lambda: state["api"], lambda: auth["server"]),  # /, /portal, /workspace… (docs/web.md)
    ]

    missing = missing_page(lambda: state["api"], lambda: auth["server"])

    async def not_routed(request: Request, exc: Exception) -> Response:
        """URLs no route matches (e.g. control characters in a FHIR path): an OperationOutcome."""
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if status == 405:
            return error_response(
                FhirError.of(405, "not-supported", "method_not_allowed", method=request.method[:16])
            )
        if status == 404:
            if request.url.path.startswith(WEB_PREFIXES):  # the web UI's own 404 page
                return await missing(request)
            return error_response(FhirError.of(404, "not-found", "unknown_route"))
        return unexpected(exc)

    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=_middleware(settings),
        exception_handlers={404: not_routed, 405: not_routed, Exception: not_routed},
    )


def _middleware(settings: Settings) -> list[Middleware]:
    """Hardening outermost (headers on every answer, limits before any work), then CORS when
    origins are configured, then gzip."""
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    stack = [
        Middleware(
            Hardening,
            rate_per_s=settings.rate_limit_per_second,
            max_url_bytes=settings.max_url_bytes,
            cors=bool(origins),
        )
    ]
    if origins:
        stack.append(
            Middleware(
                CORSMiddleware,
                allow_origins=origins,
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                allow_headers=["Authorization", "Content-Type", "Prefer", "If-Match", "If-None-Exist"],
                expose_headers=["Location", "ETag", "Last-Modified", "Content-Location"],
            )
        )
    stack.append(Middleware(GZipMiddleware, minimum_size=1024))
    return stack
