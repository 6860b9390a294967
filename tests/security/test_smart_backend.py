"""SMART Backend Services: ``client_credentials`` with ``private_key_jwt``, on both databases.

https://hl7.org/fhir/smart-app-launch/backend-services.html — assertions signed RS384 or ES384
with a registered key, ``iss`` = ``sub`` = client id, ``aud`` = the token endpoint, ``exp`` at most
five minutes ahead, ``jti`` never reused; tokens of at most 300 s, ``system/`` scopes only.
Assertions are built with joserfc, as a backend service would.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

from hygie.api.context import open_storage
from hygie.settings import Settings
from tests.security.smart_support import TOKEN, Installation, installation

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def assertion(inst: Installation, *, alg: str = "RS384", key: Any = None, **over: Any) -> str:
    now = int(inst.clock.now)
    claims = {
        "iss": inst.backend_id,
        "sub": inst.backend_id,
        "aud": TOKEN,
        "exp": now + 240,
        "iat": now,
        "jti": secrets.token_hex(16),
    }
    claims.update(over)
    claims = {k: v for k, v in claims.items() if v is not None}
    signing = key if key is not None else inst.backend_keys["ec" if alg == "ES384" else "rsa"]
    header = {"alg": alg, "typ": "JWT"}
    return jwt.encode(header, claims, signing, algorithms=[alg])


def token_request(inst: Installation, signed: str, scope: str = "system/*.rs") -> Any:
    return inst.http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "scope": scope,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": signed,
        },
    )


def test_backend_service_gets_a_short_system_token(settings: Settings) -> None:
    with installation(settings, start=time.time()) as inst:  # 300 s tokens: the real time
        for alg in ("RS384", "ES384"):
            r = token_request(inst, assertion(inst, alg=alg))
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["token_type"] == "Bearer" and body["scope"] == "system/*.rs"
            assert 0 < body["expires_in"] <= 300
            assert "refresh_token" not in body
            claims = jwt.decode(body["access_token"], _signing(inst)).claims
            assert claims["exp"] - claims["iat"] <= 300
            assert claims["kind"] == "system" and claims["sub"] == inst.backend_id
            headers = {"Authorization": f"Bearer {body['access_token']}"}
            assert inst.http.get("/fhir/Patient/bob", headers=headers).status_code == 200
            write = inst.http.put(
                "/fhir/Patient/bob",
                json={"resourceType": "Patient", "id": "bob"},
                headers={**headers, "Content-Type": "application/fhir+json"},
            )
            assert write.status_code == 403  # registered for system/*.rs only


def _signing(inst: Installation) -> Any:
    from hygie.auth.keys import load_keys

    return load_keys(inst.settings.keys_dir).signing


def test_replayed_assertion_refused_and_jti_purged(settings: Settings) -> None:
    with installation(settings) as inst:
        signed = assertion(inst)
        assert token_request(inst, signed).status_code == 200
        replay = token_request(inst, signed)
        assert replay.status_code == 401 and replay.json()["error"] == "invalid_client"
        assert "jti" in replay.json()["error_description"]
        # Once the assertion has expired its jti is forgotten (and the assertion refused as expired).
        inst.clock.advance(240 + 60)
        assert token_request(inst, signed).status_code == 401
        assert token_request(inst, assertion(inst)).status_code == 200
        db, _ = open_storage(settings)
        try:
            rows = db.run_sync(lambda s: s.all("SELECT jti FROM oauth_jti"), write=False)
        finally:
            db.close()
        assert len(rows) == 1  # only the fresh one


def test_bad_assertions_refused(settings: Settings) -> None:
    with installation(settings) as inst:
        now = int(inst.clock.now)
        public_pem = inst.backend_keys["rsa"].as_pem(private=False)
        forged_hmac = _hmac_signed(
            {"iss": inst.backend_id, "sub": inst.backend_id, "aud": TOKEN, "exp": now + 60, "jti": "h1"},
            public_pem,
        )
        stranger = RSAKey.generate_key(2048, private=True)
        cases = {
            "exp 10 min ahead": assertion(inst, exp=now + 600),
            "expired": assertion(inst, exp=now - 120),
            "no exp": assertion(inst, exp=None),
            "no jti": assertion(inst, jti=None),
            "RS256": assertion(inst, alg="RS256"),
            "HS256 with the public key": forged_hmac,
            "wrong aud": assertion(inst, aud="https://elsewhere.example/token"),
            "sub differs": assertion(inst, sub="someone-else"),
            "unknown client": assertion(inst, iss="nope", sub="nope"),
            "unregistered key": assertion(inst, key=stranger),
            "garbage": "a.b.c",
        }
        for name, signed in cases.items():
            r = token_request(inst, signed)
            assert r.status_code == 401, (name, r.text)
            assert r.json()["error"] == "invalid_client", name
        unsigned = token_request(inst, _unsigned(inst))
        assert unsigned.status_code == 401
        wrong_type = inst.http.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "scope": "system/*.rs",
                "client_assertion_type": "urn:other",
                "client_assertion": assertion(inst),
            },
        )
        assert wrong_type.json()["error"] == "invalid_client"


def _part(data: Any) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _hmac_signed(claims: dict[str, Any], secret: bytes) -> str:
    """HS256 keyed with the client's *public* key: the classic algorithm-confusion forgery."""
    signing_input = f"{_part({'alg': 'HS256', 'typ': 'JWT'})}.{_part(claims)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_part(signature)}"


