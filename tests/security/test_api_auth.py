"""The FHIR API requires a bearer token; scopes and launch context are enforced in the queries.

Tokens are minted the way ``hygie token issue`` mints them (system principals); professional and
patient principals, and the leak suite, are in tests/security/test_leaks.py.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from hygie.app import create_app
from hygie.auth.keys import load_keys
from hygie.auth.operator import operator_token
from hygie.cli import cli
from hygie.settings import Settings
from tests.api.support import H, put_all, search_ids
from tests.support import operator_header


def _data(client: TestClient) -> None:
    put_all(
        client,
        [
            {"resourceType": "Patient", "id": "alice", "name": [{"family": "Alice"}]},
            {"resourceType": "Patient", "id": "bob", "name": [{"family": "Bob"}]},
            {"resourceType": "Practitioner", "id": "gp", "name": [{"family": "Martin"}]},
            *[
                {
                    "resourceType": "Observation",
                    "id": f"{who}-{kind}",
                    "status": "final",
                    "category": [{"coding": [{"code": kind}]}],
                    "code": {"text": kind},
                    "subject": {"reference": f"Patient/{who}"},
                    "performer": [{"reference": "Practitioner/gp"}],
                }
                for who in ("alice", "bob")
                for kind in ("laboratory", "vital-signs")
            ],
        ],
    )


def test_no_token_401_with_challenge(settings: Settings) -> None:
    with TestClient(create_app(settings)) as anonymous:
        for method, path in [
            ("GET", "/fhir/Patient"),
            ("GET", "/fhir/Patient/1"),
            ("POST", "/fhir"),
            ("DELETE", "/fhir/Patient/1"),
            ("GET", "/fhir/_history"),
        ]:
            r = anonymous.request(method, path)
            assert r.status_code == 401, path
            assert r.headers["www-authenticate"].startswith("Bearer")
            assert r.json()["resourceType"] == "OperationOutcome"
        metadata = anonymous.get("/fhir/metadata")  # the CapabilityStatement is public
        assert metadata.status_code == 200
        security = metadata.json()["rest"][0]["security"]
        assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
        uris = {e["url"]: e["valueUri"] for e in security["extension"][0]["extension"]}
        assert uris["token"] == "http://testserver/oauth/token"
        assert anonymous.post(uris["token"], data={"grant_type": "nope"}).status_code == 400  # it exists
        for bad in ["Bearer", "Bearer x.y.z", "Basic dXNlcjpwdw==", "Bearer " + "a" * 9000]:
            r = anonymous.get("/fhir/Patient", headers={"Authorization": bad})
            assert r.status_code == 401, bad
            assert "invalid_token" in r.headers["www-authenticate"] or bad.startswith("Basic")


def test_expired_token_401(settings: Settings) -> None:
    keys = load_keys(settings.keys_dir)
    old = operator_token(keys, "system/*.rs", patient=None, ttl=60, now=int(time.time()) - 3600)
    with TestClient(create_app(settings)) as c:
        r = c.get("/fhir/Patient", headers={"Authorization": f"Bearer {old}"})
        assert r.status_code == 401
        assert "expired" in r.headers["www-authenticate"]


def test_system_scopes_limit_types_and_interactions(settings: Settings, client: TestClient) -> None:
    _data(client)
    with TestClient(create_app(settings), headers=operator_header(settings, "system/Observation.rs")) as ro:
        assert search_ids(ro, "Observation?category=laboratory") == {"alice-laboratory", "bob-laboratory"}
        assert ro.get("/fhir/Patient?name=alice").status_code == 403  # no grant on Patient
        assert ro.get("/fhir/Patient/alice").status_code == 403  # type-level: says nothing of alice
        assert (
            ro.post(
                "/fhir/Observation",
                json={"resourceType": "Observation", "status": "final", "code": {"text": "x"}},
                headers=H,
            ).status_code
            == 403
        )
        assert ro.delete("/fhir/Observation/alice-laboratory").status_code == 403
        # includes and chains never reach types the token cannot read / search
        bundle = ro.get("/fhir/Observation?_id=alice-laboratory&_include=Observation:subject").json()
        assert [e["resource"]["id"] for e in bundle["entry"]] == ["alice-laboratory"]
        assert search_ids(ro, "Observation?subject:Patient.name=alice") == set()
        # a transaction entry is held to the same rules
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [{"request": {"method": "DELETE", "url": "Observation/bob-laboratory"}}],
        }
        assert ro.post("/fhir", json=bundle, headers=H).status_code == 403
    assert client.get("/fhir/Observation/bob-laboratory").status_code == 200  # nothing deleted


def test_patient_launch_context_and_criteria(settings: Settings, client: TestClient) -> None:
    _data(client)
    header = operator_header(
        settings, "patient/Observation.rs?category=laboratory patient/Patient.r", patient="alice"
    )
    with TestClient(create_app(settings), headers=header) as app:
        assert search_ids(app, "Observation") == {"alice-laboratory"}
        assert search_ids(app, "Observation?category=vital-signs") == set()
        assert app.get("/fhir/Observation/bob-laboratory").status_code == 404
        assert app.get("/fhir/Observation/alice-vital-signs").status_code == 404
        assert app.get("/fhir/Patient/alice").status_code == 200
        assert app.get("/fhir/Patient/bob").status_code == 404
        assert app.get("/fhir/Patient/bob/_history").status_code == 404  # as if absent
        assert app.get("/fhir/Patient/bob/_history/1").status_code == 404
        history = app.get("/fhir/Observation/_history").json()
        assert {e["resource"]["id"] for e in history.get("entry", [])} == {"alice-laboratory"}
        assert search_ids(app, "Patient/bob/Observation") == set()  # bob is outside the launch context


def test_token_issue_command(
    settings: Settings, client: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _data(client)
    monkeypatch.setenv("HYGIE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("HYGIE_KEYS_DIR", str(settings.keys_dir))
    runner = CliRunner()
    result = runner.invoke(cli, ["token", "issue", "--scope", "patient/*.rs", "--patient", "bob"])
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    with TestClient(create_app(settings), headers={"Authorization": f"Bearer {token}"}) as app:
        assert search_ids(app, "Observation") == {"bob-laboratory", "bob-vital-signs"}
    for args, message in [
        (["--scope", "patient/*.rs", "--patient", "nobody"], "no Patient/nobody"),
        (["--scope", "patient/*.rs"], "--patient"),
        (["--scope", "user/*.rs"], "user/"),
        (["--scope", "system/Nope.rs"], "Nope"),
        (["--scope", "system/*.rs", "--ttl", "0"], "--ttl"),
    ]:
        result = runner.invoke(cli, ["token", "issue", *args])
        assert result.exit_code == 2, args
        assert message in result.output, (args, result.output)


def test_put_to_an_unseen_id_is_404_hidden_or_absent(settings: Settings, client: TestClient) -> None:
    """Update-as-create would answer 409 for a hidden id (taken) and 201 for an absent one: under
    a row-level policy both are 404, so a PUT never reveals that a resource exists."""
    _data(client)
    header = operator_header(settings, "patient/*.cruds", patient="alice")
    body = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
            "subject": {"reference": "Patient/alice"}}  # fmt: skip
    with TestClient(create_app(settings), headers=header) as app:
        hidden = app.put("/fhir/Observation/bob-laboratory", json={**body, "id": "bob-laboratory"}, headers=H)
        absent = app.put("/fhir/Observation/nothing-here", json={**body, "id": "nothing-here"}, headers=H)
        assert hidden.status_code == absent.status_code == 404
        assert hidden.text.replace("bob-laboratory", "X") == absent.text.replace("nothing-here", "X")
        mine = app.put(
            "/fhir/Observation/alice-laboratory", json={**body, "id": "alice-laboratory"}, headers=H
        )
        assert mine.status_code == 200  # updating what one sees still works
        assert app.post("/fhir/Observation", json=body, headers=H).status_code == 201  # create with POST
    assert (
        client.put("/fhir/Observation/new-one", json={**body, "id": "new-one"}, headers=H).status_code == 201
    )
    assert client.get("/fhir/Observation/bob-laboratory").json()["subject"]["reference"] == "Patient/bob"
