"""Professionals signing in through an external OpenID Connect provider, on both databases.

The real providers (Pro Santé Connect, a hospital IdP) are outside services that cannot run
here: a **stand-in provider** plays their part — a small HTTP server on 127.0.0.1 implementing
what Hygie uses of OpenID Connect Core 1.0 (discovery, JWKS, the token endpoint with
``client_secret_basic`` and PKCE, an RS256 ID token with ``nonce`` and ``acr``). The browser
part (the user authenticating at the provider) is simulated by the test, which issues the code
for the request it reads from the redirect.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from hygie.api.context import open_storage
from hygie.auth import accounts
from hygie.auth.external_idp import link_subject
from hygie.auth.oauth.codes import s256
from hygie.settings import Settings
from tests.security.smart_support import FHIR, approve, fresh_verifier, hidden_fields, installation

CLIENT_ID, CLIENT_SECRET = "hygie-at-psc", "stand-in secret"


@dataclass
class StandIn:
    """The stand-in provider's state: its key and the codes it issued."""

    issuer: str = ""
    key: Any = field(
        default_factory=lambda: RSAKey.generate_key(2048, private=True, parameters={"kid": "psc-1"})
    )
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    token_calls: int = 0

    def issue(self, authorize_url: str, *, sub: str, **id_claims: Any) -> tuple[str, str]:
        """Act as the provider after the user authenticated: a code for this request, and the
        callback URL the browser is sent back to."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
        assert query["code_challenge_method"] == "S256" and query["client_id"] == CLIENT_ID
        code = f"code-{len(self.codes)}"
        self.codes[code] = {"query": query, "sub": sub, "claims": id_claims}
        callback = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
        return code, callback


def _handler(idp: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _json(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/.well-known/openid-configuration":
                self._json(
                    200,
                    {
                        "issuer": idp.issuer,
                        "authorization_endpoint": f"{idp.issuer}/auth",
                        "token_endpoint": f"{idp.issuer}/token",
                        "jwks_uri": f"{idp.issuer}/jwks",
                    },
                )
            elif self.path == "/jwks":
                self._json(200, KeySet([idp.key]).as_dict(private=False))
            else:
                self._json(404, {})

        def do_POST(self) -> None:
            idp.token_calls += 1
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET.replace(' ', '+')}".encode()).decode()
            if self.path != "/token" or self.headers.get("Authorization") != f"Basic {expected}":
                self._json(401, {"error": "invalid_client"})
                return
            issued = idp.codes.pop(form.get("code", ""), None)
            if issued is None or s256(form.get("code_verifier", "")) != issued["query"]["code_challenge"]:
                self._json(400, {"error": "invalid_grant"})
                return
            now = int(time.time())
            claims = {
                "iss": idp.issuer,
                "sub": issued["sub"],
                "aud": CLIENT_ID,
                "iat": now,
                "exp": now + 300,
                "nonce": issued["query"]["nonce"],
                "acr": "eidas1",
                **issued["claims"],
            }
            signer = claims.pop("signer", idp.key)
            id_token = jwt.encode({"alg": "RS256", "kid": "psc-1"}, claims, signer)
            self._json(200, {"access_token": "opaque", "token_type": "Bearer", "id_token": id_token})

    return Handler


@contextmanager
def stand_in_provider() -> Iterator[StandIn]:
    idp = StandIn()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(idp))
    idp.issuer = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield idp
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _with_provider(settings: Settings, idp: StandIn) -> Settings:
    return settings.model_copy(
        update={
            "oidc_issuer": idp.issuer,
            "oidc_client_id": CLIENT_ID,
            "oidc_client_secret": CLIENT_SECRET,
            "oidc_acr_values": "eidas1",
        }
    )


def _link(settings: Settings, username: str, subject: str) -> None:
    db, _ = open_storage(settings)
    try:

        def work(session: Any) -> None:
            account = accounts.find_account(session, username)
            assert account is not None
            link_subject(session, account, subject)

        db.run_sync(work)
    finally:
        db.close()


def _auth_level(settings: Settings, username: str) -> str | None:
    db, _ = open_storage(settings)
    try:
        account = db.run_sync(lambda s: accounts.find_account(s, username), write=False)
    finally:
        db.close()
    assert account is not None
    return account.auth_level


def _start(inst: Any, page: str) -> str:
    """Follow the sign-in page's provider link; returns the provider's authorization URL."""
    link = page.split('id="external" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    answer = inst.http.get(link, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return str(answer.headers["location"])


def test_professional_signs_in_through_the_provider_then_launches_an_app(settings: Settings) -> None:
    with stand_in_provider() as idp, installation(_with_provider(settings, idp)) as inst:
        _link(inst.settings, "drmartin", "psc-8000012345")
        oauth = inst.oauth()
        verifier, _ = fresh_verifier()
        url, _ = oauth.create_authorization_url(
            f"{FHIR[:-5]}/oauth/authorize", code_verifier=verifier, aud=FHIR
        )
        page = inst.http.get(url).text
        assert "Pro Santé Connect" in page
        authorize_url = _start(inst, page)
        assert authorize_url.startswith(f"{idp.issuer}/auth?") and "acr_values=eidas1" in authorize_url
        _, callback = idp.issue(authorize_url, sub="psc-8000012345")
        back = inst.http.get(callback, follow_redirects=False)
        assert back.status_code == 303 and back.headers["location"].startswith("/oauth/authorize?")
        consent = inst.http.get(back.headers["location"])
        assert 'value="consent"' in consent.text  # signed in: single sign-on to the consent page
        location = approve(inst, consent.text, patient="alice")
        token = oauth.fetch_token(
            f"{FHIR[:-5]}/oauth/token", authorization_response=location, code_verifier=verifier
        )
        assert token["patient"] == "alice"
        assert inst.fhir("Observation/obs-alice", token["access_token"]).status_code == 200
        assert _auth_level(inst.settings, "drmartin") == "eidas1"
        # The provider's code is single use: the same callback again fails (and the cookie is gone).
        assert inst.http.get(callback, follow_redirects=False).status_code == 400


def test_provider_answers_that_are_refused(settings: Settings) -> None:
    with stand_in_provider() as idp, installation(_with_provider(settings, idp)) as inst:
        _link(inst.settings, "drmartin", "psc-1")
        stranger = RSAKey.generate_key(2048, private=True)
        cases: list[tuple[str, dict[str, Any], int]] = [
            ("unlinked sub", {"sub": "psc-unknown"}, 403),
            ("wrong nonce", {"sub": "psc-1", "nonce": "other"}, 400),
            ("wrong audience", {"sub": "psc-1", "aud": "someone-else"}, 400),
            ("wrong issuer", {"sub": "psc-1", "iss": "https://evil.example"}, 400),
            ("expired", {"sub": "psc-1", "exp": int(time.time()) - 3600}, 400),
            ("forged signature", {"sub": "psc-1", "signer": stranger}, 400),
        ]
        for name, claims, status in cases:
            page = inst.http.get("/login").text
            authorize_url = _start(inst, page)
            sub = claims.pop("sub")
            _, callback = idp.issue(authorize_url, sub=sub, **claims)
            answer = inst.http.get(callback, follow_redirects=False)
            assert answer.status_code == status, (name, answer.text[:300])
            assert 'name="password"' in inst.http.get("/login").text, name  # not signed in
        # A callback whose state is not the one this browser started with is refused unheard.
        calls = idp.token_calls
        authorize_url = _start(inst, inst.http.get("/login").text)
        _, callback = idp.issue(authorize_url, sub="psc-1")
        forged = callback.split("&state=")[0] + "&state=forged"
        assert inst.http.get(forged, follow_redirects=False).status_code == 400
        assert idp.token_calls == calls
        # A patient account cannot be reached through the provider.
        _link(inst.settings, "alice", "psc-patient")
        authorize_url = _start(inst, inst.http.get("/login").text)
        _, callback = idp.issue(authorize_url, sub="psc-patient")
        assert inst.http.get(callback, follow_redirects=False).status_code == 403


def test_without_a_provider_there_is_no_external_sign_in(settings: Settings) -> None:
    with installation(settings) as inst:
        page = inst.http.get("/login")
        assert 'id="external"' not in page.text and hidden_fields(page.text)["step"] == "password"
        assert inst.http.get("/login/external", follow_redirects=False).status_code == 404
        assert inst.http.get("/login/external/callback?code=x&state=y").status_code == 404