def _unsigned(inst: Installation) -> str:
    now = int(inst.clock.now)
    claims = {"iss": inst.backend_id, "sub": inst.backend_id, "aud": TOKEN, "exp": now + 60, "jti": "n1"}
    return f"{_part({'alg': 'none'})}.{_part(claims)}."


def test_backend_scopes_are_system_only(settings: Settings) -> None:
    with installation(settings) as inst:
        for scope in (
            "user/*.rs",
            "patient/*.rs",
            "system/*.rs launch/patient",
            "system/*.cruds",
            "",
            "openid",
        ):
            r = token_request(inst, assertion(inst), scope)
            assert r.status_code == 400, scope
            assert r.json()["error"] == "invalid_scope", scope
        narrower = token_request(inst, assertion(inst), "system/Observation.rs")
        assert narrower.status_code == 200 and narrower.json()["scope"] == "system/Observation.rs"
        # A backend service cannot use the user grants.
        r = inst.http.post(
            "/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": "x",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion(inst),
            },
        )
        assert r.json()["error"] == "unauthorized_client"


def test_confidential_app_with_private_key_jwt(settings: Settings) -> None:
    """client-confidential-asymmetric: an app registered with a JWK Set authenticates its code
    exchange with an assertion (and cannot use client_credentials)."""
    from joserfc.jwk import KeySet

    from tests.security.smart_support import APP_SCOPE, CONF_URI, approve, fresh_verifier, sign_in

    with installation(settings) as inst:
        key = RSAKey.generate_key(2048, private=True, parameters={"kid": "app-1"})

        def register(session: Any) -> str:
            from hygie.auth.oauth.clients import register_client

            client, secret = register_client(
                session,
                name="Portail asymétrique",
                kind="confidential",
                redirect_uris=[CONF_URI],
                scope=APP_SCOPE,
                now_ms=0,
                jwks=KeySet([key]).as_dict(private=False),
            )
            assert secret is None
            return client.client_id

        db, _ = open_storage(settings)
        try:
            client_id = db.run_sync(register)
        finally:
            db.close()
        verifier, challenge = fresh_verifier()
        params = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": CONF_URI,
            "scope": "launch/patient patient/*.rs",
            "state": "st",
            "aud": "http://testserver/fhir",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        consent = sign_in(inst, inst.http.get("/oauth/authorize", params=params).text, "alice")
        code = approve(inst, consent.text).split("code=", 1)[1].split("&", 1)[0]
        signed = assertion(inst, key=key, iss=client_id, sub=client_id)
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CONF_URI,
            "code_verifier": verifier,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": signed,
        }
        r = inst.http.post("/oauth/token", data=form)
        assert r.status_code == 200, r.text
        assert r.json()["patient"] == "alice"
        other = assertion(inst, key=key, iss=client_id, sub=client_id)
        r = inst.http.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "scope": "system/*.rs",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": other,
            },
        )
        assert r.json()["error"] == "unauthorized_client"
