"""Revocation (RFC 7009) and introspection (RFC 7662) of the tokens a SMART launch got, through
the real endpoints, on both databases (see tests/security/test_smart_flows.py for the launch).

https://www.rfc-editor.org/rfc/rfc7009, https://www.rfc-editor.org/rfc/rfc7662
"""

from __future__ import annotations

import pytest
from authlib.integrations.base_client.errors import OAuthError as AuthlibError

from hygie.settings import Settings
from tests.security.smart_support import FHIR, TOKEN, installation, launch


def test_revocation(settings: Settings) -> None:
    with installation(settings) as inst:
        token, oauth = launch(inst, "alice")
        access = token["access_token"]
        assert inst.fhir("Patient/alice", access).status_code == 200
        r = inst.http.post("/oauth/revoke", data={"token": access, "client_id": inst.app_id})
        assert r.status_code == 200
        assert inst.fhir("Patient/alice", access).status_code == 401
        # Another client cannot revoke this app's tokens; unknown tokens answer 200.
        other = inst.http.post(
            "/oauth/revoke", data={"token": token["refresh_token"]}, auth=(inst.conf_id, inst.conf_secret)
        )
        assert other.status_code == 400 and other.json()["error"] == "unauthorized_client"
        assert (
            inst.http.post("/oauth/revoke", data={"token": "nope", "client_id": inst.app_id}).status_code
            == 200
        )
        # Revoking the refresh token revokes its family.
        renewed = oauth.refresh_token(TOKEN, refresh_token=token["refresh_token"])
        oauth.revoke_token(
            f"{FHIR[:-5]}/oauth/revoke", renewed["refresh_token"], token_type_hint="refresh_token"
        )
        assert inst.fhir("Patient/alice", renewed["access_token"]).status_code == 401
        with pytest.raises(AuthlibError, match="invalid_grant"):
            oauth.refresh_token(TOKEN, refresh_token=renewed["refresh_token"])


def test_revocations_survive_a_restart(settings: Settings) -> None:
    from starlette.testclient import TestClient

    from hygie.app import create_app

    with installation(settings) as inst:
        token, _ = launch(inst, "alice")
        inst.http.post("/oauth/revoke", data={"token": token["access_token"], "client_id": inst.app_id})
    with TestClient(create_app(settings)) as again:
        r = again.get("/fhir/Patient/alice", headers={"Authorization": f"Bearer {token['access_token']}"})
        assert r.status_code == 401


def test_introspection(settings: Settings) -> None:
    with installation(settings) as inst:
        token, _ = launch(inst, "alice")
        access = token["access_token"]
        conf = (inst.conf_id, inst.conf_secret)
        body = inst.http.post("/oauth/introspect", data={"token": access}, auth=conf).json()
        assert body["active"] is True
        assert body["client_id"] == inst.app_id and body["patient"] == "alice"
        assert "patient/*.rs" in body["scope"].split()
        # The holder of a token may introspect that token; nobody else without credentials.
        own = inst.http.post(
            "/oauth/introspect", data={"token": access}, headers={"Authorization": f"Bearer {access}"}
        )
        assert own.status_code == 200 and own.json()["active"] is True
        anonymous = inst.http.post("/oauth/introspect", data={"token": access, "client_id": inst.app_id})
        assert anonymous.status_code == 401 and anonymous.json()["error"] == "invalid_client"
        wrong = inst.http.post("/oauth/introspect", data={"token": access}, auth=(inst.conf_id, "wrong"))
        assert wrong.status_code == 401
        assert inst.http.post("/oauth/introspect", data={"token": "x.y.z"}, auth=conf).json() == {
            "active": False
        }
        inst.http.post("/oauth/revoke", data={"token": access, "client_id": inst.app_id})
        assert inst.http.post("/oauth/introspect", data={"token": access}, auth=conf).json() == {
            "active": False
        }


def test_a_revocation_reaches_another_server_on_the_same_database(settings: Settings) -> None:
    """Two server processes share a database: a token revoked through one is refused by the other
    within a few seconds, without a restart (hygie.api.oauth.OAuthServer watches revocations)."""
    import time

    from starlette.testclient import TestClient

    from hygie.app import create_app

    with installation(settings) as inst, TestClient(create_app(settings)) as other:
        token, _ = launch(inst, "alice")
        bearer = {"Authorization": f"Bearer {token['access_token']}"}
        assert other.get("/fhir/Patient/alice", headers=bearer).status_code == 200
        inst.http.post("/oauth/revoke", data={"token": token["access_token"], "client_id": inst.app_id})
        deadline = time.monotonic() + 15
        while other.get("/fhir/Patient/alice", headers=bearer).status_code == 200:
            assert time.monotonic() < deadline, "the other server still accepts the revoked token"
            time.sleep(0.2)
        assert other.get("/fhir/Patient/alice", headers=bearer).status_code == 401
