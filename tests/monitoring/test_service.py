"""Monitoring over stored data, both databases: samples and scores in, alerts out as FHIR
(DetectedIssue + Task), one alert per condition, escalation, Goals, the background round."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.testclient import TestClient

from hygie.api.http import FhirApi
from hygie.monitoring.service import Monitor, check_patient, patients_to_check
from hygie.storage import samples
from hygie.storage.samples import SampleRow

NOW = datetime.now(UTC).replace(microsecond=0)
ALERTS = "/fhir/Task?code=https://hygie.health/fhir/CodeSystem/monitoring|alert"


def api_of(client: TestClient) -> FhirApi:
    api: FhirApi = client.app.state.fhir_api  # type: ignore[attr-defined]
    return api


def run(client: TestClient, work: Any) -> Any:
    api = api_of(client)
    return api.db.run_sync(lambda s: work(api._env(s, "http://testserver/fhir", "fr")))


def spo2(patient: str, values: list[float], end: datetime = NOW, tag: str = "") -> list[SampleRow]:
    n = len(values)
    rows = []
    for i, v in enumerate(values):
        at = int((end - timedelta(minutes=n - 1 - i)).timestamp() * 1000)
        rows.append(SampleRow(f"{patient}-spo2-{tag}{i}", patient, "spo2", at, None, v, None, "dev"))
    return rows


def put(client: TestClient, resource: dict[str, Any]) -> None:
    answer = client.put(f"/fhir/{resource['resourceType']}/{resource['id']}", json=resource)
    assert answer.status_code in (200, 201), answer.text


def test_an_ongoing_low_spo2_raises_one_alert_then_escalates(client: TestClient) -> None:
    put(client, {"resourceType": "Patient", "id": "p1"})
    run(client, lambda env: samples.write(env.store.s, spo2("p1", [89.0] * 15), now_ms=1))
    actions = run(client, lambda env: check_patient(env, "p1", NOW))
    assert [(a.kind, a.alert.rule) for a in actions] == [("raise", "spo2-low")]
    tasks = client.get(ALERTS + "&patient=Patient/p1").json()
    assert tasks["total"] == 1
    alert = tasks["entry"][0]["resource"]
    assert alert["status"] == "requested" and alert["priority"] == "asap"
    issue = client.get(f"/fhir/{alert['focus']['reference']}").json()
    assert issue["severity"] == "high" and issue["code"]["coding"][0]["code"] == "spo2-low"
    assert "BTS" in issue["detail"]  # the rule's source travels with the finding
    # still low one minute later: the same alert, refreshed
    later = NOW + timedelta(minutes=1)
    run(client, lambda env: samples.write(env.store.s, spo2("p1", [88.0], end=later, tag="b"), now_ms=2))
    actions = run(client, lambda env: check_patient(env, "p1", later))
    assert [a.kind for a in actions] == ["refresh"]
    assert client.get(ALERTS + "&patient=Patient/p1").json()["total"] == 1
    # …but not re-written: a check after every upload must not notify subscribers every time
    assert client.get(f"/fhir/Task/{alert['id']}").json()["meta"]["versionId"] == "1"
    # nobody acknowledged it for 15 minutes: escalated, priority up
    late = NOW + timedelta(minutes=16)
    run(client, lambda env: samples.write(env.store.s, spo2("p1", [88.0] * 16, end=late, tag="c"), now_ms=3))
    actions = run(client, lambda env: check_patient(env, "p1", late))
    assert [a.kind for a in actions] == ["refresh", "escalate"]
    task = client.get(f"/fhir/Task/{alert['id']}").json()
    assert task["priority"] == "stat"
    assert any(e["url"].endswith("escalation") and e["valueInteger"] == 1 for e in task["extension"])


def test_a_goal_changes_the_threshold_for_one_patient(client: TestClient) -> None:
    put(client, {"resourceType": "Patient", "id": "copd"})
    put(
        client,
        {
            "resourceType": "Goal",
            "id": "g-copd",
            "lifecycleStatus": "active",
            "description": {"text": "SpO2 88-92 %"},
            "subject": {"reference": "Patient/copd"},
            "target": [
                {
                    "measure": {"coding": [{"system": "http://loinc.org", "code": "59408-5"}]},
                    "detailRange": {"low": {"value": 88, "code": "%", "system": "http://unitsofmeasure.org"},
                                    "high": {"value": 92, "code": "%", "system": "http://unitsofmeasure.org"}},
                }
            ],
        },
    )  # fmt: skip
    run(client, lambda env: samples.write(env.store.s, spo2("copd", [90.0] * 20), now_ms=1))
    assert run(client, lambda env: check_patient(env, "copd", NOW)) == []
    run(
        client,
        lambda env: samples.write(
            env.store.s, spo2("copd", [86.0], end=NOW + timedelta(minutes=1), tag="x"), now_ms=2
        ),
    )
    actions = run(client, lambda env: check_patient(env, "copd", NOW + timedelta(minutes=1)))
    assert [a.alert.rule for a in actions] == ["goal-g-copd-0-low"]


def test_a_stored_news2_score_raises_score_alerts(client: TestClient) -> None:
    put(client, {"resourceType": "Patient", "id": "p3"})
    parameters = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "respiratoryRate", "valueQuantity": {"value": 25, "code": "/min"}},
            {"name": "spo2", "valueQuantity": {"value": 96, "code": "%"}},
            {"name": "onOxygen", "valueBoolean": True},
            {"name": "systolicBP", "valueQuantity": {"value": 120, "code": "mm[Hg]"}},
            {"name": "pulse", "valueQuantity": {"value": 115, "code": "/min"}},
            {"name": "consciousness", "valueCode": "A"},
            {"name": "temperature", "valueQuantity": {"value": 37, "code": "Cel"}},
        ],
    }
    score = client.post("/fhir/Observation/$news2", json=parameters).json()
    assert score["valueQuantity"]["value"] == 7
    score["subject"] = {"reference": "Patient/p3"}
    score["effectiveDateTime"] = NOW.isoformat()
    assert client.post("/fhir/Observation", json=score).status_code == 201
    actions = run(client, lambda env: check_patient(env, "p3", NOW))
    assert [a.alert.rule for a in actions] == ["news2-high"]  # it supersedes the lower NEWS2 rules


def test_the_background_round_finds_who_to_check(client: TestClient) -> None:
    put(client, {"resourceType": "Patient", "id": "p4"})
    put(client, {"resourceType": "Patient", "id": "p5"})
    start = int(NOW.timestamp() * 1000)
    run(client, lambda env: samples.write(env.store.s, spo2("p4", [85.0] * 12), now_ms=start))
    run(client, lambda env: samples.write(env.store.s, spo2("p5", [97.0] * 12), now_ms=start - 3_600_000))
    assert run(client, lambda env: patients_to_check(env, start, NOW)) == {"p4"}
    api = api_of(client)

    async def round_trip() -> int:
        monitor = Monitor(
            run=api.db.run,
            make_env=lambda s: api._env(s, "http://testserver/fhir", "fr"),
            clock=lambda: NOW,
        )
        monitor._since_ms = start
        return await monitor.round()

    assert asyncio.run(round_trip()) == 1
    assert client.get(ALERTS + "&patient=Patient/p4").json()["total"] == 1
    assert client.get(ALERTS + "&patient=Patient/p5").json()["total"] == 0


def test_concurrent_checks_of_one_patient_raise_one_alert(client: TestClient) -> None:
    """The check after an upload and the periodic round (or two server processes) may check the
    same patient at once: on PostgreSQL both used to read "no open alert" and raise it twice."""
    put(client, {"resourceType": "Patient", "id": "p9"})
    run(client, lambda env: samples.write(env.store.s, spo2("p9", [85.0] * 12), now_ms=1))
    api = api_of(client)
    sqlite = api.settings.database_url.startswith("sqlite")  # one writer at a time: no overlap
    start = threading.Barrier(1 if sqlite else 4)

    def check() -> None:
        def work(session: Any) -> None:
            start.wait(timeout=30)  # every transaction is open before any checks
            check_patient(api._env(session, "http://testserver/fhir", "fr"), "p9", NOW)

        api.db.run_sync(work)

    threads = [threading.Thread(target=check) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert client.get(ALERTS + "&patient=Patient/p9").json()["total"] == 1


def test_acknowledge_and_resolve_through_the_api(client: TestClient) -> None:
    put(client, {"resourceType": "Patient", "id": "p6"})
    run(client, lambda env: samples.write(env.store.s, spo2("p6", [85.0] * 12), now_ms=1))
    run(client, lambda env: check_patient(env, "p6", NOW))
    alert = client.get(ALERTS + "&patient=Patient/p6").json()["entry"][0]["resource"]
    url = f"/fhir/Task/{alert['id']}"
    note = {"resourceType": "Parameters", "parameter": [{"name": "note", "valueString": "Appel au patient"}]}
    acked = client.post(url + "/$acknowledge", json=note)
    assert acked.status_code == 200, acked.text
    assert acked.json()["status"] == "accepted" and acked.json()["note"][0]["text"] == "Appel au patient"
    assert client.post(url + "/$acknowledge").status_code == 409  # already acknowledged
    # acknowledged: no escalation any more, however long it lasts
    later = NOW + timedelta(hours=3)
    run(client, lambda env: samples.write(env.store.s, spo2("p6", [85.0] * 12, end=later, tag="z"), now_ms=2))
    assert [a.kind for a in run(client, lambda env: check_patient(env, "p6", later))] == ["refresh"]
    seen = client.get(url).json()  # seen 3 h later (more than seen_refresh_minutes): re-stamped
    assert seen["meta"]["versionId"] == "3" and seen["status"] == "accepted"
    assert any(e["url"].endswith("seen") and e["valueDateTime"].startswith(later.strftime("%Y-%m-%dT%H:%M"))
               for e in seen["extension"])  # fmt: skip
    done = client.post(url + "/$resolve")
    assert done.status_code == 200 and done.json()["status"] == "completed"
    assert client.post(url + "/$resolve").status_code == 409
    # bad input and wrong targets
    assert client.post(url + "/$resolve", json={"resourceType": "Patient"}).status_code == 400
    assert client.post("/fhir/Task/nope/$acknowledge").status_code == 404
    put(client, {"resourceType": "Task", "id": "plain", "status": "requested", "intent": "order"})
    assert client.post("/fhir/Task/plain/$acknowledge").status_code == 422
    assert client.get(url + "/$acknowledge").status_code == 405


def test_escalate_through_the_api(client: TestClient) -> None:
    """``$escalate`` does what the rounds do when nobody acknowledges: escalation + 1, priority one
    step up (high: asap → stat), until the highest; ``If-Match`` guards against a stale view."""
    put(client, {"resourceType": "Patient", "id": "p8"})
    run(client, lambda env: samples.write(env.store.s, spo2("p8", [85.0] * 12), now_ms=1))
    run(client, lambda env: check_patient(env, "p8", NOW))
    alert = client.get(ALERTS + "&patient=Patient/p8").json()["entry"][0]["resource"]
    url = f"/fhir/Task/{alert['id']}"
    assert alert["priority"] == "asap"
    stale = client.post(url + "/$escalate", headers={"If-Match": 'W/"99"'})
    assert (
        stale.status_code == 412 and client.get(url).json()["meta"]["versionId"] == alert["meta"]["versionId"]
    )
    note = {
        "resourceType": "Parameters",
        "parameter": [{"name": "note", "valueString": "Pas de réponse du service"}],
    }
    up = client.post(url + "/$escalate", json=note, headers={"If-Match": f'W/"{alert["meta"]["versionId"]}"'})
    assert up.status_code == 200, up.text
    escalated = up.json()
    assert escalated["priority"] == "stat" and escalated["status"] == "requested"
    assert escalated["note"][-1]["text"] == "Pas de réponse du service"
    assert any(e["url"].endswith("escalation") and e["valueInteger"] == 1 for e in escalated["extension"])
    assert client.post(url + "/$escalate").status_code == 409  # stat is the highest
    assert client.post(url + "/$acknowledge").status_code == 200
    assert client.post(url + "/$resolve").status_code == 200
    assert client.post(url + "/$escalate").status_code == 409  # closed
    assert client.get(url + "/$escalate").status_code == 405


def test_only_the_care_team_can_handle_an_alert(client: TestClient, settings: Any) -> None:
    from hygie.auth.scopes import parse_scopes
    from hygie.auth.tokens import Principal
    from tests.security.test_break_glass import token

    def professional(org: str, practitioner: str) -> dict[str, str]:
        principal = Principal(
            kind="professional",
            subject=f"acc-{practitioner}",
            scopes=parse_scopes("user/*.cruds"),
            fhir_user=f"Practitioner/{practitioner}",
            organization=org,
        )
        return token(settings, principal)

    for resource in (
        {"resourceType": "Organization", "id": "orgA"},
        {"resourceType": "Organization", "id": "orgB"},
        {"resourceType": "Practitioner", "id": "pa"},
        {"resourceType": "Practitioner", "id": "pb"},
        {"resourceType": "Patient", "id": "p7", "managingOrganization": {"reference": "Organization/orgA"}},
    ):
        put(client, resource)
    run(client, lambda env: samples.write(env.store.s, spo2("p7", [85.0] * 12), now_ms=1))
    run(client, lambda env: check_patient(env, "p7", NOW))
    alert = client.get(ALERTS + "&patient=Patient/p7").json()["entry"][0]["resource"]
    url = f"/fhir/Task/{alert['id']}/$acknowledge"
    outsider = professional("orgB", "pb")
    assert client.get(ALERTS + "&patient=Patient/p7", headers=outsider).json().get("total") == 0
    assert client.post(url, headers=outsider).status_code == 404  # as if it did not exist
    carer = professional("orgA", "pa")
    inbox = client.get(ALERTS + "&status=requested", headers=carer).json()
    assert [e["resource"]["id"] for e in inbox["entry"]] == [alert["id"]]
    acked = client.post(url, headers=carer)
    assert acked.status_code == 200, acked.text
    assert acked.json()["owner"] == {"reference": "Practitioner/pa"}


def test_the_server_runs_the_rounds_on_its_own(settings: Any) -> None:
    import time

    from tests.support import open_client

    fast = settings.model_copy(update={"monitoring_interval_seconds": 0.2})
    with open_client(fast) as client:
        put(client, {"resourceType": "Patient", "id": "p8"})
        now_ms = int(time.time() * 1000)
        run(
            client,
            lambda env: samples.write(
                env.store.s, spo2("p8", [84.0] * 12, end=datetime.now(UTC)), now_ms=now_ms
            ),
        )
        deadline = time.monotonic() + 20
        while client.get(ALERTS + "&patient=Patient/p8").json()["total"] == 0:
            assert time.monotonic() < deadline, "no alert raised by the background rounds"
            time.sleep(0.1)


def test_charted_observations_and_cgm_glucose_count(client: TestClient) -> None:
    put(client, {"resourceType": "Patient", "id": "p9"})
    for minute in (0, 5):  # a nurse charts a temperature through the plain FHIR API
        at = (NOW - timedelta(minutes=minute)).isoformat()
        obs = {
            "resourceType": "Observation",
            "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                      "code": "vital-signs"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5"}]},
            "subject": {"reference": "Patient/p9"},
            "effectiveDateTime": at,
            "valueQuantity": {"value": 102.2, "unit": "°F", "system": "http://unitsofmeasure.org",
                              "code": "[degF]"},
        }  # fmt: skip
        assert client.post("/fhir/Observation", json=obs).status_code == 201
    times = [int((NOW - timedelta(minutes=5 * i)).timestamp() * 1000) for i in range(4)]
    rows = [
        SampleRow(f"cgm{i}", "p9", "interstitial-glucose", t, None, 2.6, None, "cgm")
        for i, t in enumerate(times)
    ]
    run(client, lambda env: samples.write(env.store.s, rows, now_ms=1))
    actions = run(client, lambda env: check_patient(env, "p9", NOW))
    assert sorted(a.alert.rule for a in actions) == ["glucose-level2-hypo", "temperature-fever"]  # 39 °C
