"""The body of a CDS Hooks 2.0 service call, checked field by field.

https://cds-hooks.hl7.org/2.0/#http-request_1 — ``hook``, ``hookInstance`` (a UUID),
``fhirServer`` (conditional), ``fhirAuthorization`` (``access_token``, ``token_type`` Bearer,
``expires_in``, ``scope``, ``subject``, optional ``patient``; only with ``fhirServer``),
``context`` (per hook) and ``prefetch`` (key → resource or ``null``). Hook contexts:

- ``patient-view`` (https://cds-hooks.org/hooks/patient-view/): ``userId``, ``patientId``,
  optional ``encounterId``;
- ``order-select`` (https://cds-hooks.org/hooks/order-select/): the same plus ``selections`` (the
  ``Type/id`` of the newly selected orders, each in ``draftOrders``) and ``draftOrders`` (a Bundle);
- ``order-sign`` (https://cds-hooks.org/hooks/order-sign/): the same plus ``draftOrders``.

Every problem is a 400 OperationOutcome naming the field (FHIRPath-like ``expression``).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from hygie.cds.facts import reference_of
from hygie.fhir.messages import register
from hygie.fhir.outcome import FhirError

HOOKS = ("patient-view", "order-select", "order-sign")
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
USER_ID = re.compile(r"(Practitioner|PractitionerRole|Patient|RelatedPerson)/[A-Za-z0-9\-.]{1,64}")
ORDER_REF = re.compile(r"[A-Z][A-Za-z]{1,63}/[A-Za-z0-9\-.]{1,64}")

register(
    {
        "cds_body_object": {
            "fr": "Le corps de la requête doit être un objet JSON.",
            "en": "The request body must be a JSON object.",
        },
        "cds_field_required": {
            "fr": "Champ obligatoire absent : {field}.",
            "en": "Required field missing: {field}.",
        },
        "cds_field_invalid": {
            "fr": "Champ {field} invalide : {reason}.",
            "en": "Invalid field {field}: {reason}.",
        },
        "cds_wrong_hook": {
            "fr": "Ce service répond au hook « {expected} », pas « {hook} ».",
            "en": "This service answers the hook '{expected}', not '{hook}'.",
        },
    }
)


def missing(name: str) -> FhirError:
    return FhirError.of(400, "required", "cds_field_required", (name,), field=name)


def invalid(name: str, reason: str) -> FhirError:
    return FhirError.of(400, "invalid", "cds_field_invalid", (name,), field=name, reason=reason)


@dataclass(frozen=True, slots=True)
class FhirAuthorization:
    """OAuth 2.0 access to the CDS client's FHIR server, for the service's own queries."""

    access_token: str
    scope: str
    subject: str
    expires_in: int
    patient: str | None = None


@dataclass(frozen=True, slots=True)
class HookRequest:
    hook: str
    hook_instance: str
    fhir_server: str | None
    authorization: FhirAuthorization | None
    context: dict[str, Any]
    prefetch: dict[str, Any] = field(default_factory=dict)

    @property
    def patient_id(self) -> str:
        return str(self.context["patientId"])

    @property
    def user_id(self) -> str:
        return str(self.context["userId"])

    @property
    def selections(self) -> tuple[str, ...]:
        return tuple(self.context.get("selections") or ())

    @property
    def draft_orders(self) -> dict[str, Any] | None:
        drafts = self.context.get("draftOrders")
        return drafts if isinstance(drafts, dict) else None


def _text(body: dict[str, Any], name: str, path: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise missing(path)
        return None
    if not isinstance(value, str) or not value.strip():
        raise invalid(path, "a non-empty string is expected")
    return value


def _url(value: str | None, path: str) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(value) > 2000:
        raise invalid(path, "an absolute http(s) URL is expected")
    return value.rstrip("/")


def _authorization(body: dict[str, Any], server: str | None) -> FhirAuthorization | None:
    raw = body.get("fhirAuthorization")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise invalid("fhirAuthorization", "an object is expected")
    if server is None:
        raise invalid("fhirAuthorization", "fhirServer is required with fhirAuthorization")
    token = _text(raw, "access_token", "fhirAuthorization.access_token")
    kind = _text(raw, "token_type", "fhirAuthorization.token_type")
    if kind != "Bearer":
        raise invalid("fhirAuthorization.token_type", "must be 'Bearer'")
    expires = raw.get("expires_in")
    if not isinstance(expires, int) or isinstance(expires, bool) or expires < 0:
        raise invalid("fhirAuthorization.expires_in", "a non-negative integer is expected")
    patient = _text(raw, "patient", "fhirAuthorization.patient", required=False)
    return FhirAuthorization(
        access_token=str(token),
        scope=str(_text(raw, "scope", "fhirAuthorization.scope")),
        subject=str(_text(raw, "subject", "fhirAuthorization.subject")),
        expires_in=expires,
        patient=patient,
    )


def draft_refs(bundle: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``(reference, resource)`` of each entry of a draftOrders Bundle (``Type/id``; entries
    without an id are named by their ``fullUrl``, else by their position)."""
    out = []
    for n, entry in enumerate(bundle.get("entry") or []):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise invalid(f"context.draftOrders.entry[{n}].resource", "a FHIR resource is expected")
        full_url = entry.get("fullUrl")
        fallback = full_url if isinstance(full_url, str) else f"{resource['resourceType']}/draft-{n}"
        out.append((reference_of(resource, fallback), resource))
    return out


