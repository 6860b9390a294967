"""Schemathesis against the OpenAPI document of the non-FHIR endpoints, in process, on both databases.

The document is the one the ASGI app serves (``GET /openapi.json``, hygie/api/openapi.json; the
route needs no start-up, so it is read at collection without a database), and every operation is
fuzzed against the app of a fresh database of each backend (the ``settings`` fixture): its
examples, the coverage phase's boundary and negative cases (missing required parameters, wrong
types, repeated query parameters) and generated positive and negative inputs — at most 25 per
operation in the fuzzing phase, with a fixed seed and ``derandomize``, so every run sends the same
requests (``HYGIE_FUZZ_EXAMPLES`` and ``HYGIE_FUZZ_SEED`` change them for a longer exploration).
Every answer must pass:

- ``not_a_server_error`` — never a 5xx;
- ``status_code_conformance`` — the status is documented for that operation;
- ``content_type_conformance`` — the Content-Type is one documented for that status;
- ``response_schema_conformance`` — JSON bodies match their schema (token response, RFC 6749 error,
  introspection, JWK Set, SMART and OpenID configuration, health);
- ``response_headers_conformance`` — required headers (``Location`` of redirects,
  ``WWW-Authenticate`` of 401, ``Cache-Control``, ``Retry-After``) are there and well formed;
- ``client_authentication_enforced`` (below) — the token, introspection and revocation endpoints
  authenticate the client: each request is sent with the confidential client's HTTP Basic
  credentials, then replayed without credentials and with wrong ones; a replay is never accepted,
  and the replay of an accepted request is a 401 ``invalid_client`` with a ``WWW-Authenticate``
  challenge. Schemathesis' own ``ignored_auth`` cannot judge these operations: public apps and
  ``private_key_jwt`` clients authenticate inside the form body, which OpenAPI can only declare as
  the optional requirement ``{}``, and ``ignored_auth`` passes every operation whose security is
  optional.

The app has the accounts and clients of the SMART tests (:func:`tests.security.smart_support.seed`)
and the stand-in OpenID provider of tests/security/test_external_idp.py (on 127.0.0.1). A
browser-like variant of each sign-in request carries the CSRF cookie matching its form token and
the registered app's ``client_id``/``redirect_uri``/``aud``, so that fuzzed values reach the
password, second-factor and consent logic instead of stopping at the CSRF or client checks. Both
databases run the whole file: the run is bounded (about 25 s per database here) and the
authorization server's queries differ between the backends.

Then, validated against the same document by a hook on the test client: each protected endpoint
without, and with wrong, credentials (401 ``invalid_client``); a backend service's token, its
introspection by a confidential client and by its holder, its revocation; a whole standalone launch
(authorization request, sign-in, consent, code exchange, refresh, sign-out); and the regressions
the fuzzing found.
"""

from __future__ import annotations

import base64
import hashlib
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx2
import hypothesis
import psycopg_pool.base
import pytest
import schemathesis
from hypothesis import HealthCheck
from joserfc.jwk import RSAKey
from schemathesis import Case, CheckContext, Response
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.applications import Starlette
from starlette.testclient import TestClient

from hygie.app import create_app
from hygie.settings import Settings
from tests.security.smart_support import (
    APP_URI,
    FHIR,
    Clock,
    backend_keys,
    fresh_verifier,
    hidden_fields,
    installation,
    launch,
    seed,
)
from tests.security.test_external_idp import _with_provider, stand_in_provider
from tests.security.test_smart_backend import ASSERTION_TYPE, assertion

# Hypothesis refuses the global `random` being used while it draws data; psycopg_pool's workers
# draw from it for connection-lifetime jitter (see tests/api/test_robustness.py).
psycopg_pool.base.random = random.Random(0).random  # type: ignore[attr-defined]

PROTECTED = frozenset({"/oauth/token", "/oauth/introspect", "/oauth/revoke"})
SIGN_IN_FORMS = frozenset({"/login", "/logout", "/oauth/authorize"})
WRONG_BASIC = "Basic " + base64.b64encode(b"wrong:credentials").decode()
SEED = int(os.environ.get("HYGIE_FUZZ_SEED", "20250611"))  # fixed: every run sends the same requests
EXAMPLES = int(os.environ.get("HYGIE_FUZZ_EXAMPLES", "25"))  # per operation, fuzzing phase
CONFORMANCE = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


def _served_document() -> dict[str, Any]:
    """The document as the ASGI app serves it (the route needs no start-up, hence no database)."""
    app = create_app(Settings(database_url="sqlite:///:memory:", keys_dir=Path("/nonexistent")))
    answer = TestClient(app).get("/openapi.json")
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


