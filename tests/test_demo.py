"""``hygie demo`` on both databases: loaded once, demo accounts that sign in (password + TOTP) and
see exactly their patients through the FHIR API."""

from __future__ import annotations

import stat
import time
from typing import Any

import pyotp
from starlette.testclient import TestClient

from hygie.api.context import open_storage
from hygie.app import create_app
from hygie.auth import accounts as auth_accounts
from hygie.auth.keys import load_keys
from hygie.auth.oauth.issuing import account_principal
from hygie.auth.scopes import parse_scopes
from hygie.auth.throttle import Throttle
from hygie.auth.tokens import issue
from hygie.demo import accounts
from hygie.demo.load import load_demo
from hygie.demo.population import demo_bundles
from hygie.settings import Settings
from tests.demo.support import NOW
from tests.support import open_client

SIZE = 12  # practice 0: patients 0, 3, 6, 9; deteriorating inpatients: 2 and 4 (hygie/demo/population.py)


def test_demo_loads_once(settings: Settings) -> None:
    written = load_demo(settings, SIZE, 1, now=NOW)
    assert written == sum(len(b["entry"]) for b in demo_bundles(SIZE, 1, NOW))
    path = accounts.credentials_path(settings.keys_dir)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    before = path.read_text()
    assert load_demo(settings, SIZE, 1, now=NOW) == 0
    assert path.read_text() == before
    with open_client(settings) as client:
        answer = client.get("/fhir/Patient", params={"_summary": "count"})
        assert answer.json()["total"] == SIZE
        answer = client.get("/fhir/Observation", params={"_summary": "count"})
        expected = sum(
            e["resource"]["resourceType"] == "Observation"
            for b in demo_bundles(SIZE, 1, NOW)
            for e in b["entry"]
        )
        assert answer.json()["total"] == expected


def _sign_in(settings: Settings) -> dict[str, str]:
    """Every demo account signs in with its password and TOTP code; returns bearer tokens."""
    creds = {a["username"]: a for a in accounts.load(settings.keys_dir)}
    assert set(creds) == {"demo.medecin", "demo.infirmier", "demo.patient", "demo.admin"}
    later_ms = int(time.time() * 1000) + 60_000  # a TOTP step after the one used to enrol
    db, _ = open_storage(settings)
    keys = load_keys(settings.keys_dir)

    def work(session: Any) -> dict[str, str]:
        throttle = Throttle(100.0, 100, 100)
        bad = auth_accounts.login(
            session, throttle, username="demo.medecin", password="not-it", code=None, client="t", now=later_ms
        )
        assert bad.error == "invalid_credentials"
        tokens = {}
        for name, cred in creds.items():
            secret = cred["totp_secret"]
            assert (secret is not None) == (cred["kind"] != "patient")
            code = pyotp.TOTP(secret).at(later_ms // 1000) if secret else None
            result = auth_accounts.login(
                session,
                throttle,
                username=name,
                password=cred["password"],
                code=code,
                client="t",
                now=later_ms,
            )
            assert result.ok, (name, result.error)
            assert result.account is not None
            principal = account_principal(
                session,
                result.account,
                parse_scopes("user/*.cruds"),
                client_id="t",
                patient=None,
                auth_time_s=later_ms // 1000,
            )
            tokens[name] = issue(keys, principal, audience=keys.instance, now=int(time.time()), ttl=600)
        return tokens

    try:
        return db.run_sync(work)
    finally:
        db.close()


def _patients(http: TestClient, token: str) -> set[str]:
    answer = http.get("/fhir/Patient", params={"_count": "100"}, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    return {e["resource"]["id"] for e in answer.json().get("entry", [])}


def test_demo_accounts_sign_in_and_see_their_own_patients(settings: Settings) -> None:
    load_demo(settings, SIZE, 1, now=NOW)
    tokens = _sign_in(settings)
    with TestClient(create_app(settings)) as http:
        assert _patients(http, tokens["demo.medecin"]) == {
            "demo-p00001",
            "demo-p00004",
            "demo-p00007",
            "demo-p00010",
        }
        other_practice = http.get(
            "/fhir/Patient/demo-p00002", headers={"Authorization": f"Bearer {tokens['demo.medecin']}"}
        )
        assert other_practice.status_code == 404
        assert _patients(http, tokens["demo.infirmier"]) == {"demo-p00003", "demo-p00005"}  # the ward's
        assert _patients(http, tokens["demo.patient"]) == {"demo-p00001"}
        assert _patients(http, tokens["demo.admin"]) == set()
        glucose = http.get(
            "/fhir/Observation",
            params={"code": "http://loinc.org|99504-3", "_count": "50"},
            headers={"Authorization": f"Bearer {tokens['demo.patient']}"},
        )
        assert glucose.status_code == 200
        assert len(glucose.json()["entry"]) >= 7  # their own CGM days