def _draft_orders(context: dict[str, Any]) -> dict[str, Any]:
    drafts = context.get("draftOrders")
    if drafts is None:
        raise missing("context.draftOrders")
    if not isinstance(drafts, dict) or drafts.get("resourceType") != "Bundle":
        raise invalid("context.draftOrders", "a FHIR Bundle is expected")
    if not isinstance(drafts.get("entry", []), list):
        raise invalid("context.draftOrders.entry", "an array is expected")
    draft_refs(drafts)  # every entry is a resource
    return drafts


def _context(body: dict[str, Any], hook: str) -> dict[str, Any]:
    context = body.get("context")
    if context is None:
        raise missing("context")
    if not isinstance(context, dict):
        raise invalid("context", "an object is expected")
    user = _text(context, "userId", "context.userId")
    if not USER_ID.fullmatch(str(user)):
        raise invalid(
            "context.userId", "Practitioner/id, PractitionerRole/id, Patient/id or RelatedPerson/id"
        )
    if not FHIR_ID.fullmatch(str(_text(context, "patientId", "context.patientId"))):
        raise invalid("context.patientId", "a FHIR id is expected")
    encounter = _text(context, "encounterId", "context.encounterId", required=False)
    if encounter is not None and not FHIR_ID.fullmatch(encounter):
        raise invalid("context.encounterId", "a FHIR id is expected")
    if hook in ("order-select", "order-sign"):
        drafts = _draft_orders(context)
        if hook == "order-select":
            _selections(context, {ref for ref, _ in draft_refs(drafts)})
    return context


def _selections(context: dict[str, Any], refs: set[str]) -> None:
    selections = context.get("selections")
    if selections is None:
        raise missing("context.selections")
    if not isinstance(selections, list) or not selections:
        raise invalid("context.selections", "a non-empty array of Type/id is expected")
    for n, selection in enumerate(selections):
        if not isinstance(selection, str) or not ORDER_REF.fullmatch(selection):
            raise invalid(f"context.selections[{n}]", "Type/id is expected")
        if selection not in refs:
            raise invalid(f"context.selections[{n}]", "not among the draftOrders")


def _prefetch(body: dict[str, Any]) -> dict[str, Any]:
    prefetch = body.get("prefetch")
    if prefetch is None:
        return {}
    if not isinstance(prefetch, dict):
        raise invalid("prefetch", "an object is expected")
    for key, value in prefetch.items():
        if value is not None and (
            not isinstance(value, dict) or not isinstance(value.get("resourceType"), str)
        ):
            raise invalid(f"prefetch.{key}", "a FHIR resource or null is expected")
    return prefetch


def parse_hook_request(body: Any, hook: str) -> HookRequest:
    """The checked request of a call to a service of ``hook`` (400 on the first problem)."""
    if not isinstance(body, dict):
        raise FhirError.of(400, "structure", "cds_body_object")
    called = _text(body, "hook", "hook")
    if called != hook:
        raise FhirError.of(400, "invalid", "cds_wrong_hook", ("hook",), expected=hook, hook=str(called)[:64])
    instance = str(_text(body, "hookInstance", "hookInstance"))
    try:
        uuid.UUID(instance)
    except ValueError:
        raise invalid("hookInstance", "a UUID is expected") from None
    server = _url(_text(body, "fhirServer", "fhirServer", required=False), "fhirServer")
    authorization = _authorization(body, server)
    context = _context(body, hook)
    return HookRequest(hook, instance, server, authorization, context, _prefetch(body))
