"""REST interactions on both backends — https://hl7.org/fhir/R4/http.html"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

FHIR = "application/fhir+json"
H = {"content-type": FHIR}


def patient(**extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "name": [{"family": "Dupré", "given": ["Bénédicte"]}], **extra}


def create(client: TestClient, resource: dict[str, Any], **headers: str) -> Any:
    return client.post(f"/fhir/{resource['resourceType']}", json=resource, headers={**H, **headers})


def test_create_assigns_id_version_and_location(client: TestClient) -> None:
    r = create(client, patient(id="ignored", meta={"versionId": "7", "tag": [{"code": "t"}]}))
    assert r.status_code == 201
    body = r.json()
    assert body["id"] != "ignored"
    assert body["meta"]["versionId"] == "1"
    assert body["meta"]["tag"] == [{"code": "t"}]
    assert r.headers["etag"] == 'W/"1"'
    assert r.headers["location"].endswith(f"/fhir/Patient/{body['id']}/_history/1")
    assert r.headers["content-type"].startswith("application/fhir+json")
    assert "last-modified" in r.headers
    read = client.get(f"/fhir/Patient/{body['id']}")
    assert read.status_code == 200
    assert read.json() == body


def test_read_unknown_is_404_and_bad_type_is_404(client: TestClient) -> None:
    r = client.get("/fhir/Patient/nope")
    assert r.status_code == 404
    assert r.json()["resourceType"] == "OperationOutcome"
    assert client.get("/fhir/Patientt/1").status_code == 404


@pytest.mark.parametrize("bad_id", ["a_b", "x" * 65, "é"])
def test_invalid_id_is_400(client: TestClient, bad_id: str) -> None:
    r = client.get(f"/fhir/Patient/{bad_id}")
    assert r.status_code == 400
    assert r.json()["issue"][0]["code"] == "invalid"


def test_update_versions_and_vread(client: TestClient) -> None:
    body = create(client, patient()).json()
    pid = body["id"]
    body["gender"] = "female"
    r = client.put(f"/fhir/Patient/{pid}", json=body, headers=H)
    assert r.status_code == 200
    assert r.json()["meta"]["versionId"] == "2"
    assert client.get(f"/fhir/Patient/{pid}/_history/1").json().get("gender") is None
    assert client.get(f"/fhir/Patient/{pid}/_history/2").json()["gender"] == "female"
    assert client.get(f"/fhir/Patient/{pid}/_history/3").status_code == 404
    assert client.get(f"/fhir/Patient/{pid}/_history/x").status_code == 400


def test_update_as_create_with_client_id(client: TestClient) -> None:
    r = client.put("/fhir/Patient/client-1", json=patient(id="client-1"), headers=H)
    assert r.status_code == 201
    assert r.json()["id"] == "client-1"
    assert client.get("/fhir/Patient/client-1").status_code == 200


def test_update_id_mismatch_and_missing(client: TestClient) -> None:
    assert client.put("/fhir/Patient/a", json=patient(id="b"), headers=H).status_code == 400
    assert client.put("/fhir/Patient/a", json=patient(), headers=H).status_code == 400
    assert client.get("/fhir/Patient/a").status_code == 404


def test_if_match(client: TestClient) -> None:
    body = create(client, patient()).json()
    url = f"/fhir/Patient/{body['id']}"
    assert client.put(url, json=body, headers={**H, "if-match": 'W/"2"'}).status_code == 412
    assert client.put(url, json=body, headers={**H, "if-match": 'W/"1"'}).status_code == 200
    assert client.put(url, json=body, headers={**H, "if-match": 'W/"1"'}).status_code == 412
    assert client.get(url).json()["meta"]["versionId"] == "2"


def test_conditional_read(client: TestClient) -> None:
    r = create(client, patient())
    url = f"/fhir/Patient/{r.json()['id']}"
    assert client.get(url, headers={"if-none-match": 'W/"1"'}).status_code == 304
    assert client.get(url, headers={"if-none-match": 'W/"9"'}).status_code == 200
    assert client.get(url, headers={"if-modified-since": r.headers["last-modified"]}).status_code == 304
    assert client.get(url, headers={"if-modified-since": "Mon, 01 Jan 2001 00:00:00 GMT"}).status_code == 200


def test_delete_then_gone_then_recreate(client: TestClient) -> None:
    pid = create(client, patient()).json()["id"]
    url = f"/fhir/Patient/{pid}"
    assert client.delete(url).status_code == 204
    r = client.get(url)
    assert r.status_code == 410
    assert r.json()["issue"][0]["code"] == "deleted"
    assert client.delete(url).status_code == 204  # idempotent
    assert client.get(f"{url}/_history/1").status_code == 200
    assert client.get(f"{url}/_history/2").status_code == 410
    r = client.put(url, json=patient(id=pid), headers=H)
    assert r.status_code == 201
    assert r.json()["meta"]["versionId"] == "3"


def test_conditional_create(client: TestClient) -> None:
    ident = {"system": "urn:oid:1.2.250.1.213.1.4.8", "value": "123"}
    first = create(
        client, patient(identifier=[ident]), **{"if-none-exist": "identifier=urn:oid:1.2.250.1.213.1.4.8|123"}
    )
    assert first.status_code == 201
    again = create(
        client, patient(identifier=[ident]), **{"if-none-exist": "identifier=urn:oid:1.2.250.1.213.1.4.8|123"}
    )
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    create(client, patient(identifier=[ident]))
    multiple = create(client, patient(identifier=[ident]), **{"if-none-exist": "identifier=123"})
    assert multiple.status_code == 412


def test_conditional_update_and_delete(client: TestClient) -> None:
    ident = {"system": "http://x", "value": "42"}
    r = client.put("/fhir/Patient?identifier=http://x|42", json=patient(identifier=[ident]), headers=H)
    assert r.status_code == 201
    pid = r.json()["id"]
    r = client.put(
        "/fhir/Patient?identifier=http://x|42", json=patient(identifier=[ident], gender="male"), headers=H
    )
    assert r.status_code == 200
    assert r.json()["id"] == pid
    assert r.json()["meta"]["versionId"] == "2"
    assert client.delete("/fhir/Patient?identifier=http://x|42").status_code == 204
    assert client.get(f"/fhir/Patient/{pid}").status_code == 410


def test_json_patch(client: TestClient) -> None:
    pid = create(client, patient()).json()["id"]
    ops = [{"op": "add", "path": "/gender", "value": "female"}]
    r = client.patch(
        f"/fhir/Patient/{pid}",
        content=__import__("json").dumps(ops),
        headers={"content-type": "application/json-patch+json"},
    )
    assert r.status_code == 200
    assert r.json()["gender"] == "female"
    assert r.json()["meta"]["versionId"] == "2"
    bad = [{"op": "replace", "path": "/id", "value": "other"}]
    r = client.patch(
        f"/fhir/Patient/{pid}",
        content=__import__("json").dumps(bad),
        headers={"content-type": "application/json-patch+json"},
    )
    assert r.status_code == 422
    invalid = [{"op": "add", "path": "/gender", "value": "robot"}]
    r = client.patch(
        f"/fhir/Patient/{pid}",
        content=__import__("json").dumps(invalid),
        headers={"content-type": "application/json-patch+json"},
    )
    assert r.status_code in (400, 422)
    assert client.get(f"/fhir/Patient/{pid}").json()["meta"]["versionId"] == "2"


def test_prefer_return(client: TestClient) -> None:
    r = create(client, patient(), prefer="return=minimal")
    assert r.status_code == 201
    assert r.content == b""
    assert "location" in r.headers
    r = create(client, patient(), prefer="return=OperationOutcome")
    assert r.json()["resourceType"] == "OperationOutcome"


def test_history_levels_and_paging(client: TestClient) -> None:
    pid = create(client, patient()).json()["id"]
    body = client.get(f"/fhir/Patient/{pid}").json()
    for gender in ("male", "female", "other"):
        body["gender"] = gender
        client.put(f"/fhir/Patient/{pid}", json=body, headers=H)
    client.delete(f"/fhir/Patient/{pid}")
    create(client, {"resourceType": "Observation", "status": "final", "code": {"text": "x"}})
    inst = client.get(f"/fhir/Patient/{pid}/_history").json()
    assert inst["type"] == "history"
    assert [e["request"]["method"] for e in inst["entry"]] == ["DELETE", "PUT", "PUT", "PUT", "POST"]
    assert "resource" not in inst["entry"][0]
    assert len(client.get("/fhir/Patient/_history").json()["entry"]) == 5
    assert len(client.get("/fhir/_history").json()["entry"]) == 6
    page = client.get(f"/fhir/Patient/{pid}/_history?_count=2").json()
    seen = [e["response"]["etag"] for e in page["entry"]]
    while (nxt := next((x["url"] for x in page["link"] if x["relation"] == "next"), None)) is not None:
        page = client.get(nxt.split("testserver", 1)[1]).json()
        seen += [e["response"]["etag"] for e in page["entry"]]
    assert seen == [f'W/"{v}"' for v in (5, 4, 3, 2, 1)]
    future = client.get("/fhir/_history?_since=2999-01-01T00:00:00Z").json()
    assert future.get("entry", []) == []
    assert client.get("/fhir/_history?_since=yesterday").status_code == 400


def test_metadata(client: TestClient) -> None:
    r = client.get("/fhir/metadata")
    assert r.status_code == 200
    cs = r.json()
    assert cs["resourceType"] == "CapabilityStatement"
    assert cs["fhirVersion"] == "4.0.1"
    types = {res["type"] for res in cs["rest"][0]["resource"]}
    assert {"Patient", "Observation", "Bundle"} <= types
    assert len(types) >= 140
    codes = {i["code"] for i in cs["rest"][0]["interaction"]}
    assert {"transaction", "batch", "history-system"} <= codes
    # every operation the server answers is declared, once, where it applies
    ops = {res["type"]: [o["name"] for o in res.get("operation", [])] for res in cs["rest"][0]["resource"]}
    assert {"acknowledge", "resolve", "escalate"} <= set(ops["Task"])
    assert {
        "everything",
        "break-glass",
        "export",
        "export-record",
        "ingest",
        "samples",
        "cgm-metrics",
    } <= set(ops["Patient"])
    assert "check-interactions" in ops["MedicationRequest"] and "news2" in ops["Observation"]
    assert all(len(names) == len(set(names)) for names in ops.values())
    system = [o["name"] for o in cs["rest"][0]["operation"]]
    assert {"export", "import"} <= set(system) and len(system) == len(set(system))
    escalate = next(o for res in cs["rest"][0]["resource"] if res["type"] == "Task" for o in res["operation"]
                    if o["name"] == "escalate")  # fmt: skip
    assert escalate["definition"] == "https://hygie.health/fhir/OperationDefinition/Task-escalate"


def test_summary_elements_pretty(client: TestClient) -> None:
    pid = create(
        client,
        patient(
            gender="female",
            text={"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'},
        ),
    ).json()["id"]
    el = client.get(f"/fhir/Patient/{pid}?_elements=gender").json()
    assert set(el) == {"resourceType", "id", "meta", "gender"}
    assert any(t["code"] == "SUBSETTED" for t in el["meta"]["tag"])
    assert "text" not in client.get(f"/fhir/Patient/{pid}?_summary=data").json()
    assert set(client.get(f"/fhir/Patient/{pid}?_summary=text").json()) == {
        "resourceType",
        "id",
        "meta",
        "text",
    }
    summary = client.get(f"/fhir/Patient/{pid}?_summary=true").json()
    assert "text" not in summary
    assert summary["gender"] == "female"
    assert summary["name"][0]["family"] == "Dupré"
    assert [t["code"] for t in summary["meta"]["tag"]] == ["SUBSETTED"]
    assert client.get(f"/fhir/Patient/{pid}?_summary=maybe").status_code == 400
    assert b"\n  " in client.get(f"/fhir/Patient/{pid}?_pretty=true").content


def test_a_subsetted_resource_is_never_stored(client: TestClient) -> None:
    """https://hl7.org/fhir/R4/search.html#summary: the SUBSETTED tag is there "to ensure that the
    incomplete resource is not actually used to overwrite a complete resource"."""
    pid = create(client, patient(gender="female", birthDate="1970-01-02")).json()["id"]
    subset = client.get(f"/fhir/Patient/{pid}?_elements=gender").json()
    put = client.put(f"/fhir/Patient/{pid}", json=subset, headers=H)
    assert put.status_code == 422, put.text
    assert put.json()["issue"][0]["code"] == "business-rule"
    assert "SUBSETTED" in put.json()["issue"][0]["diagnostics"]
    stored = client.get(f"/fhir/Patient/{pid}").json()
    assert stored["birthDate"] == "1970-01-02" and stored["meta"]["versionId"] == "1"
    created = create(client, {k: v for k, v in subset.items() if k != "id"})
    assert created.status_code == 422
    tag = [{"op": "add", "path": "/meta", "value": {"tag": subset["meta"]["tag"]}}]
    patched = client.patch(
        f"/fhir/Patient/{pid}", json=tag, headers={"content-type": "application/json-patch+json"}
    )
    assert patched.status_code == 422, patched.text
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": subset, "request": {"method": "PUT", "url": f"Patient/{pid}"}}],
    }
    assert client.post("/fhir", json=bundle, headers=H).status_code == 422
    assert client.get(f"/fhir/Patient/{pid}").json()["meta"]["versionId"] == "1"
    # another tag of the same system is no obstacle
    other = {**subset, "birthDate": "1970-01-02"}
    other["meta"] = {"tag": [{"system": subset["meta"]["tag"][0]["system"], "code": "OTHER"}]}
    assert client.put(f"/fhir/Patient/{pid}", json=other, headers=H).status_code == 200


