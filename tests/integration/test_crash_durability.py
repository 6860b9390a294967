"""Crash durability of acknowledged writes and atomicity of transactions, on both backends.

- A ``201 Created`` is a promise (https://hl7.org/fhir/R4/http.html#create): after ``kill -9`` of
  the server in the middle of a concurrent load, every acknowledged resource must read back
  exactly as acknowledged once the server restarts on the same database.
- A transaction Bundle is all or nothing (https://hl7.org/fhir/R4/http.html#transaction): when
  its 5th entry fails, none of its other entries may leave a trace.

Black-box: only httpx against ``hygie serve`` subprocesses.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

FHIR_JSON = "application/fhir+json"
HEADERS = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON}
LOCATION = re.compile(r"/?Patient/([A-Za-z0-9\-.]{1,64})/_history/([A-Za-z0-9\-.]{1,64})$")

TOTAL_CREATES = 300
CONNECTIONS = 6
KILL_AFTER_ACKS = 100


@dataclass(frozen=True)
class Ack:
    """One acknowledged create: what was sent and what the server promised."""

    sent: dict[str, Any]
    resource_id: str
    version_id: str


def patient_body(run: str, n: int) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:hygie:test:crash", "value": f"{run}-{n}"}],
        "active": n % 2 == 0,
        "name": [{"use": "official", "family": f"Durand-{n}", "given": ["Éloïse", f"N{n}"]}],
        "gender": ("female", "male", "other", "unknown")[n % 4],
        "birthDate": f"19{50 + n % 50:02d}-{1 + n % 12:02d}-{1 + n % 28:02d}",
        "telecom": [{"system": "email", "value": f"patient{n}@example.org"}],
        "address": [
            {"line": [f"{n} rue de la Paix"], "city": "Lyon", "postalCode": "69003", "country": "FR"}
        ],
    }


def without_meta(resource: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in resource.items() if key not in ("meta", "id", "text")}


def parse_location(location: str) -> tuple[str, str]:
    match = LOCATION.search(location)
    assert match, f"unexpected Location header {location!r}"
    return match.group(1), match.group(2)


class Load:
    """Concurrent creates from several connections; SIGKILLs the server after N acknowledgements."""

    def __init__(self, fhir_url: str, kill: Callable[[], None]) -> None:
        self.fhir_url = fhir_url
        self.kill = kill
        self.run = uuid.uuid4().hex[:8]
        self.lock = threading.Lock()
        self.acks: list[Ack] = []
        self.unexpected: list[str] = []
        self.killed_at: int | None = None

    def _record(self, body: dict[str, Any], response: httpx.Response) -> None:
        # Runs in load threads: problems are collected and asserted on the main thread.
        match = LOCATION.search(response.headers.get("location", ""))
        etag = response.headers.get("etag")
        if response.status_code != 201 or match is None or etag != f'W/"{match.group(2)}"':
            with self.lock:
                self.unexpected.append(
                    f"{response.status_code} location={response.headers.get('location')!r} "
                    f"etag={etag!r}: {response.text[:300]}"
                )
            return
        with self.lock:
            self.acks.append(Ack(body, match.group(1), match.group(2)))
            if len(self.acks) == KILL_AFTER_ACKS:
                # Kill right now, from this thread, while the other connections are mid-request.
                self.killed_at = len(self.acks)
                self.kill()

    def _worker(self, numbers: range) -> None:
        with httpx.Client(base_url=self.fhir_url, headers=HEADERS, timeout=30.0) as http:
            for n in numbers:
                body = patient_body(self.run, n)
                try:
                    response = http.post("/Patient", content=json.dumps(body).encode())
                except httpx.TransportError:
                    return  # the server is gone: nothing acknowledged from here on
                self._record(body, response)

    def fire(self) -> None:
        threads = [
            threading.Thread(target=self._worker, args=(range(i, TOTAL_CREATES, CONNECTIONS),))
            for i in range(CONNECTIONS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
            assert not thread.is_alive(), "load thread did not finish"


def test_acknowledged_creates_survive_kill_9(database_url: str, live_server_factory: Any) -> None:
    server = live_server_factory(database_url)
    load = Load(server.fhir_url, server.kill)
    load.fire()

    assert load.unexpected == [], "creates answered with something other than 201 before the crash"
    assert load.killed_at == KILL_AFTER_ACKS, "the server was never killed"
    assert server.process.poll() is not None, "the server survived SIGKILL"
    # Killed in the middle of the load: far from every create was acknowledged.
    assert KILL_AFTER_ACKS <= len(load.acks) < TOTAL_CREATES
    assert len({ack.resource_id for ack in load.acks}) == len(load.acks), "an id was given twice"

    server.start()  # same database, new process
    with httpx.Client(base_url=server.fhir_url, headers=HEADERS, timeout=30.0) as http:
        lost = []
        for ack in load.acks:
            response = http.get(f"/Patient/{ack.resource_id}")
            if response.status_code != 200:
                lost.append(f"{ack.resource_id}: {response.status_code}")
                continue
            stored = response.json()
            assert stored["id"] == ack.resource_id
            assert stored["meta"]["versionId"] == ack.version_id
            assert without_meta(stored) == without_meta(ack.sent)
        assert lost == [], f"{len(lost)} acknowledged creates lost after kill -9: {lost[:5]}"
        # The restarted server accepts writes again.
        again = http.post("/Patient", content=json.dumps(patient_body(load.run, 10_000)).encode())
        assert again.status_code == 201


# --- transaction atomicity ---------------------------------------------------------------------


def create_patient(http: httpx.Client, family: str) -> str:
    body = {"resourceType": "Patient", "name": [{"family": family, "given": ["Témoin"]}], "gender": "female"}
    response = http.post("/Patient", content=json.dumps(body).encode())
    assert response.status_code == 201, response.text
    return parse_location(response.headers["location"])[0]


def history_versions(http: httpx.Client, resource_id: str) -> list[str]:
    """Version ids listed by the instance history (R4 http.html#history)."""
    response = http.get(f"/Patient/{resource_id}/_history")
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["type"] == "history"
    return sorted(entry["resource"]["meta"]["versionId"] for entry in bundle.get("entry", []))


def transaction(new_id: str, a: str, b: str, c: str, c_if_match: str, run: str) -> dict[str, Any]:
    """Five entries: POST, PUT-as-create, PUT update, DELETE, then a version-checked PUT."""
    created_full_url = f"urn:uuid:{uuid.uuid4()}"
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": created_full_url,
                "resource": {
                    "resourceType": "Patient",
                    "identifier": [{"system": "urn:hygie:test:txn", "value": run}],
                    "name": [{"family": "Nouveau"}],
                },
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": {
                    "resourceType": "Patient",
                    "id": new_id,
                    "name": [{"family": "Choisi"}],
                    "link": [{"other": {"reference": created_full_url}, "type": "seealso"}],
                },
                "request": {"method": "PUT", "url": f"Patient/{new_id}"},
            },
            {
                "resource": {"resourceType": "Patient", "id": a, "name": [{"family": "Modifié"}]},
                "request": {"method": "PUT", "url": f"Patient/{a}"},
            },
            {"request": {"method": "DELETE", "url": f"Patient/{b}"}},
            {
                "resource": {"resourceType": "Patient", "id": c, "name": [{"family": "Verrou"}]},
                "request": {"method": "PUT", "url": f"Patient/{c}", "ifMatch": c_if_match},
            },
        ],
    }


