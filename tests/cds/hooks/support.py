"""A CDS Hooks 2.0 client written for the tests (httpx), and the data it sends.

https://cds-hooks.hl7.org/2.0/ — the client signs one JWT per request (ES384 or RS384, ``kid``,
``iss``, ``aud`` = the URL called, ``exp`` 5 minutes ahead, ``iat``, a fresh ``jti``), discovers the
services, calls a hook with or without prefetch (the prefetch being the answers of the discovery
templates, run against the FHIR server the way a CDS client does), and posts feedback.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from hygie.cds.model import CIS

CIS_SYSTEM = CIS
ISSUER = "https://ehr.example.org"


def ec_key(kid: str = "ec-1") -> ECKey:
    return ECKey.generate_key("P-384", parameters={"kid": kid}, private=True)


def rsa_key(kid: str = "rsa-1") -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid}, private=True)


def jwks(*keys: ECKey | RSAKey) -> dict[str, Any]:
    return {"keys": [k.as_dict(private=False) for k in keys]}


def sign(
    key: ECKey | RSAKey, claims: dict[str, Any], *, alg: str | None = None, kid: str | None = None
) -> str:
    alg = alg or ("ES384" if isinstance(key, ECKey) else "RS384")
    header = {"alg": alg, "typ": "JWT", "kid": kid if kid is not None else key.kid}
    return jwt.encode(header, claims, key, algorithms=[alg])


def claims(aud: str | list[str], *, iss: str = ISSUER, now: int | None = None, **over: Any) -> dict[str, Any]:
    now = int(time.time()) if now is None else now
    out: dict[str, Any] = {"iss": iss, "aud": aud, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}
    out.update(over)
    return {k: v for k, v in out.items() if v is not None}


@dataclass
class CdsClient:
    """What an EHR does: discovery, hook calls, feedback — each request with its own JWT."""

    base: str  # the server's root URL
    key: ECKey | RSAKey | None = None
    issuer: str = ISSUER
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30.0))

    def url(self, service: str | None = None, feedback: bool = False) -> str:
        url = f"{self.base}/cds-services"
        if service is not None:
            url += f"/{service}"
        return url + ("/feedback" if feedback else "")

    def headers(self, aud: str, token: str | None = None) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token is None and self.key is not None:
            token = sign(self.key, claims(aud, iss=self.issuer))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def discovery(self) -> dict[str, Any]:
        answer = self.http.get(self.url())
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()
        return data

    def call(
        self, service: str, body: Any, *, token: str | None = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        url = self.url(service)
        return self.http.post(url, json=body, headers={**self.headers(url, token), **(headers or {})})

    def feedback(self, service: str, body: Any, *, token: str | None = None) -> httpx.Response:
        url = self.url(service, feedback=True)
        return self.http.post(url, json=body, headers=self.headers(url, token))


def prefetch(
    templates: dict[str, str], context: dict[str, Any], fhir: str, token: str | None
) -> dict[str, Any]:
    """The prefetch a CDS client computes from discovery's templates (``{{context.X}}`` only)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    out = {}
    for key, template in templates.items():
        url = re.sub(r"\{\{context\.(\w+)\}\}", lambda m: str(context[m.group(1)]), template)
        answer = httpx.get(f"{fhir}/{url}", headers=headers, timeout=30.0)
        assert answer.status_code == 200, (url, answer.text)
        out[key] = answer.json()
    return out


def hook_request(
    hook: str,
    patient: str,
    *,
    drafts: list[dict[str, Any]] = (),  # type: ignore[assignment]
    selections: list[str] | None = None,
    fhir: str | None = None,
    token: str | None = None,
    prefetched: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A request of ``hook`` for ``patient`` by Practitioner/dr, with the draft orders given."""
    context: dict[str, Any] = {"userId": "Practitioner/dr", "patientId": patient}
    if hook != "patient-view":
        context["draftOrders"] = {"resourceType": "Bundle", "type": "collection",
                                  "entry": [{"resource": d} for d in drafts]}  # fmt: skip
    if hook == "order-select":
        context["selections"] = selections or [f"MedicationRequest/{d['id']}" for d in drafts]
    body: dict[str, Any] = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context}
    if fhir is not None:
        body["fhirServer"] = fhir
    if token is not None:
        body["fhirAuthorization"] = {"access_token": token, "token_type": "Bearer", "expires_in": 300,
                                     "scope": "user/*.rs", "subject": "ehr"}  # fmt: skip
    if prefetched is not None:
        body["prefetch"] = prefetched
    return body


def medication_request(rid: str, patient: str, cis: str, name: str, status: str = "active") -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": status,
        "intent": "order",
        "subject": {"reference": f"Patient/{patient}"},
        "medicationCodeableConcept": {
            "coding": [{"system": CIS_SYSTEM, "code": cis, "display": name}],
            "text": name,
        },
    }
