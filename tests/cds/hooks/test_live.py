"""A CDS Hooks 2.0 client (tests/cds/hooks/support.py, httpx) against a live ``hygie serve``, on both
databases, with authentication required: discovery, each hook with and without prefetch, the
expected cards, feedback, and bad requests answered with clear 4xx OperationOutcomes.

https://cds-hooks.hl7.org/2.0/ — hooks https://cds-hooks.org/hooks/patient-view/,
https://cds-hooks.org/hooks/order-select/, https://cds-hooks.org/hooks/order-sign/.
Drugs (BDPM CIS): IMETH 10 mg (methotrexate), KETOPROFENE ARROW LP 100 mg, AMOXICILLINE BIOGARAN
500 mg, AMLODIPINE BIOGARAN 5 mg, DOLIPRANE 1000 mg. ANSM thesaurus: methotrexate + NSAIDs and
methotrexate + penicillins are "associations déconseillées" (warning cards); amlodipine +
paracetamol is no interaction (no card).
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from hygie.auth.keys import load_keys
from hygie.auth.operator import operator_token
from tests.cds.hooks.support import (
    ISSUER,
    CdsClient,
    claims,
    ec_key,
    hook_request,
    jwks,
    medication_request,
    prefetch,
    rsa_key,
    sign,
)

METHOTREXATE = ("65415275", "IMETH 10 mg/0,4 ml, solution injectable en seringue préremplie")
KETOPROFEN = ("68267981", "KETOPROFENE ARROW LP 100 mg")
AMOXICILLIN = ("69118175", "AMOXICILLINE BIOGARAN 500 mg, gélule")
AMLODIPINE = ("65728601", "AMLODIPINE BIOGARAN 5 mg, gélule")
PARACETAMOL = ("60234100", "DOLIPRANE 1000 mg, comprimé")
SERVICE = {h: f"medication-safety-{h}" for h in ("patient-view", "order-select", "order-sign")}
FHIR_JSON = "application/fhir+json"


@dataclass
class Installation:
    base: str
    fhir: str
    token: str  # an operator's Hygie access token (system/*.cruds)
    keys_dir: Path
    env: dict[str, str]
    cds: CdsClient

    def put(self, resource: dict[str, Any]) -> None:
        url = f"{self.fhir}/{resource['resourceType']}/{resource['id']}"
        answer = httpx.put(url, json=resource, headers={"Authorization": f"Bearer {self.token}",
                                                        "Content-Type": FHIR_JSON})  # fmt: skip
        assert answer.status_code in (200, 201), answer.text

    def hygie(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "hygie", *args], env=self.env, capture_output=True,
                              text=True, check=False, timeout=120)  # fmt: skip


@pytest.fixture
def inst(
    database_url: str, live_server_factory: Callable[..., Any], tmp_path: Path
) -> Iterator[Installation]:
    keys_dir = tmp_path / "keys"
    keys = load_keys(keys_dir)  # created before the server starts: both sign with the same keys
    env = {**os.environ, "HYGIE_DATABASE_URL": database_url, "HYGIE_KEYS_DIR": str(keys_dir)}
    server = live_server_factory(
        database_url, {"HYGIE_AUTH_REQUIRED": "true", "HYGIE_KEYS_DIR": str(keys_dir)}
    )
    token = operator_token(keys, "system/*.cruds", patient=None, ttl=3600, now=int(time.time()))
    key = ec_key()
    inst = Installation(
        server.base_url, server.fhir_url, token, keys_dir, env, CdsClient(server.base_url, key)
    )
    key_file = tmp_path / "ehr.jwks.json"
    key_file.write_text(json.dumps(jwks(key, rsa_key())))
    added = inst.hygie("cds-client", "add", "EHR Nord", "--jwks", str(key_file), "--issuer", ISSUER)
    assert added.returncode == 0, added.stderr
    inst.put({"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1958-03-02"})
    inst.put(medication_request("mtx", "p1", *METHOTREXATE))
    inst.put(medication_request("amox", "p1", *AMOXICILLIN))
    inst.put({"resourceType": "Patient", "id": "p2", "gender": "male", "birthDate": "1970-01-01"})
    inst.put(medication_request("aml", "p2", *AMLODIPINE))
    with inst.cds.http:
        yield inst


def _cards(answer: httpx.Response) -> list[dict[str, Any]]:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    cards: list[dict[str, Any]] = answer.json()["cards"]
    for card in cards:  # CDS Hooks 2.0 card attributes, and the source named with its edition
        assert len(card["summary"]) <= 140 and card["indicator"] in ("info", "warning", "critical")
        finding = card["extension"]["health.hygie.finding"]
        assert card["source"]["label"].startswith(finding["source"])  # the document and its edition
        assert f"dition {finding['edition']})" in card["source"]["label"] and finding["edition"]
        uuid.UUID(card["uuid"])
    return cards


def _keto_draft() -> dict[str, Any]:
    return medication_request("keto", "p1", *KETOPROFEN, status="draft")


def _findings(cards: list[dict[str, Any]]) -> list[tuple[str, tuple[str, ...]]]:
    return sorted((c["indicator"], tuple(c["extension"]["health.hygie.finding"]["items"])) for c in cards)


def test_discovery(inst: Installation) -> None:
    services = {s["id"]: s for s in inst.cds.discovery()["services"]}
    assert {s["hook"] for s in services.values()} == set(SERVICE)
    assert set(services) == set(SERVICE.values())
    for service in services.values():
        assert service["prefetch"]["patient"] == "Patient/{{context.patientId}}"
        assert service["description"] and service["title"]
    unknown = inst.cds.call("no-such-service", hook_request("patient-view", "p1"))
    assert unknown.status_code == 404 and unknown.headers["content-type"].startswith(FHIR_JSON)


@pytest.mark.parametrize("with_prefetch", [True, False], ids=["prefetch", "fetched"])
def test_each_hook_gives_the_expected_cards(inst: Installation, with_prefetch: bool) -> None:
    """With prefetch (computed by the client from discovery's templates) and without (read by the
    service from Hygie with fhirAuthorization): the same cards."""
    templates = inst.cds.discovery()["services"][0]["prefetch"]

    def body(hook: str, patient: str, drafts: list[dict[str, Any]]) -> dict[str, Any]:
        if with_prefetch:
            data = prefetch(templates, {"patientId": patient}, inst.fhir, inst.token)
            return hook_request(hook, patient, drafts=drafts, prefetched=data)
        return hook_request(hook, patient, drafts=drafts, fhir=inst.fhir, token=inst.token)

    view = _cards(inst.cds.call(SERVICE["patient-view"], body("patient-view", "p1", [])))
    assert _findings(view) == [("warning", ("MedicationRequest/mtx", "MedicationRequest/amox"))]
    assert "suggestions" not in view[0]  # current prescriptions: no suggestion

    for hook in ("order-select", "order-sign"):
        cards = _cards(inst.cds.call(SERVICE[hook], body(hook, "p1", [_keto_draft()])))
        # methotrexate + NSAID (AD); the current methotrexate + amoxicillin pair is not this hook's
        assert _findings(cards) == [("warning", ("MedicationRequest/mtx", "MedicationRequest/keto"))], hook
        card = cards[0]
        assert "MÉTHOTREXATE" in card["summary"].upper() or "METHOTREXATE" in card["summary"].upper()
        actions = [a for s in card["suggestions"] for a in s["actions"]]
        assert actions == [{"type": "delete", "description": actions[0]["description"],
                            "resourceId": "MedicationRequest/keto"}]  # fmt: skip
        assert card["selectionBehavior"] == "at-most-one" and card["overrideReasons"]

    safe = _cards(inst.cds.call(SERVICE["order-sign"], body("order-sign", "p2",
                  [medication_request("dol", "p2", *PARACETAMOL, status="draft")])))  # fmt: skip
    assert safe == []


def test_order_select_shows_only_the_selected_orders(inst: Installation) -> None:
    drafts = [_keto_draft(), medication_request("dol", "p1", *PARACETAMOL, status="draft")]
    request = hook_request("order-select", "p1", drafts=drafts, selections=["MedicationRequest/dol"],
                          fhir=inst.fhir, token=inst.token)  # fmt: skip
    assert _cards(inst.cds.call(SERVICE["order-select"], request)) == []
    signing = hook_request("order-sign", "p1", drafts=drafts, fhir=inst.fhir, token=inst.token)
    english = inst.cds.call(SERVICE["order-sign"], signing, headers={"Accept-Language": "en"})
    [card] = _cards(english)
    assert card["summary"].startswith("Combination not recommended: ")


def _error(answer: httpx.Response, status: int, text: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(FHIR_JSON)
    issue = answer.json()["issue"][0]
    assert text in issue["diagnostics"], issue


def test_bad_requests_get_clear_errors(inst: Installation) -> None:
    service = SERVICE["order-sign"]
    url = inst.cds.url(service)
    good = hook_request("order-sign", "p1", drafts=[_keto_draft()], fhir=inst.fhir, token=inst.token)
    en = {"Accept-Language": "en"}
    key = inst.cds.key
    assert key is not None
    # JWTs
    _error(inst.cds.http.post(url, json=good, headers=en), 401, "present a CDS client JWT")
    cases = {
        "unknown issuer": sign(key, claims(url, iss="https://unknown.example.org")),
        "signature does not verify": sign(ec_key(), claims(url), kid="ec-1"),
        "JWT expired": sign(key, claims(url, now=int(time.time()) - 3600)),
        "aud must be the URL": sign(key, claims(inst.cds.url(SERVICE["patient-view"]))),
        "alg must be ES384 or RS384": sign(rsa_key("rsa-1"), claims(url), alg="RS256"),
    }
    for reason, token in cases.items():
        answer = inst.cds.http.post(url, json=good, headers={**inst.cds.headers(url, token), **en})
        _error(answer, 401, reason)
        assert answer.headers["www-authenticate"].startswith("Bearer ")
    replayed = sign(key, claims(url))
    assert inst.cds.call(service, good, token=replayed).status_code == 200
    _error(
        inst.cds.http.post(url, json=good, headers={**inst.cds.headers(url, replayed), **en}), 401, "replay"
    )

    # bodies
    def post(body: Any, **kw: Any) -> httpx.Response:
        headers = {**inst.cds.headers(url), **en, **kw.pop("headers", {})}
        return inst.cds.http.post(url, headers=headers, **({"json": body} | kw))

    _error(post(None, content=b"{", headers={"Content-Type": "application/json"}), 400, "JSON")
    _error(post(None, content=b"x", headers={"Content-Type": "text/plain"}), 415, "text/plain")
    _error(post(None, content=b"x" * (5 * 1024 * 1024)), 413, "")
    # A gzip body is read as the FHIR API reads one (FhirApi.read_raw), within the same limit.
    gz = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    zipped = post(None, content=gzip.compress(json.dumps(good).encode()), headers=gz)
    assert zipped.status_code == 200, zipped.text
    assert zipped.json()["cards"]
    _error(post(None, content=gzip.compress(b" " * (5 * 1024 * 1024)), headers=gz), 413, "")
    for field in ("hook", "hookInstance", "context"):
        _error(post({k: v for k, v in good.items() if k != field}), 400, f"Required field missing: {field}")
    no_patient = {**good, "context": {k: v for k, v in good["context"].items() if k != "patientId"}}
    _error(post(no_patient), 400, "context.patientId")
    _error(post({**good, "hook": "patient-view"}), 400, "order-sign")
    # data the service cannot get
    _error(
        post({k: v for k, v in good.items() if k not in ("fhirServer", "fhirAuthorization")}),
        412,
        "no fhirServer",
    )
    _error(post({**good, "fhirServer": "https://other.example.org/fhir"}), 412, "reads only Hygie's own")
    _error(post({k: v for k, v in good.items() if k != "fhirAuthorization"}), 412, "no fhirAuthorization")
    bad_token = {**good, "fhirAuthorization": {**good["fhirAuthorization"], "access_token": "x.y.z"}}
    _error(post(bad_token), 412, "fhirAuthorization")
    other = operator_token(
        load_keys(inst.keys_dir), "patient/*.rs", patient="p2", ttl=600, now=int(time.time())
    )
    hidden = {**good, "fhirAuthorization": {**good["fhirAuthorization"], "access_token": other}}
    _error(post(hidden), 412, "Could not read patient")


def test_feedback_is_recorded(inst: Installation) -> None:
    service = SERVICE["order-sign"]
    request = hook_request("order-sign", "p1", drafts=[_keto_draft()], fhir=inst.fhir, token=inst.token)
    [card] = _cards(inst.cds.call(service, request))
    reason = card["overrideReasons"][0]
    now = "2025-06-01T10:00:00Z"
    overridden = {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": now,
                  "overrideReason": {"reason": reason, "userComment": "surveillance NFS"}}  # fmt: skip
    answer = inst.cds.feedback(service, {"feedback": [overridden]})
    assert answer.status_code == 200 and answer.json() == {}
    accepted = {"card": card["uuid"], "outcome": "accepted", "outcomeTimestamp": now,
                "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}]}  # fmt: skip
    assert inst.cds.feedback(service, {"feedback": [accepted]}).status_code == 200
    unknown = {**accepted, "card": str(uuid.uuid4())}
    _error(inst.cds.feedback(service, {"feedback": [accepted, unknown]}), 404, unknown["card"])
    _error(inst.cds.feedback(SERVICE["patient-view"], {"feedback": [accepted]}), 404, card["uuid"])
    _error(inst.cds.feedback(service, {"feedback": [{**accepted, "outcome": "ignored"}]}), 400, "outcome")
    _error(
        inst.cds.feedback(service, {"feedback": [{**overridden, "outcomeTimestamp": "hier"}]}), 400, "instant"
    )
    _error(inst.cds.feedback(service, {"feedback": [{**accepted, "overrideReason": {}}]}), 400, "overridden")
    _error(inst.cds.feedback(service, {"feedback": []}), 400, "feedback")
    url = inst.cds.url(service, feedback=True)
    _error(inst.cds.http.post(url, json={"feedback": [accepted]}), 401, "JWT")
    printed = inst.hygie("cds-client", "feedback")
    assert printed.returncode == 0, printed.stderr
    entries = [json.loads(line) for line in printed.stdout.splitlines()]
    assert [e["outcome"] for e in entries] == [
        "accepted",
        "overridden",
    ]  # newest first, the 404 wrote nothing
    assert entries[1]["reasonCode"] == reason["code"] and entries[1]["userComment"] == "surveillance NFS"
    assert entries[1]["client"] == "EHR Nord" and entries[1]["patient"] == "p1"
    assert entries[1]["indicator"] == "warning" and entries[1]["level"] == "AD"
    assert entries[0]["acceptedSuggestions"] == [card["suggestions"][0]["uuid"]]


def test_cds_reads_are_audited(inst: Installation) -> None:
    request = hook_request("patient-view", "p1", fhir=inst.fhir, token=inst.token)
    _cards(inst.cds.call(SERVICE["patient-view"], request))
    headers = {"Authorization": f"Bearer {inst.token}"}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the audit trail is written in the background
        found = httpx.get(
            f"{inst.fhir}/AuditEvent", params={"patient": "p1", "_count": "100"}, headers=headers
        )
        assert found.status_code == 200, found.text
        names = json.dumps(found.json())
        if "MedicationRequest/mtx" in names and "hygie-cli" in names:
            return
        time.sleep(0.2)
    pytest.fail(f"no audit record of the CDS reads: {names[:2000]}")
