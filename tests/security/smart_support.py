"""Helpers of the SMART / OAuth2 end-to-end tests: a movable clock, a seeded installation, a
browser that fills in the sign-in forms, and a transport that lets authlib's OAuth2 client talk to
the in-process app.

Specs: SMART App Launch 2.2 (https://hl7.org/fhir/smart-app-launch/), RFC 6749, RFC 7636.
"""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx2
import pyotp
from authlib.integrations.httpx_client import OAuth2Client
from joserfc.jwk import ECKey, KeySet, RSAKey
from starlette.testclient import TestClient

from hygie.api.context import open_storage
from hygie.app import create_app
from hygie.auth import accounts
from hygie.auth.oauth.clients import register_client
from hygie.settings import Settings
from tests.support import operator_header

ROOT = "http://testserver"
FHIR = f"{ROOT}/fhir"
AUTHORIZE = f"{ROOT}/oauth/authorize"
TOKEN = f"{ROOT}/oauth/token"
PASSWORD = "tranquil meadow orbit 7391"
APP_URI = "https://app.example/cb"
CONF_URI = "https://conf.example/cb"
APP_SCOPE = "launch/patient openid fhirUser profile offline_access patient/*.rs user/*.rs"


class Clock:
    """The authorization server's clock (seconds), moved by the tests instead of sleeping."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Bridge(httpx2.BaseTransport):
    """An httpx transport that sends requests through the running TestClient (so a real OAuth
    client library talks to the in-process app, lifespan and all)."""

    def __init__(self, http: TestClient) -> None:
        self.http = http

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        answer = self.http.request(
            request.method,
            str(request.url),
            headers={k: v for k, v in request.headers.items() if k.lower() != "cookie"},
            content=request.read(),
            follow_redirects=False,
        )
        headers = [(k, v) for k, v in answer.headers.multi_items() if k.lower() != "content-encoding"]
        return httpx2.Response(answer.status_code, headers=headers, content=answer.content)


@dataclass
class Installation:
    """A running server with its data, accounts and registered clients."""

    http: TestClient
    settings: Settings
    clock: Clock
    app_id: str = ""
    conf_id: str = ""
    conf_secret: str = ""
    backend_id: str = ""
    backend_keys: dict[str, Any] = field(default_factory=dict)
    totp_secrets: dict[str, str] = field(default_factory=dict)

    def oauth(self, client_id: str | None = None, **kwargs: Any) -> OAuth2Client:
        """authlib's OAuth2 client for the public app (PKCE S256), over the in-process transport."""
        options: dict[str, Any] = {
            "client_id": client_id or self.app_id,
            "redirect_uri": APP_URI,
            "scope": APP_SCOPE,
            "code_challenge_method": "S256",
            "token_endpoint_auth_method": "none",
            **kwargs,
        }
        return OAuth2Client(transport=Bridge(self.http), **options)

    def fhir(self, path: str, token: str) -> httpx2.Response:
        return self.http.get(f"/fhir/{path}", headers={"Authorization": f"Bearer {token}"})


DATA = [
    {"resourceType": "Organization", "id": "org1", "name": "Clinique du Parc"},
    {"resourceType": "Practitioner", "id": "gp", "name": [{"family": "Martin"}]},
    {"resourceType": "Patient", "id": "alice", "generalPractitioner": [{"reference": "Practitioner/gp"}]},
    {"resourceType": "Patient", "id": "charlie", "generalPractitioner": [{"reference": "Practitioner/gp"}]},
    {"resourceType": "Patient", "id": "bob"},
    *[
        {
            "resourceType": "Observation",
            "id": f"obs-{who}",
            "status": "final",
            "code": {"text": "weight"},
            "subject": {"reference": f"Patient/{who}"},
        }
        for who in ("alice", "bob", "charlie")
    ],
]


def backend_keys() -> dict[str, Any]:
    """Private keys of the backend service: RSA (RS384) and EC P-384 (ES384)."""
    return {
        "rsa": RSAKey.generate_key(2048, private=True, parameters={"kid": "rsa-1"}),
        "ec": ECKey.generate_key("P-384", private=True, parameters={"kid": "ec-1"}),
    }


def seed(settings: Settings, keys: dict[str, Any]) -> dict[str, str]:
    """Accounts and clients, written before the app starts."""
    db, _ = open_storage(settings)
    jwks = KeySet(list(keys.values())).as_dict(private=False)

    def work(session: Any) -> dict[str, str]:
        def account(username: str, kind: Any, fhir: str | None, org: str | None = None) -> None:
            accounts.create_account(
                session,
                username=username,
                kind=kind,
                display=username.title(),
                password=PASSWORD,
                now=0,
                fhir=fhir,
                organization=org,
            )

        account("alice", "patient", "Patient/alice")
        account("bob", "patient", "Patient/bob")
        account("drmartin", "professional", "Practitioner/gp", "org1")
        parent = accounts.find_account(session, "alice")
        assert parent is not None
        accounts.add_proxy(session, parent, "charlie", "mother")
        app, _ = register_client(
            session, name="Carnet", kind="public", redirect_uris=[APP_URI], scope=APP_SCOPE, now_ms=0
        )
        conf, secret = register_client(
            session, name="Portail", kind="confidential", redirect_uris=[CONF_URI], scope=APP_SCOPE, now_ms=0
        )
        backend, _ = register_client(
            session,
            name="Entrepôt",
            kind="backend",
            redirect_uris=[],
            scope="system/*.rs",
            now_ms=0,
            jwks=jwks,
        )
        assert secret is not None
        return {"app": app.client_id, "conf": conf.client_id, "secret": secret, "backend": backend.client_id}

    try:
        return db.run_sync(work)
    finally:
        db.close()


