"""``POST /fhir/Patient/{id}/$ingest`` end to end on both databases: formats, idempotency, spot
Observations and Devices, per-record errors, hostile files, access, and device data raising an
alert through the monitoring rounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from hygie.monitoring.service import check_patient
from tests.monitoring.test_service import ALERTS, put, run
from tests.support import operator_header

NOW = datetime.now(UTC).replace(microsecond=0)


def omh_spo2(values: list[float], end: datetime = NOW) -> list[dict[str, Any]]:
    points = []
    for i, value in enumerate(values):
        at = end - timedelta(minutes=len(values) - 1 - i)
        points.append(
            {
                "header": {
                    "id": f"spo2-{i}",
                    "creation_date_time": at.isoformat(),
                    "schema_id": {"namespace": "omh", "name": "oxygen-saturation", "version": "2.0"},
                    "acquisition_provenance": {"source_name": "Oxymètre Hygie", "modality": "sensed"},
                },
                "body": {
                    "oxygen_saturation": {"value": value, "unit": "%"},
                    "effective_time_frame": {"date_time": at.isoformat()},
                },
            }
        )
    return points


def summary(answer: Any) -> str:
    return str(answer.json()["issue"][0]["diagnostics"])


@pytest.fixture
def patient(client: TestClient) -> TestClient:
    put(client, {"resourceType": "Patient", "id": "dev1"})
    return client


def test_open_mhealth_is_idempotent_and_reaches_samples(patient: TestClient) -> None:
    points = omh_spo2([97, 96, 95, 96, 97])
    first = patient.post("/fhir/Patient/dev1/$ingest", json=points)
    assert first.status_code == 200, first.text
    assert "nouveaux : 5" in summary(first) and "appareils : 1" in summary(first)
    again = patient.post("/fhir/Patient/dev1/$ingest", json=points, headers={"Accept-Language": "en"})
    assert "new: 0" in summary(again) and "unchanged: 5" in summary(again)
    raw = patient.get("/fhir/Patient/dev1/$samples", params={"measure": "spo2", "grain": "raw"}).json()
    assert len([p for p in raw["parameter"] if p["name"] == "point"]) == 5
    devices = patient.get("/fhir/Device?patient=Patient/dev1").json()
    assert devices["total"] == 1
    assert patient.get("/fhir/Observation?patient=Patient/dev1").json()["total"] == 0  # a dense stream


def test_withings_spot_measures_become_observations(patient: TestClient) -> None:
    morning = int((NOW - timedelta(hours=2)).timestamp())
    payload = {
        "status": 0,
        "body": {
            "timezone": "Europe/Paris",
            "measuregrps": [
                {"grpid": 1, "attrib": 0, "date": morning, "category": 1, "deviceid": "bpm-1",
                 "measures": [{"value": 13500, "type": 10, "unit": -2},
                              {"value": 8800, "type": 9, "unit": -2}, {"value": 72, "type": 11, "unit": 0}]},
                {"grpid": 2, "attrib": 0, "date": morning, "category": 1, "deviceid": "scale-1",
                 "measures": [{"value": 81250, "type": 1, "unit": -3}]},
            ],
        },
    }  # fmt: skip
    answer = patient.post("/fhir/Patient/dev1/$ingest", json=payload)
    assert answer.status_code == 200, answer.text
    observations = patient.get("/fhir/Observation?patient=Patient/dev1&_count=50").json()
    codes = sorted(e["resource"]["code"]["coding"][0]["code"] for e in observations["entry"])
    assert codes == ["29463-7", "85354-9"]  # weight and the blood-pressure panel; the pulse stays a sample
    again = patient.post("/fhir/Patient/dev1/$ingest", json=payload)
    assert "Observations : 0" in summary(again)
    assert patient.get("/fhir/Observation?patient=Patient/dev1").json()["total"] == 2


HK = "HKQuantityTypeIdentifier"
TIMES = 'creationDate="{t}" startDate="{t}" endDate="{t}"'
APPLE = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<HealthData locale="fr_FR">\n'
    f' <Record type="{HK}HeartRate" sourceName="Montre" unit="count/min" {TIMES} value="71"/>\n'
    f' <Record type="{HK}OxygenSaturation" sourceName="Montre" unit="%" {TIMES} value="0.97"/>\n'
    f' <Record type="{HK}DietaryWater" sourceName="App" unit="mL" {TIMES} value="250"/>\n'
    "</HealthData>\n"
)


def test_apple_health_xml(patient: TestClient) -> None:
    when = (NOW - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S +0000")
    body = APPLE.format(t=when).encode()
    answer = patient.post(
        "/fhir/Patient/dev1/$ingest", content=body, headers={"Content-Type": "application/xml"}
    )
    assert answer.status_code == 200, answer.text
    assert "nouveaux : 2" in summary(answer) and "ignorés : 1" in summary(answer)
    spo2 = patient.get("/fhir/Patient/dev1/$samples", params={"measure": "spo2", "grain": "raw"}).json()
    point = next(p for p in spo2["parameter"] if p["name"] == "point")
    assert {q["name"]: q.get("valueDecimal") for q in point["part"]}["value"] == 97


@pytest.mark.parametrize(
    "body",
    [
        b"<HealthData><Record type='HKQuantityTypeIdentifierHeartRate'",  # truncated
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><HealthData>&a;</HealthData>',
        b"\x00\x01 not xml",
    ],
)
def test_hostile_or_broken_exports_write_nothing(patient: TestClient, body: bytes) -> None:
    answer = patient.post(
        "/fhir/Patient/dev1/$ingest", content=body, headers={"Content-Type": "application/xml"}
    )
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.json()["resourceType"] == "OperationOutcome"
    assert (
        patient.get("/fhir/Patient/dev1/$samples", params={"measure": "heart-rate", "grain": "raw"}).json()[
            "parameter"
        ][4:]
        == []
    )


def test_errors_are_per_record(patient: TestClient) -> None:
    points = omh_spo2([97, 140, 96])  # 140 % is impossible
    answer = patient.post("/fhir/Patient/dev1/$ingest", json=points)
    assert answer.status_code == 200
    issues = answer.json()["issue"]
    assert "refusés : 1" in issues[0]["diagnostics"] and issues[1]["severity"] == "warning"
    assert "[1]" in issues[1]["diagnostics"] and "140" in issues[1]["diagnostics"]
    bad = patient.post("/fhir/Patient/dev1/$ingest", json=omh_spo2([140, 150]))
    assert bad.status_code == 422


@pytest.mark.parametrize(
    ("url", "body", "status"),
    [
        ("/fhir/Patient/nobody/$ingest", [], 404),
        ("/fhir/Patient/dev1/$ingest?format=fitbit", [], 400),
        ("/fhir/Patient/dev1/$ingest", {"not": "a data point"}, 422),  # its only record refused
    ],
)
def test_bad_requests(patient: TestClient, url: str, body: Any, status: int) -> None:
    assert patient.post(url, json=body).status_code == status
    assert patient.get("/fhir/Patient/dev1/$ingest").status_code == 405


def test_access(patient: TestClient, settings: Any) -> None:
    points = omh_spo2([97])
    other = operator_header(settings, scope="patient/*.cruds", patient="someone")
    assert patient.post("/fhir/Patient/dev1/$ingest", json=points, headers=other).status_code == 404
    own = operator_header(settings, scope="patient/*.cruds", patient="dev1")
    assert patient.post("/fhir/Patient/dev1/$ingest", json=points, headers=own).status_code == 200
    read_only = operator_header(settings, scope="patient/*.rs", patient="dev1")
    assert patient.post("/fhir/Patient/dev1/$ingest", json=points, headers=read_only).status_code == 403


def test_device_data_raises_an_alert(patient: TestClient) -> None:
    answer = patient.post("/fhir/Patient/dev1/$ingest", json=omh_spo2([88.0] * 12))
    assert answer.status_code == 200, answer.text
    actions = run(patient, lambda env: check_patient(env, "dev1", NOW))
    assert [a.alert.rule for a in actions] == ["spo2-low"]
    assert patient.get(ALERTS + "&patient=Patient/dev1").json()["total"] == 1


def test_an_alert_follows_ingested_data_at_once(settings: Any) -> None:
    """With rounds only every hour, the check after $ingest still raises the alert in seconds."""
    import time

    from tests.support import open_client

    slow = settings.model_copy(update={"monitoring_interval_seconds": 3600})
    with open_client(slow) as client:
        put(client, {"resourceType": "Patient", "id": "fast"})
        assert client.post("/fhir/Patient/fast/$ingest", json=omh_spo2([86.0] * 12)).status_code == 200
        deadline = time.monotonic() + 10
        while client.get(ALERTS + "&patient=Patient/fast").json()["total"] == 0:
            assert time.monotonic() < deadline, "no alert after $ingest"
            time.sleep(0.05)


def test_the_same_device_model_on_two_patients_is_two_devices(patient: TestClient) -> None:
    put(patient, {"resourceType": "Patient", "id": "dev2"})
    for pid in ("dev1", "dev2"):
        assert patient.post(f"/fhir/Patient/{pid}/$ingest", json=omh_spo2([97, 96])).status_code == 200
    for pid in ("dev1", "dev2"):
        devices = patient.get(f"/fhir/Device?patient=Patient/{pid}").json()
        assert devices["total"] == 1
        assert devices["entry"][0]["resource"]["patient"] == {"reference": f"Patient/{pid}"}
