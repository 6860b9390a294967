"""Prefetch templates, and the data the service fetches itself when the client did not prefetch.

https://cds-hooks.hl7.org/2.0/#prefetch-template — a template is a relative FHIR URL with tokens:
``{{context.X}}`` (a context field; an array becomes a comma-separated list), and the user
tokens derived from ``context.userId``: ``{{userPractitionerId}}``, ``{{userPractitionerRoleId}}``,
``{{userPatientId}}``, ``{{userRelatedPersonId}}``. A template whose tokens have no value is not
run (its prefetch is left empty).

https://cds-hooks.hl7.org/2.0/#fhir-resource-access — what the client left out of ``prefetch``
(absent, or ``null``) the service reads itself from ``fhirServer`` with ``fhirAuthorization``.
This service reads **only from Hygie itself**: ``fhirServer`` must be this server's FHIR base. The
queries then run in process, under the access policy of the ``fhirAuthorization`` access token
(a Hygie token, e.g. from ``hygie token issue`` or the SMART authorization server), exactly as
the same GETs over HTTP would, and they are audited as one read of the patient's record. With
authentication switched off (``HYGIE_AUTH_REQUIRED=false``) they run unrestricted, like any
request. When the data cannot be had — no ``fhirServer``, another server, a refused token, an
unknown patient — the answer is ``412 Precondition Failed``, as the specification asks.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hygie.api.audit_trail import access_record
from hygie.api.authorize import authenticate, check
from hygie.api.context import Env, FhirRequest
from hygie.api.http import FhirApi
from hygie.api.routes import parse_url, route
from hygie.auth.policy import Policy
from hygie.cds.hooks_request import HookRequest
from hygie.fhir import jsonio
from hygie.fhir.messages import register
from hygie.fhir.outcome import FhirError
from hygie.storage.database import Session

_LAB = "http://loinc.org|"
_OBSERVATION_CODES = ",".join(
    _LAB + c for c in ("2160-0", "14682-9", "29463-7", "3141-9", "82810-3", "63895-7")
)
TEMPLATES: dict[str, str] = {
    "patient": "Patient/{{context.patientId}}",
    "medications": "MedicationRequest?patient={{context.patientId}}&status=active,on-hold"
    "&_include=MedicationRequest:medication&_count=500",
    "statements": "MedicationStatement?patient={{context.patientId}}&status=active,intended,on-hold"
    "&_include=MedicationStatement:medication&_count=500",
    "allergies": "AllergyIntolerance?patient={{context.patientId}}&_count=500",
    "observations": "Observation?patient={{context.patientId}}&code="
    + _OBSERVATION_CODES
    + "&_sort=-date&_count=200",
    "conditions": "Condition?patient={{context.patientId}}&_count=500",
}
"""The prefetch of every service (discovery announces it)."""
KINDS = {key: "Patient" if key == "patient" else "Bundle" for key in TEMPLATES}
TOKEN = re.compile(r"\{\{\s*([A-Za-z][A-Za-z0-9_.]*)\s*\}\}")
USER_TOKENS = {
    "userPractitionerId": "Practitioner",
    "userPractitionerRoleId": "PractitionerRole",
    "userPatientId": "Patient",
    "userRelatedPersonId": "RelatedPerson",
}

register(
    {
        "cds_prefetch_kind": {
            "fr": "prefetch.{name} doit être une ressource {kind}.",
            "en": "prefetch.{name} must be a {kind} resource.",
        },
        "cds_prefetch_patient": {
            "fr": "prefetch.patient n'est pas le patient du contexte (context.patientId).",
            "en": "prefetch.patient is not the context's patient (context.patientId).",
        },
        "cds_no_fhir_server": {
            "fr": "Données manquantes ({keys}) et pas de fhirServer pour les lire.",
            "en": "Missing data ({keys}) and no fhirServer to read them from.",
        },
        "cds_foreign_fhir_server": {
            "fr": "Données manquantes ({keys}) : ce service ne lit que le serveur FHIR de Hygie ({base}).",
            "en": "Missing data ({keys}): this service reads only Hygie's own FHIR server ({base}).",
        },
        "cds_no_fhir_authorization": {
            "fr": "Données manquantes ({keys}) et pas de fhirAuthorization pour les lire.",
            "en": "Missing data ({keys}) and no fhirAuthorization to read them with.",
        },
        "cds_fetch_failed": {
            "fr": "Lecture de {name} impossible : {reason}",
            "en": "Could not read {name}: {reason}",
        },
    }
)


def render_template(template: str, context: Mapping[str, Any]) -> str | None:
    """The template with its tokens replaced (None when one has no value)."""
    values: list[str | None] = []

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        found: str | None = None
        if name.startswith("context."):
            raw = context.get(name.removeprefix("context."))
            if isinstance(raw, str) and raw:
                found = raw
            elif isinstance(raw, list) and raw and all(isinstance(v, str) for v in raw):
                found = ",".join(raw)
        elif name in USER_TOKENS:
            kind, _, rid = str(context.get("userId") or "").partition("/")
            found = rid if kind == USER_TOKENS[name] and rid else None
        values.append(found)
        return found or ""

    rendered = TOKEN.sub(value, template)
    return None if any(v is None for v in values) else rendered


def provided(hook: HookRequest) -> dict[str, dict[str, Any]]:
    """The prefetch the client sent for our keys (400 when one is of the wrong kind)."""
    out: dict[str, dict[str, Any]] = {}
    for key, kind in KINDS.items():
        value = hook.prefetch.get(key)
        if value is None:
            continue
        if value.get("resourceType") != kind:
            raise FhirError.of(400, "invalid", "cds_prefetch_kind", (f"prefetch.{key}",), name=key, kind=kind)
        out[key] = value
    patient = out.get("patient")
    if patient is not None and patient.get("id") != hook.patient_id:
        raise FhirError.of(400, "invalid", "cds_prefetch_patient", ("prefetch.patient",))
    return out


def read(env: Env, url: str) -> dict[str, Any]:
    """GET a relative FHIR URL in process (read or search), under ``env``'s policy; the resources
    read join ``env.touched`` (the audit trail)."""
    req = parse_url("GET", url)
    check(env, req)
    result = route(req)(env, req)
    if result.resource is not None:
        data: dict[str, Any] = jsonio.loads(jsonio.dumps(result.resource))
        return data
    assert result.version is not None
    env.touched.append(result.version)
    return result.version.resource()


def wanted_for(patient_id: str, skip: frozenset[str] = frozenset()) -> dict[str, str]:
    """The queries of the prefetch templates for one patient (key → relative URL)."""
    context = {"patientId": patient_id}
    return {
        key: url for key, t in TEMPLATES.items() if key not in skip and (url := render_template(t, context))
    }


@dataclass(slots=True)
class Reader:
    """Reads from Hygie in process for one hook call, under the fhirAuthorization's policy."""

    api: FhirApi
    base: str
    lang: str
    client_ip: str | None
    request_id: str

    def _policy(self, hook: HookRequest, keys: str) -> Policy | None:
        if not self.api.settings.auth_required:
            return None
        if hook.authorization is None:
            raise FhirError.of(412, "security", "cds_no_fhir_authorization", keys=keys)
        now = int(time.time())
        try:
            principal = authenticate(
                f"Bearer {hook.authorization.access_token}",
                self.api.keys,
                audiences=(self.api.keys.instance, self.base),
                now=now,
                revoked=self.api.revoked,
                cache=self.api.verified,
            )
        except FhirError as err:
            reason = err.issues[0].to_json(self.lang)["diagnostics"] if err.issues else str(err.status)
            raise FhirError.of(
                412, "security", "cds_fetch_failed", name="fhirAuthorization", reason=reason
            ) from None
        account = principal.subject if principal.kind in ("professional", "patient") else None
        tz = self.api.settings.timezone
        return Policy(principal, self.api.params, self.base, now * 1000, account, tz)

    def _get(self, env: Env, key: str, url: str) -> dict[str, Any]:
        try:
            return read(env, url)
        except FhirError as err:
            reason = err.issues[0].to_json(self.lang)["diagnostics"] if err.issues else str(err.status)
            raise FhirError.of(412, "not-found", "cds_fetch_failed", name=key, reason=reason) from None

    async def fetch(self, hook: HookRequest, wanted: dict[str, str]) -> dict[str, dict[str, Any]]:
        """Run the ``wanted`` queries (key → relative URL) in one read transaction."""
        keys = ", ".join(sorted(wanted))
        if hook.fhir_server is None:
            raise FhirError.of(412, "incomplete", "cds_no_fhir_server", keys=keys)
        if hook.fhir_server != self.base.rstrip("/"):
            raise FhirError.of(412, "not-supported", "cds_foreign_fhir_server", keys=keys, base=self.base)
        policy = self._policy(hook, keys)
        envs: list[Env] = []

        def work(session: Session) -> dict[str, dict[str, Any]]:
            env = self.api._env(session, self.base, self.lang, envs, policy)
            return {key: self._get(env, key, url) for key, url in wanted.items()}

        status = 200
        try:
            return await self.api.db.run(work, write=False)
        except FhirError as err:
            status = err.status
            raise
        finally:
            self._audit(hook, policy, envs, status)

    def _audit(self, hook: HookRequest, policy: Policy | None, envs: list[Env], status: int) -> None:
        if self.api.trail is None:
            return
        req = FhirRequest(method="GET", type="Patient", id=hook.patient_id)  # reads of the record
        record = access_record(
            req,
            principal=policy.principal if policy is not None else None,
            status=status,
            touched=[v for env in envs for v in env.touched],
            patients={hook.patient_id},
            client_ip=self.client_ip,
            request_id=self.request_id,
            now_ms=int(time.time() * 1000),
        )
        self.api.trail.record(record)


async def gather(hook: HookRequest, reader: Reader) -> dict[str, dict[str, Any]]:
    """Every prefetch key's resource: the client's when it sent it, else read from Hygie."""
    data = provided(hook)
    wanted = {
        key: url
        for key, template in TEMPLATES.items()
        if key not in data and (url := render_template(template, hook.context)) is not None
    }
    if wanted:
        data.update(await reader.fetch(hook, wanted))
    return data