schema = schemathesis.openapi.from_dict(
    _served_document(),
    config=schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {
                "mode": "all",
                "max-examples": EXAMPLES,
                "deterministic": True,
                "database": "none",
            },
            "phases": {"stateful": {"enabled": False}},
        }
    ),
)


def basic(client_id: str, secret: str) -> str:
    """HTTP Basic credentials of a client (RFC 6749 §2.3.1: each part form-urlencoded)."""
    return "Basic " + base64.b64encode(f"{quote(client_id)}:{quote(secret)}".encode()).decode()


@dataclass
class World:
    app: Starlette
    ids: dict[str, str]

    @property
    def basic(self) -> str:
        return basic(self.ids["conf"], self.ids["secret"])


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    """The app on a fresh database with the SMART tests' accounts and clients and a stand-in
    external provider. Sign-in throttling is loosened so that fuzzed credentials reach the
    password check (its 429 has its own test in tests/security/test_smart_flows.py)."""
    with stand_in_provider() as idp:
        loose = {"login_burst": 100_000, "login_attempts_per_minute": 1e6}
        settings = _with_provider(settings, idp).model_copy(update=loose)
        ids = seed(settings, backend_keys())
        yield World(create_app(settings, clock=Clock(time.time())), ids)


# --- the fuzzing -------------------------------------------------------------------------------
def _replay(case: Case, app: Starlette, authorization: str | None) -> Response:
    headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
    if authorization is not None:
        headers["Authorization"] = authorization
    replay = case.operation.Case(
        method=case.method,
        headers=headers,
        cookies=dict(case.cookies or {}),
        query=dict(case.query or {}),
        body=case.body,
        media_type=case.media_type,
    )
    return replay.call(app=app, allow_redirects=False)


def client_authentication_enforced(app: Starlette) -> Callable[[CheckContext, Response, Case], bool | None]:
    """The check for ``app`` (see the module docstring; RFC 6749 §2.3 and §5.2)."""

    def client_authentication_enforced(_: CheckContext, response: Response, case: Case) -> bool | None:
        if case.operation.path not in PROTECTED:
            return None
        for authorization in (None, WRONG_BASIC):
            replay = _replay(case, app, authorization)
            label = (
                f"{case.operation.label} {'without' if authorization is None else 'with wrong'} credentials"
            )
            assert not 200 <= replay.status_code < 300, f"{label}: accepted"
            assert replay.status_code < 500, f"{label}: {replay.status_code}"
            if 200 <= response.status_code < 300:
                assert replay.status_code == 401, f"{label}: {replay.status_code}"
                assert replay.json()["error"] == "invalid_client", label
                assert replay.headers["www-authenticate"][0].startswith("Basic "), label
        return None

    return client_authentication_enforced


def browser_variant(case: Case, world: World) -> Case | None:
    """The same sign-in request as a browser of the registered app sends it: the CSRF cookie equals
    the form's token (both derived from the fuzzed token), and the authorization parameters name
    the registered app."""
    if case.operation.path not in SIGN_IN_FORMS:
        return None
    registered = {"client_id": world.ids["app"], "redirect_uri": APP_URI, "aud": FHIR}
    cookies, query, body = dict(case.cookies or {}), dict(case.query or {}), case.body
    if case.method.upper() == "GET":
        if case.operation.path != "/oauth/authorize":
            return None
        query.update(registered)
    elif isinstance(body, dict):
        body = dict(body)
        token = body.get("csrf")
        if isinstance(token, str) and token:  # a cookie-safe token of the server's shape, from the fuzzed one
            digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
            body["csrf"] = cookies["hygie_csrf"] = base64.urlsafe_b64encode(digest).decode().rstrip("=")
        if case.operation.path == "/oauth/authorize":
            body.update(registered)
    else:
        return None
    return case.operation.Case(
        method=case.method,
        headers=dict(case.headers or {}),
        cookies=cookies,
        query=query,
        body=body,
        media_type=case.media_type,
    )


@schema.parametrize()
@hypothesis.settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_operation_conforms_to_the_document(case: Case, world: World) -> None:
    checks = [*CONFORMANCE, client_authentication_enforced(world.app)]
    if case.operation.path in PROTECTED:  # the confidential client's credentials (replays drop them)
        case.headers = {**(case.headers or {}), "Authorization": world.basic}
    case.call_and_validate(checks=checks, app=world.app, allow_redirects=False)
    variant = browser_variant(case, world)
    if variant is not None:
        variant.call_and_validate(checks=checks, app=world.app, allow_redirects=False)


