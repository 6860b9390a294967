"""The CDS Hooks 2.0 service of medication safety: ``/cds-services`` (docs/cds-hooks.md).

https://cds-hooks.hl7.org/2.0/ —

- ``GET /cds-services`` — discovery (https://cds-hooks.hl7.org/2.0/#discovery): the three services
  with their hook, title, description and prefetch templates. Public (it holds no patient data).
- ``POST /cds-services/{id}`` — a service call (https://cds-hooks.hl7.org/2.0/#calling-a-cds-service):
  the client's JWT checked (:mod:`hygie.cds.clients`), the body checked
  (:mod:`hygie.cds.hooks_request`), the prefetch taken or the data read from Hygie
  (:mod:`hygie.cds.hooks_prefetch`), the engine run (:mod:`hygie.cds.hooks_evaluate`), the
  answer ``{"cards": [...]}`` (:mod:`hygie.cds.cards`) with every card kept for feedback.
- ``POST /cds-services/{id}/feedback`` — https://cds-hooks.hl7.org/2.0/#feedback
  (:mod:`hygie.cds.hooks_feedback`).

JWTs are required whenever the FHIR API requires tokens (``HYGIE_AUTH_REQUIRED``, the default).
Errors are OperationOutcomes (``application/fhir+json``) with bilingual diagnostics, like every
error of Hygie: 400 bad body, 401 bad JWT, 404 unknown service or card, 412 data that cannot be
had, 413 body over the limit, 415 not JSON; never a 500 for bad input.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hygie.api.audit_trail import request_id
from hygie.api.http import FhirApi, language, parse_json
from hygie.cds.cards import card
from hygie.cds.clients import verify_jwt
from hygie.cds.hooks_evaluate import evaluate, knowledge, shown, warm_up
from hygie.cds.hooks_feedback import parse_feedback, record_feedback, store_cards
from hygie.cds.hooks_operation import operations
from hygie.cds.hooks_prefetch import TEMPLATES, Reader, gather
from hygie.cds.hooks_request import HookRequest, draft_refs, parse_hook_request
from hygie.errors import error_response, unexpected
from hygie.fhir.messages import register
from hygie.fhir.outcome import FhirError

__all__ = ["SERVICES", "CdsHooks", "discovery_document", "operations", "routes", "warm_up"]
MAX_BODY_BYTES = 4 * 1024 * 1024  # and never above HYGIE_MAX_BODY_BYTES
JSON_TYPES = frozenset({"application/json", "application/fhir+json"})
BUNDLE_KEYS = tuple(k for k in TEMPLATES if k != "patient")

register(
    {
        "cds_unknown_service": {
            "fr": "Service CDS inconnu : {service}.",
            "en": "Unknown CDS service: {service}.",
        },
    }
)


@dataclass(frozen=True, slots=True)
class Service:
    id: str
    hook: str
    title: str
    description: str

    def discovery(self) -> dict[str, Any]:
        return {
            "hook": self.hook,
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "prefetch": dict(TEMPLATES),
            "usageRequirements": "Register the client's public keys with `hygie cds-client add NAME "
            "--jwks FILE`; sign each request's JWT with ES384 or RS384.",
        }


_WHAT = (
    "Checks drug-drug interactions (ANSM thesaurus), allergies and cross-reactivity, therapeutic "
    "duplication, renal dosing, pregnancy and breastfeeding, maximum daily doses, on French "
    "medication codes (CIS, CIP13, UCD, ANSM substance) and ATC."
)
SERVICES: dict[str, Service] = {
    s.id: s
    for s in (
        Service("medication-safety-patient-view", "patient-view", "Medication safety review",
                f"Reviews the patient's current medications when the record is opened. {_WHAT}"),
        Service("medication-safety-order-select", "order-select", "Medication safety on selection",
                f"Checks the medications being selected against the current ones. {_WHAT}"),
        Service("medication-safety-order-sign", "order-sign", "Medication safety before signing",
                f"Checks the draft medication orders before they are signed. {_WHAT}"),
    )
}  # fmt: skip


def discovery_document() -> dict[str, Any]:
    """https://cds-hooks.hl7.org/2.0/#discovery-response"""
    return {"services": [s.discovery() for s in SERVICES.values()]}


def _service(request: Request) -> Service:
    name = str(request.path_params.get("service", ""))
    service = SERVICES.get(name)
    if service is None:
        raise FhirError.of(404, "not-found", "cds_unknown_service", service=name[:64])
    return service


