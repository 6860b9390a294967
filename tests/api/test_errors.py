"""Bad input never breaks the server: a clear OperationOutcome, nothing written."""

from __future__ import annotations

import gzip

import pytest
from starlette.testclient import TestClient

from hygie.settings import Settings
from tests.support import open_client

H = {"content-type": "application/fhir+json"}


def assert_outcome(r: object, status: int) -> None:
    assert r.status_code == status, r.text  # type: ignore[attr-defined]
    body = r.json()  # type: ignore[attr-defined]
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["diagnostics"]


def assert_nothing_written(client: TestClient) -> None:
    assert client.get("/fhir/_history").json().get("entry", []) == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{", 400),
        (b"not json", 400),
        (b"[]", 400),
        (b'"x"', 400),
        (b"", 400),
        (b'{"resourceType":"Observation"}', 400),
        (b'{"resourceType":"Patient","foo":1}', 400),
        (b'{"resourceType":"Patient","birthDate":"1970-13-01"}', 422),
        (b"[" * 5000 + b"]" * 5000, 400),
        (
            b'{"resourceType":"Patient","extension":'
            + b'[{"url":"x","extension":' * 80
            + b"[]"
            + b"}]" * 80
            + b"}",
            400,
        ),
    ],
)
def test_bad_bodies(client: TestClient, body: bytes, status: int) -> None:
    r = client.post("/fhir/Patient", content=body, headers=H)
    assert_outcome(r, status)
    assert_nothing_written(client)


def test_wrong_content_type(client: TestClient) -> None:
    assert_outcome(
        client.post("/fhir/Patient", content=b"<Patient/>", headers={"content-type": "application/fhir+xml"}),
        415,
    )
    assert_outcome(client.post("/fhir/Patient", content=b"{}", headers={"content-type": "text/plain"}), 415)
    assert_nothing_written(client)


def test_xml_only_accept_is_406(client: TestClient) -> None:
    assert_outcome(client.get("/fhir/metadata", headers={"accept": "application/fhir+xml"}), 406)
    assert_outcome(client.get("/fhir/metadata?_format=xml"), 406)
    assert client.get("/fhir/metadata?_format=json").status_code == 200


def test_method_not_allowed(client: TestClient) -> None:
    assert_outcome(client.post("/fhir/Patient/1", json={}, headers=H), 405)
    assert_outcome(client.delete("/fhir/metadata"), 405)
    assert_outcome(client.get("/fhir"), 405)


def test_body_too_large(database_url: str) -> None:
    with open_client(Settings(database_url=database_url, max_body_bytes=1000)) as small:
        big = b'{"resourceType":"Patient","name":[{"text":"' + b"a" * 2000 + b'"}]}'
        assert_outcome(small.post("/fhir/Patient", content=big, headers=H), 413)
        bomb = gzip.compress(big * 100)
        assert_outcome(
            small.post("/fhir/Patient", content=bomb, headers={**H, "content-encoding": "gzip"}), 413
        )
        assert_nothing_written(small)


def test_gzip_request_body(client: TestClient) -> None:
    body = gzip.compress(b'{"resourceType":"Patient","gender":"male"}')
    r = client.post("/fhir/Patient", content=body, headers={**H, "content-encoding": "gzip"})
    assert r.status_code == 201
    assert_outcome(
        client.post("/fhir/Patient", content=b"notgzip", headers={**H, "content-encoding": "gzip"}), 400
    )


def test_language_of_diagnostics(client: TestClient) -> None:
    fr = client.get("/fhir/Patient/none").json()["issue"][0]["diagnostics"]
    en = client.get("/fhir/Patient/none", headers={"accept-language": "en-GB,fr;q=0.5"}).json()["issue"][0][
        "diagnostics"
    ]
    assert fr != en
    assert "introuvable" in fr
    assert "not found" in en


def test_type_mismatch_with_url(client: TestClient) -> None:
    assert_outcome(
        client.post(
            "/fhir/Patient", json={"resourceType": "Observation", "status": "final", "code": {}}, headers=H
        ),
        400,
    )
    assert_outcome(
        client.put("/fhir/Patient/1", json={"resourceType": "Observation", "id": "1"}, headers=H), 400
    )
    assert_nothing_written(client)


def test_unknown_operation_and_route(client: TestClient) -> None:
    assert client.get("/fhir/Patient/1/_history/1/extra").status_code == 404
    assert client.post("/fhir/Patient/$nothing", json={}, headers=H).status_code == 404


def test_validate_operation(client: TestClient) -> None:
    ok = client.post("/fhir/Patient/$validate", json={"resourceType": "Patient"}, headers=H)
    assert ok.status_code == 200
    assert ok.json()["issue"][0]["severity"] == "information"
    bad = client.post(
        "/fhir/Patient/$validate", json={"resourceType": "Patient", "gender": "robot"}, headers=H
    )
    assert bad.status_code == 200
    assert any(i["severity"] == "error" for i in bad.json()["issue"])
    assert any("Patient.gender" in e for i in bad.json()["issue"] for e in i.get("expression", []))
    wrapped = {
        "resourceType": "Parameters",
        "parameter": [{"name": "resource", "resource": {"resourceType": "Patient", "foo": 1}}],
    }
    r = client.post("/fhir/Patient/$validate", json=wrapped, headers=H)
    assert any(i["severity"] == "error" for i in r.json()["issue"])
    assert_nothing_written(client)


def test_nul_characters_are_refused(client: TestClient) -> None:
    assert_outcome(
        client.post("/fhir/Patient", content=b'{"resourceType":"Patient","gender":"ma\\u0000le"}', headers=H),
        400,
    )
    assert_outcome(client.get("/fhir/Patient", params={"name": "a\x00b"}), 400)
    assert_nothing_written(client)