def test_gzip_response(client: TestClient) -> None:
    for _ in range(30):
        create(client, patient())
    r = client.get("/fhir/Patient?_count=30", headers={"accept-encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers.get("content-encoding") == "gzip"


def test_search_basic(client: TestClient) -> None:
    create(client, patient(birthDate="1970-05-01"))
    create(client, {"resourceType": "Patient", "name": [{"family": "Martin"}], "birthDate": "1980"})
    names = client.get("/fhir/Patient?name=benedicte").json()
    assert names["total"] == 1
    assert client.get("/fhir/Patient?birthdate=1970").json()["total"] == 1
    assert client.get("/fhir/Patient?birthdate=ge1975-01-01").json()["total"] == 1
    assert client.get("/fhir/Patient?_summary=count").json()["total"] == 2
    r = client.get("/fhir/Patient?nonsense=1")
    assert r.status_code == 400
    assert "nonsense" in r.json()["issue"][0]["diagnostics"]


def test_search_token_text_and_reference_identifier(client: TestClient) -> None:
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {
            "coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Fréquence cardiaque"}]
        },
        "subject": {"identifier": {"system": "urn:oid:1.2.250.1.213.1.4.8", "value": "1234"}},
    }
    create(client, obs)
    assert client.get("/fhir/Observation?code:text=frequence").json()["total"] == 1
    assert client.get("/fhir/Observation?code:text=pouls").json()["total"] == 0
    r = client.get("/fhir/Observation?subject:identifier=urn:oid:1.2.250.1.213.1.4.8|1234")
    assert r.json()["total"] == 1
    assert client.get("/fhir/Observation?subject:identifier=other|1234").json()["total"] == 0
    assert client.get("/fhir/Observation?code:not=8867-4").json()["total"] == 0
    assert client.get("/fhir/Observation?code:missing=false").json()["total"] == 1