def _root(api: FhirApi, request: Request) -> str:
    if api.settings.base_url:
        return api.settings.base_url.rstrip("/")
    return f"{request.url.scheme}://{request.url.netloc}"


async def _client(api: FhirApi, request: Request, audiences: tuple[str, ...]) -> str:
    """The name of the calling client ('' when authentication is off)."""
    if not api.settings.auth_required:
        return ""
    header = request.headers.get("authorization")
    now = int(time.time())
    client = await api.db.run(lambda s: verify_jwt(s, header, audiences=audiences, now_s=now))
    return client.name


async def _body(api: FhirApi, request: Request) -> Any:
    ctype = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if ctype not in JSON_TYPES:
        raise FhirError.of(415, "not-supported", "unsupported_media_type", type=ctype[:80] or "-")
    raw = await api.read_raw(request, min(MAX_BODY_BYTES, api.settings.max_body_bytes))
    if not raw.strip():
        raise FhirError.of(400, "required", "body_required")
    return parse_json(raw, api.settings.max_json_depth)


def _cards(
    api: FhirApi, hook: HookRequest, data: dict[str, dict[str, Any]], lang: str
) -> list[dict[str, Any]]:
    drafts = draft_refs(hook.draft_orders) if hook.draft_orders is not None else []
    today = datetime.now(ZoneInfo(api.settings.timezone)).date()
    bundles = [data[k] for k in BUNDLE_KEYS if k in data]
    evaluation = evaluate(data.get("patient"), bundles, drafts, today, hook.draft_orders)
    findings = shown(evaluation, hook.hook, hook.selections)
    return [card(f, hook.hook_instance, lang, evaluation.drafts) for f in findings]


class CdsHooks:
    """The three endpoints, over the app's FHIR API (given lazily: it exists once started)."""

    def __init__(self, api: Callable[[], FhirApi]) -> None:
        self.api = api

    def routes(self) -> list[Route]:
        return [
            Route("/cds-services", self.discovery, methods=["GET"]),
            Route("/cds-services/{service}", self.call, methods=["POST"]),
            Route("/cds-services/{service}/feedback", self.feedback, methods=["POST"]),
        ]

    async def discovery(self, request: Request) -> Response:
        return JSONResponse(discovery_document())

    def _lang(self, request: Request) -> str:
        """fr or en from Accept-Language (``HYGIE_DEFAULT_LANGUAGE`` otherwise)."""
        return language(request.headers.get("accept-language"), self.api().settings.default_language)

    async def call(self, request: Request) -> Response:
        lang = self._lang(request)
        try:
            return await self._call(request, lang)
        except FhirError as err:
            return error_response(err, lang)
        except Exception as exc:
            return unexpected(exc, lang)

    async def _call(self, request: Request, lang: str) -> Response:
        service = _service(request)
        api = self.api()
        client = await _client(api, request, (f"{_root(api, request)}/cds-services/{service.id}",))
        hook = parse_hook_request(await _body(api, request), service.hook)
        ip = request.client.host if request.client else None
        reader = Reader(api, api.base_url(request), lang, ip, request_id(request.headers.get("x-request-id")))
        data = await gather(hook, reader)
        await anyio.to_thread.run_sync(knowledge)  # loaded once, off the event loop
        cards = _cards(api, hook, data, lang)
        now_ms = int(time.time() * 1000)
        await api.db.run(
            lambda s: store_cards(
                s, service=service.id, hook_instance=hook.hook_instance, client=client,
                patient=hook.patient_id, cards=cards, now_ms=now_ms,
            )
        )  # fmt: skip
        return JSONResponse({"cards": cards})

    async def feedback(self, request: Request) -> Response:
        lang = self._lang(request)
        try:
            service = _service(request)
            api = self.api()
            url = f"{_root(api, request)}/cds-services/{service.id}"
            client = await _client(api, request, (f"{url}/feedback", url))
            entries = parse_feedback(await _body(api, request))
            now_ms = int(time.time() * 1000)
            await api.db.run(
                lambda s: record_feedback(
                    s, service=service.id, client=client, entries=entries, now_ms=now_ms
                )
            )
            return JSONResponse({})
        except FhirError as err:
            return error_response(err, lang)
        except Exception as exc:
            return unexpected(exc, lang)


def routes(api: Callable[[], FhirApi]) -> list[Route]:
    """The ``/cds-services`` routes for the composition root."""
    return CdsHooks(api).routes()
