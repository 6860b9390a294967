"""``POST /fhir/Observation/$news2`` (public contract in ARCHITECTURE.md): the score of the
given vitals as an Observation, nothing stored; every bad input refused naming its part."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from hygie.fhir.validation import validate_resource

URL = "/fhir/Observation/$news2"


def q(value: Any, code: str) -> dict[str, Any]:
    return {"value": value, "unit": code, "system": "http://unitsofmeasure.org", "code": code}


def parts(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "respiratoryRate": {"valueQuantity": q(22, "/min")},
        "spo2": {"valueQuantity": q(95, "%")},
        "onOxygen": {"valueBoolean": False},
        "systolicBP": {"valueQuantity": q(105, "mm[Hg]")},
        "pulse": {"valueQuantity": q(112, "/min")},
        "consciousness": {"valueCode": "A"},
        "temperature": {"valueQuantity": q(38.4, "Cel")},
    }
    base.update(changes)
    return {
        "resourceType": "Parameters",
        "parameter": [{"name": k, **v} for k, v in base.items() if v is not None],
    }


def vital(oid: str, loinc: str, value: Any, unit: str, when: str = "2026-11-20T08:00:00Z") -> dict[str, Any]:
    return {
        "name": "observation",
        "resource": {
            "resourceType": "Observation",
            "id": oid,
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
            "subject": {"reference": "Patient/p1"},
            "effectiveDateTime": when,
            "valueQuantity": q(value, unit),
        },
    }


def component(obs: dict[str, Any], code: str) -> int:
    for c in obs["component"]:
        if c["code"]["coding"][0]["code"] == code:
            return int(c["valueInteger"])
    raise AssertionError(code)


def test_scores_the_parts_and_stores_nothing(client: TestClient) -> None:
    before = client.get("/fhir/Observation?_summary=count").json()["total"]
    answer = client.post(URL, json=parts())
    assert answer.status_code == 200, answer.text
    obs = answer.json()
    assert validate_resource(obs) == []
    assert obs["code"]["coding"][0] == {
        "system": "http://snomed.info/sct",
        "code": "1104051000000101",
        "display": obs["code"]["coding"][0]["display"],
    }
    # RR 22 → 2, SpO2 95 → 1, air → 0, SBP 105 → 1, pulse 112 → 2, alert → 0, 38.4 °C → 1
    assert obs["valueQuantity"]["value"] == 7
    assert obs["interpretation"][0]["coding"][0]["code"] == "high"
    assert component(obs, "1104301000000104") == 2
    assert component(obs, "1104311000000102") == 1
    assert component(obs, "1104331000000105") == 0
    assert component(obs, "1104341000000101") == 1
    assert component(obs, "1104351000000103") == 2
    assert component(obs, "1104361000000100") == 0
    assert component(obs, "1104371000000107") == 1
    assert "Royal College of Physicians" in obs["note"][0]["text"]
    assert client.get("/fhir/Observation?_summary=count").json()["total"] == before


def test_language_of_the_risk_text(client: TestClient) -> None:
    fr = client.post(URL, json=parts(), headers={"Accept-Language": "fr"}).json()
    en = client.post(URL, json=parts(), headers={"Accept-Language": "en"}).json()
    assert fr["interpretation"][0]["text"].startswith("Risque clinique élevé")
    assert en["interpretation"][0]["text"].startswith("High clinical risk")


def test_scale_2_and_fahrenheit(client: TestClient) -> None:
    body = parts(
        spo2Scale={"valueInteger": 2},
        spo2={"valueQuantity": q(97, "%")},
        onOxygen={"valueBoolean": True},
        temperature={"valueQuantity": q(98.6, "[degF]")},
    )
    obs = client.post(URL, json=body).json()
    assert component(obs, "1104311000000102") == 3  # ≥ 97 % on oxygen, Scale 2
    assert component(obs, "1104331000000105") == 2
    assert component(obs, "1104371000000107") == 0  # 37.0 °C


def test_from_vital_sign_observations(client: TestClient) -> None:
    body = {
        "resourceType": "Parameters",
        "parameter": [
            vital("rr", "9279-1", 26, "/min"),
            vital("sat", "59408-5", 93, "%", when="2026-11-20T08:05:00Z"),
            {
                "name": "observation",
                "resource": {
                    "resourceType": "Observation",
                    "id": "bp",
                    "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
                    "subject": {"reference": "Patient/p1"},
                    "effectiveDateTime": "2026-11-20T08:01:00Z",
                    "component": [
                        {
                            "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                            "valueQuantity": q(88, "mm[Hg]"),
                        },
                        {
                            "code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
                            "valueQuantity": q(50, "mm[Hg]"),
                        },
                    ],
                },
            },
            vital("hr", "8867-4", 125, "/min"),
            vital("t", "8310-5", 39.2, "Cel"),
            vital("o2", "3151-8", 2, "L/min"),
            {"name": "consciousness", "valueCode": "V"},
        ],
    }
    answer = client.post(URL, json=body)
    assert answer.status_code == 200, answer.text
    obs = answer.json()
    # RR 26 → 3, SpO2 93 → 2, oxygen → 2, SBP 88 → 3, pulse 125 → 2, V → 3, 39.2 → 2
    assert obs["valueQuantity"]["value"] == 17
    assert obs["subject"] == {"reference": "Patient/p1"}
    assert obs["effectiveDateTime"] == "2026-11-20T08:05:00Z"
    assert {d["reference"] for d in obs["derivedFrom"]} == {
        "Observation/rr",
        "Observation/sat",
        "Observation/bp",
        "Observation/hr",
        "Observation/t",
        "Observation/o2",
    }
    assert validate_resource(obs) == []


BAD = [
    # (body, status, the part the message names)
    (parts(pulse=None), 400, "pulse"),
    (parts(consciousness=None), 400, "consciousness"),
    (parts(onOxygen=None), 400, "onOxygen"),
    (parts(pulse={"valueQuantity": q(400, "/min")}), 422, "pulse"),
    (parts(spo2={"valueQuantity": q(101, "%")}), 422, "spo2"),
    (parts(temperature={"valueQuantity": q(37, "K")}), 422, "temperature"),
    (parts(temperature={"valueQuantity": {"value": "37"}}), 400, "temperature"),
    (parts(pulse={"valueQuantity": q(True, "/min")}), 400, "pulse"),
    (parts(consciousness={"valueCode": "X"}), 422, "consciousness"),
    (parts(spo2Scale={"valueInteger": 3}), 422, "spo2Scale"),
    (parts(onOxygen={"valueString": "yes"}), 400, "onOxygen"),
    (parts(mood={"valueString": "good"}), 400, "mood"),
]


@pytest.mark.parametrize(("body", "status", "part"), BAD)
def test_bad_input_names_the_part(client: TestClient, body: Any, status: int, part: str) -> None:
    answer = client.post(URL, json=body)
    assert answer.status_code == status, answer.text
    outcome = answer.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert part in outcome["issue"][0]["diagnostics"]


def test_a_part_given_twice_and_conflicting_subjects(client: TestClient) -> None:
    twice = parts()
    twice["parameter"].append(vital("hr", "8867-4", 80, "/min"))
    answer = client.post(URL, json=twice)
    assert answer.status_code == 400 and "pulse" in answer.json()["issue"][0]["diagnostics"]
    body = parts(pulse=None, respiratoryRate=None)
    other = vital("rr", "9279-1", 16, "/min")
    other["resource"]["subject"] = {"reference": "Patient/p2"}
    body["parameter"] += [vital("hr", "8867-4", 80, "/min"), other]
    assert client.post(URL, json=body).status_code == 422


@pytest.mark.parametrize(
    ("method", "content", "ctype", "status"),
    [
        ("GET", None, None, 405),
        ("POST", b"{not json", "application/fhir+json", 400),
        ("POST", b"", "application/fhir+json", 400),
        ("POST", b'{"resourceType": "Patient"}', "application/fhir+json", 400),
        ("POST", b"[]", "application/fhir+json", 400),
        ("POST", b"x", "text/plain", 415),
    ],
)
def test_malformed_requests(
    client: TestClient, method: str, content: bytes | None, ctype: str | None, status: int
) -> None:
    headers = {"Content-Type": ctype} if ctype else {}
    answer = client.request(method, URL, content=content, headers=headers)
    assert answer.status_code == status
    assert answer.json()["resourceType"] == "OperationOutcome"


def test_needs_authentication(client: TestClient) -> None:
    assert client.post(URL, json=parts(), headers={"Authorization": ""}).status_code == 401