# --- explicit requests, every answer checked against the document --------------------------------
class Conformance:
    """A response hook on a test client: each answer of a documented operation is validated
    against the document (the checks above) as it arrives."""

    def __init__(self, http: TestClient) -> None:
        self.seen: set[tuple[str, str]] = set()
        http.event_hooks["response"].append(self.check)

    def check(self, response: httpx2.Response) -> None:
        method, path = response.request.method, response.request.url.path
        if path not in schema.raw_schema["paths"] or method.lower() not in schema.raw_schema["paths"][path]:
            return
        response.read()
        schema[path][method].Case(method=method).validate_response(response, checks=CONFORMANCE)
        self.seen.add((method, path))


def test_protected_endpoints_refuse_missing_or_wrong_credentials(settings: Settings) -> None:
    with installation(settings, start=time.time()) as inst:
        conformance = Conformance(inst.http)
        good = basic(inst.conf_id, inst.conf_secret)
        stranger = RSAKey.generate_key(2048, private=True, parameters={"kid": "rsa-1"})
        token_form = {"grant_type": "client_credentials", "scope": "system/*.rs"}
        forged = {
            **token_form,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion(inst, key=stranger),
        }
        refusals: list[tuple[str, dict[str, str], dict[str, str]]] = [
            ("/oauth/token", token_form, {}),
            ("/oauth/token", token_form, {"Authorization": basic(inst.conf_id, "wrong")}),
            ("/oauth/token", token_form, {"Authorization": basic("nobody", inst.conf_secret)}),
            ("/oauth/token", token_form, {"Authorization": "Basic %%%"}),
            (
                "/oauth/token",
                {**token_form, "client_id": inst.conf_id, "client_secret": inst.conf_secret},
                {},
            ),
            ("/oauth/token", forged, {}),
            ("/oauth/introspect", {"token": "x"}, {}),
            ("/oauth/introspect", {"token": "x"}, {"Authorization": basic(inst.conf_id, "wrong")}),
            ("/oauth/introspect", {"token": "x"}, {"Authorization": "Bearer y"}),
            ("/oauth/introspect", {"token": "x", "client_id": inst.app_id}, {}),  # public apps may not
            ("/oauth/revoke", {"token": "x"}, {}),
            ("/oauth/revoke", {"token": "x"}, {"Authorization": basic(inst.conf_id, "wrong")}),
        ]
        for path, form, headers in refusals:
            answer = inst.http.post(path, data=form, headers=headers)
            assert answer.status_code == 401, (path, form, headers, answer.text)
            assert answer.json()["error"] == "invalid_client"
            assert answer.headers["www-authenticate"].startswith("Basic ")
        # The same requests with the right credentials get past the client authentication.
        assert inst.http.post(
            "/oauth/introspect", data={"token": "x"}, headers={"Authorization": good}
        ).json() == {"active": False}
        assert (
            inst.http.post("/oauth/revoke", data={"token": "x"}, headers={"Authorization": good}).json() == {}
        )
        answer = inst.http.post("/oauth/token", data=token_form, headers={"Authorization": good})
        assert answer.status_code == 400 and answer.json()["error"] == "unauthorized_client"
        assert {("POST", path) for path in PROTECTED} <= conformance.seen


def test_backend_token_introspection_and_revocation_conform(settings: Settings) -> None:
    with installation(settings, start=time.time()) as inst:  # backend tokens: the real time
        conformance = Conformance(inst.http)
        signed = {"client_assertion_type": ASSERTION_TYPE}
        answer = inst.http.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "scope": "system/*.rs",
                **signed,
                "client_assertion": assertion(inst),
            },
        )
        assert answer.status_code == 200, answer.text
        access = answer.json()["access_token"]
        by_client = {"Authorization": basic(inst.conf_id, inst.conf_secret)}
        state = inst.http.post("/oauth/introspect", data={"token": access}, headers=by_client).json()
        assert state["active"] is True and state["client_id"] == inst.backend_id
        by_holder = {"Authorization": f"Bearer {access}"}
        assert inst.http.post("/oauth/introspect", data={"token": access}, headers=by_holder).json()["active"]
        revoked = inst.http.post(
            "/oauth/revoke", data={"token": access, **signed, "client_assertion": assertion(inst)}
        )
        assert revoked.status_code == 200 and revoked.json() == {}
        after = inst.http.post("/oauth/introspect", data={"token": access}, headers=by_client)
        assert after.json() == {"active": False}
        assert {("POST", "/oauth/token"), ("POST", "/oauth/introspect"), ("POST", "/oauth/revoke")} <= (
            conformance.seen
        )