def test_decimal_precision_is_kept(client: TestClient) -> None:
    raw = (
        b'{"resourceType":"Observation","status":"final","code":{"text":"w"},'
        b'"valueQuantity":{"value":70.50,"unit":"kg"},"referenceRange":[{"low":{"value":1.0e1}}]}'
    )
    r = client.post("/fhir/Observation", content=raw, headers=H)
    assert r.status_code == 201, r.text
    back = client.get(f"/fhir/Observation/{r.json()['id']}").content
    assert b'"value":70.50' in back
    assert b'"value":1.0e1' in back
    assert client.get("/fhir/Observation?value-quantity=70.5").json()["total"] == 1


def test_fhirpath_patch(client: TestClient) -> None:
    pid = create(client, patient(gender="male")).json()["id"]
    params = {
        "resourceType": "Parameters",
        "parameter": [
            {
                "name": "operation",
                "part": [
                    {"name": "type", "valueCode": "replace"},
                    {"name": "path", "valueString": "Patient.gender"},
                    {"name": "value", "valueCode": "female"},
                ],
            },
            {
                "name": "operation",
                "part": [
                    {"name": "type", "valueCode": "add"},
                    {"name": "path", "valueString": "Patient"},
                    {"name": "name", "valueString": "birthDate"},
                    {"name": "value", "valueDate": "1970-01-01"},
                ],
            },
        ],
    }
    r = client.patch(f"/fhir/Patient/{pid}", json=params, headers=H)
    assert r.status_code == 200, r.text
    assert r.json()["gender"] == "female"
    assert r.json()["birthDate"] == "1970-01-01"
    bad = {
        "resourceType": "Parameters",
        "parameter": [
            {
                "name": "operation",
                "part": [
                    {"name": "type", "valueCode": "replace"},
                    {"name": "path", "valueString": "Patient.gender"},
                    {"name": "value", "valueCode": "robot"},
                ],
            }
        ],
    }
    assert client.patch(f"/fhir/Patient/{pid}", json=bad, headers=H).status_code in (400, 422)
    assert (
        client.patch(f"/fhir/Patient/{pid}", json={"resourceType": "Patient"}, headers=H).status_code == 400
    )
    assert client.get(f"/fhir/Patient/{pid}").json()["meta"]["versionId"] == "2"


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("PUT", "/fhir/Device?_id="),
        ("PUT", "/fhir/Device?manufacturer=&_id="),
        ("DELETE", "/fhir/Device?_id="),
    ],
)
def test_conditional_criteria_of_empty_values_are_refused(client: TestClient, method: str, url: str) -> None:
    """Search ignores empty parameters: ``Device?_id=`` would select every Device, and a
    conditional update or delete would then act on whichever one exists."""
    device = {"resourceType": "Device", "id": "lone", "manufacturer": "Acme"}
    assert client.put("/fhir/Device/lone", json=device, headers=H).status_code == 201
    body = {"resourceType": "Device", "manufacturer": "Evil"}
    answer = client.request(method, url, json=body if method == "PUT" else None, headers=H)
    assert answer.status_code == 400, answer.text
    stored = client.get("/fhir/Device/lone")
    assert stored.status_code == 200 and stored.json()["manufacturer"] == "Acme"
    assert stored.json()["meta"]["versionId"] == "1"