def test_failed_transaction_leaves_no_trace(database_url: str, live_server_factory: Any) -> None:
    server = live_server_factory(database_url)
    run = uuid.uuid4().hex[:10]
    with httpx.Client(base_url=server.fhir_url, headers=HEADERS, timeout=30.0) as http:
        a, b, c = (create_patient(http, family) for family in ("Alpha", "Bravo", "Charlie"))
        before = {pid: http.get(f"/Patient/{pid}").json() for pid in (a, b, c)}
        new_id = f"txn-{run}"

        # The 5th entry asks for version 7 of C, which is at version 1: 412, the whole Bundle fails.
        failing = transaction(new_id, a, b, c, 'W/"7"', run)
        failed = http.post(server.fhir_url, content=json.dumps(failing).encode())
        assert 400 <= failed.status_code < 500, failed.text
        assert failed.json()["resourceType"] == "OperationOutcome"

        assert http.get(f"/Patient/{new_id}").status_code == 404, "PUT-as-create of a failed transaction"
        for pid in (a, b, c):
            response = http.get(f"/Patient/{pid}")
            assert response.status_code == 200, f"Patient/{pid} changed by a failed transaction"
            assert response.json() == before[pid]
            assert history_versions(http, pid) == ["1"]

        # Control: the same Bundle with a matching version succeeds, so entries 1-4 were valid.
        passing = transaction(new_id, a, b, c, 'W/"1"', run)
        done = http.post(server.fhir_url, content=json.dumps(passing).encode())
        assert done.status_code == 200, done.text
        reply = done.json()
        assert reply["type"] == "transaction-response"
        statuses = [entry["response"]["status"].split()[0] for entry in reply["entry"]]
        assert statuses[0] == "201"
        assert statuses[1] == "201"
        assert statuses[2] == "200"
        assert statuses[3] in ("200", "204")
        assert statuses[4] == "200"
        created_id = parse_location(reply["entry"][0]["response"]["location"])[0]

        chosen = http.get(f"/Patient/{new_id}").json()
        assert chosen["link"][0]["other"]["reference"] == f"Patient/{created_id}"
        assert http.get(f"/Patient/{a}").json()["name"] == [{"family": "Modifié"}]
        assert http.get(f"/Patient/{b}").status_code == 410
        assert http.get(f"/Patient/{c}").json()["meta"]["versionId"] == "2"
        assert history_versions(http, a) == ["1", "2"]