def test_a_whole_standalone_launch_conforms(settings: Settings) -> None:
    with installation(settings) as inst:
        conformance = Conformance(inst.http)
        for path in ("/healthz", "/readyz", "/.well-known/smart-configuration", "/oauth/jwks"):
            assert inst.http.get(path).status_code == 200
        inst.http.get("/fhir/.well-known/smart-configuration")
        inst.http.get("/fhir/.well-known/openid-configuration")
        token, oauth = launch(inst, "alice")
        assert token["patient"] == "alice" and "refresh_token" in token and "id_token" in token
        refreshed = oauth.refresh_token("http://testserver/oauth/token", refresh_token=token["refresh_token"])
        assert refreshed["access_token"] != token["access_token"]
        signed_in = inst.http.get("/login")
        assert signed_in.status_code == 200 and "csrf" in hidden_fields(signed_in.text)
        assert inst.http.get("/logout").status_code == 200
        out = inst.http.post("/logout", data={"csrf": hidden_fields(signed_in.text)["csrf"]})
        assert out.status_code == 200
        expected = {
            ("GET", "/oauth/authorize"),
            ("POST", "/oauth/authorize"),
            ("POST", "/oauth/token"),
            ("GET", "/login"),
            ("GET", "/logout"),
            ("POST", "/logout"),
            ("GET", "/fhir/.well-known/openid-configuration"),
        }
        assert expected <= conformance.seen


# --- regressions found by the fuzzing ------------------------------------------------------------
def test_a_csrf_token_that_is_not_ascii_is_refused_not_a_server_error(settings: Settings) -> None:
    """``hmac.compare_digest`` refuses str with non-ASCII characters (TypeError → 500): a form whose
    CSRF token is ``é…`` must be an ordinary 403, on every form."""
    with installation(settings) as inst:
        Conformance(inst.http)
        _, challenge = fresh_verifier()
        page = inst.http.get(
            "/oauth/authorize",
            params={
                "response_type": "code",
                "client_id": inst.app_id,
                "redirect_uri": APP_URI,
                "scope": "openid",
                "state": "s",
                "aud": FHIR,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
        )
        assert page.status_code == 200
        for path, fields in (
            ("/login", {"step": "password", "username": "alice", "password": "x"}),
            ("/logout", {}),
            ("/oauth/authorize", {**hidden_fields(page.text), "username": "alice", "password": "x"}),
        ):
            answer = inst.http.post(path, data={**fields, "csrf": "é" * 43})
            assert answer.status_code == 403, (path, answer.status_code)


def test_an_external_callback_state_that_is_not_ascii_is_refused_not_a_server_error(
    settings: Settings,
) -> None:
    with stand_in_provider() as idp, installation(_with_provider(settings, idp)) as inst:
        Conformance(inst.http)
        started = inst.http.get("/login/external", follow_redirects=False)
        assert started.status_code == 303 and "hygie_external" in inst.http.cookies
        answer = inst.http.get("/login/external/callback", params={"code": "c", "state": "é" * 43})
        assert answer.status_code == 400


def test_a_nul_character_is_refused_not_a_server_error(settings: Settings) -> None:
    """PostgreSQL text cannot hold NUL (psycopg DataError → 500), and no OAuth parameter may contain
    one (RFC 6749 Appendix A: VSCHAR and NQCHAR exclude control characters): a request carrying one
    is malformed — an ``invalid_request`` object or the error page, on both databases."""
    with installation(settings) as inst:
        Conformance(inst.http)
        _, challenge = fresh_verifier()
        authorize = {
            "response_type": "code",
            "client_id": inst.app_id,
            "redirect_uri": APP_URI,
            "scope": "openid",
            "state": "s",
            "aud": FHIR,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        for name in ("client_id", "nonce", "state"):
            answer = inst.http.get("/oauth/authorize", params={**authorize, name: "a\x00b"})
            assert answer.status_code == 400 and "location" not in answer.headers, (name, answer.status_code)
        page = inst.http.get("/oauth/authorize", params=authorize)
        fields = {**hidden_fields(page.text), "username": "ali\x00ce", "password": "x"}
        assert inst.http.post("/oauth/authorize", data=fields).status_code == 400
        login = hidden_fields(inst.http.get("/login").text)
        assert (
            inst.http.post("/login", data={**login, "username": "ali\x00ce", "password": "x"}).status_code
            == 400
        )
        for path, form in (
            ("/oauth/token", {"grant_type": "authorization_code", "code": "c", "client_id": "\x00"}),
            ("/oauth/introspect", {"token": "x", "client_id": "\x00"}),
            ("/oauth/revoke", {"token": "x", "client_id": "\x00"}),
        ):
            answer = inst.http.post(path, data=form)
            assert answer.status_code == 400 and answer.json()["error"] == "invalid_request", (
                path,
                answer.text,
            )