@contextmanager
def installation(settings: Settings, start: float | None = None) -> Iterator[Installation]:
    import time

    keys = backend_keys()
    ids = seed(settings, keys)
    # Ten minutes late by default: tests move it forward without minting tokens from the future
    # (the FHIR API checks tokens against the real time).
    clock = Clock(start if start is not None else time.time() - 600)
    with TestClient(create_app(settings, clock=clock)) as http:
        _load(http, settings)
        yield Installation(
            http, settings, clock, ids["app"], ids["conf"], ids["secret"], ids["backend"], keys
        )


def _load(http: TestClient, settings: Settings) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
            for r in DATA
        ],
    }
    headers = {**operator_header(settings), "Content-Type": "application/fhir+json"}
    answer = http.post("/fhir", json=bundle, headers=headers)
    assert answer.status_code == 200, answer.text


# --- the browser side ---------------------------------------------------------------------------
def hidden_fields(page: str) -> dict[str, str]:
    pairs = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)
    return {html.unescape(k): html.unescape(v) for k, v in pairs}


def form_action(page: str) -> str:
    found = re.search(r'<form method="post" action="([^"]+)"', page)
    assert found is not None, page[:400]
    return html.unescape(found.group(1))


def submit(http: TestClient, page: str, **fields: str) -> httpx2.Response:
    """Post the (first) form of ``page`` with its hidden fields plus ``fields``."""
    return http.post(form_action(page), data={**hidden_fields(page), **fields}, follow_redirects=False)


def text_of(page: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}">([^<]*)<', page)
    assert found is not None, element_id
    return html.unescape(found.group(1))


def totp_now(secret: str, clock: Clock) -> str:
    return pyotp.TOTP(secret).at(clock.now)


def sign_in(inst: Installation, page: str, username: str, **fields: str) -> httpx2.Response:
    """Fill in the password form (and the second factor when asked: TOTP enrolment or code)."""
    answer = submit(inst.http, page, username=username, password=PASSWORD, **fields)
    if 'name="step" value="enroll"' in answer.text:
        secret = text_of(answer.text, "secret")
        inst.totp_secrets[username] = secret
        answer = submit(inst.http, answer.text, code=totp_now(secret, inst.clock))
        assert "recovery-codes" in answer.text
        nxt = re.search(r'<a href="([^"]+)">', answer.text)
        assert nxt is not None
        answer = inst.http.get(html.unescape(nxt.group(1)), follow_redirects=False)
    elif 'name="step" value="totp"' in answer.text:
        answer = submit(inst.http, answer.text, code=totp_now(inst.totp_secrets[username], inst.clock))
    return answer


def approve(inst: Installation, consent: str, **fields: str) -> str:
    """Approve on the consent page; returns the redirect location (to the app). Like a browser,
    the patient picker sends its first option unless told otherwise."""
    first = re.search(r'<select id="patient" name="patient"><option value="([^"]+)">', consent)
    if first is not None and "patient" not in fields:
        fields = {**fields, "patient": html.unescape(first.group(1))}
    answer = submit(inst.http, consent, decision="approve", **fields)
    assert answer.status_code == 303, answer.text[:500]
    return answer.headers["location"]


def launch(
    inst: Installation, username: str, *, client: OAuth2Client | None = None, **consent: str
) -> tuple[dict[str, Any], OAuth2Client]:
    """A whole standalone launch with authlib: authorize URL, sign-in, consent, code → token."""
    oauth = client or inst.oauth()
    verifier = secrets.token_urlsafe(48)
    url, _state = oauth.create_authorization_url(AUTHORIZE, code_verifier=verifier, aud=FHIR)
    page = inst.http.get(url)
    assert page.status_code == 200
    if 'value="consent"' not in page.text:
        page = sign_in(inst, page.text, username)
    location = approve(inst, page.text, **consent)
    token = oauth.fetch_token(TOKEN, authorization_response=location, code_verifier=verifier)
    return dict(token), oauth


def fresh_verifier() -> tuple[str, str]:
    from hygie.auth.oauth.codes import s256

    verifier = secrets.token_urlsafe(48)
    return verifier, s256(verifier)


AuthorizeParams = Callable[..., dict[str, str]]
