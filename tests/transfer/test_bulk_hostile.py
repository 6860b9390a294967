"""Bulk Data and portability endpoints under malformed and hostile input: bad input never breaks us.

Every probe gets a clear error (an OperationOutcome with a 4xx status), never a 500, never a
partial write (no job row, no job directory, no resource), never data outside the caller's rights.
Probed: the ``$export`` kick-off at every level (GET and POST), the status URL (poll, DELETE), the
file URL (path traversal), the ``$import`` kick-off (bodies, Parameters shapes, input URLs and
server-side request forgery) and the portability ZIP (``Patient/[id]/$export-record``).

Bulk Data Access IG 2.0: https://hl7.org/fhir/uv/bulkdata/STU2/export.html; Bulk Data Import
draft: https://github.com/smart-on-fhir/bulk-import; docs/bulk-data.md, docs/portability.md.

One database per backend and one app for the whole module (the probes are requests: building a
world per probe would cost a second each); each probe counts the jobs and job directories before
and after itself.
"""

from __future__ import annotations

import functools
import gzip
import http.server
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from starlette.testclient import TestClient

from hygie.settings import Settings
from tests.conftest import BACKEND_PARAMS, free_port, fresh_database_url
from tests.support import open_client
from tests.transfer.bulk_helpers import (
    ASYNC,
    bearer,
    bulk_settings,
    download,
    keys,
    manifest_of,
    system_principal,
    wait,
)
from tests.transfer.test_bulk_export import WORLD, load
from tests.transfer.test_record import patient_principal, person_header

MAX_BODY = 256 * 1024  # HYGIE_MAX_BODY_BYTES of the module's server: "huge" bodies stay cheap
JSON = {**ASYNC, "Content-Type": "application/fhir+json"}
NDJSON = {**ASYNC, "Content-Type": "application/fhir+ndjson"}
LENIENT = {"Prefer": "respond-async, handling=lenient", "Accept": "application/fhir+json"}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module", params=BACKEND_PARAMS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One database per backend for the module (named like the shared fixture, so that
    ``HYGIE_TEST_BACKENDS`` selects its cases the same way)."""
    yield from fresh_database_url(request, request.param, tmp_path_factory.mktemp("hostile"))


class _Handler(http.server.SimpleHTTPRequestHandler):
    """A plain file server that remembers the paths it was asked for."""

    def do_GET(self) -> None:
        self.server.asked.append(self.path)  # type: ignore[attr-defined]
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        return


@dataclass
class FileServer:
    root: Path  # served; its sub-folder ``served/`` is the trusted prefix
    base: str  # http://127.0.0.1:PORT/
    asked: list[str]

    @property
    def trusted(self) -> str:
        return f"{self.base}served/"


@pytest.fixture(scope="module")
def file_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FileServer]:
    root = tmp_path_factory.mktemp("files")
    (root / "served").mkdir()
    # outside the trusted folder: what a URL escaping the prefix would reach
    for n in range(4):
        secret = orjson.dumps({"resourceType": "Patient", "id": f"secret{n}"}) + b"\n"
        (root / f"secret{n}.ndjson").write_bytes(secret)
    for name in ("dup", "good"):  # dup.ndjson: only the duplicate-inputs probe imports it
        patient = orjson.dumps({"resourceType": "Patient", "id": f"{name}1"}) + b"\n"
        (root / "served" / f"{name}.ndjson").write_bytes(patient)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Handler, directory=str(root))
    )
    asked: list[str] = []
    server.asked = asked  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield FileServer(root, f"http://127.0.0.1:{server.server_address[1]}/", asked)
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Hostile:
    """The module's server, its callers and a finished export of Alice's."""

    client: TestClient
    settings: Settings
    files: FileServer
    closed: str  # a trusted prefix on a port nobody listens on
    alice: dict[str, str]
    bob: dict[str, str]
    status_url: str = ""
    manifest: dict[str, Any] = field(default_factory=dict)

    def state(self) -> tuple[int, list[str]]:
        """(bulk_job rows, job directories) — what a refused request must leave unchanged."""
        api = self.client.app.state.fhir_api  # type: ignore[attr-defined]
        rows = api.db.run_sync(lambda s: s.one("SELECT COUNT(*) FROM bulk_job")[0], write=False)
        root = self.settings.bulk_dir
        dirs = sorted(p.name for p in root.iterdir()) if root.is_dir() else []
        return int(rows), dirs


@pytest.fixture(scope="module")
def hostile(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, file_server: FileServer
) -> Iterator[Hostile]:
    closed = f"http://127.0.0.1:{free_port()}/"
    settings = bulk_settings(
        database_url,
        tmp_path_factory.mktemp("hostile-server"),
        max_body_bytes=MAX_BODY,
        bulk_import_url_prefixes=f"{file_server.trusted},{closed}",
    )
    with open_client(settings) as client:
        load(client, WORLD)
        h = Hostile(
            client,
            settings,
            file_server,
            closed,
            bearer(settings, system_principal("alice")),
            bearer(settings, system_principal("bob")),
        )
        answer = client.get("/fhir/$export?_type=Patient,Observation", headers={**ASYNC, **h.alice})
        assert answer.status_code == 202, answer.text
        h.status_url = answer.headers["content-location"]
        h.manifest = manifest_of(client, h.status_url, h.alice)
        assert {o["type"] for o in h.manifest["output"]} == {"Patient", "Observation"}
        yield h


def assert_outcome(answer: Any, status: int, note: str = "") -> dict[str, Any]:
    """``status`` with an OperationOutcome carrying an error (``note``: what else happened)."""
    assert answer.status_code == status, (
        f"{answer.status_code} (expected {status}): {answer.text[:300]}{note}"
    )
    assert answer.headers["content-type"].startswith("application/fhir+json"), answer.headers["content-type"]
    body: dict[str, Any] = answer.json()
    assert body["resourceType"] == "OperationOutcome"
    assert any(i["severity"] in ("error", "fatal") for i in body["issue"]), body
    return body


def settle(hostile: Hostile, answer: Any, headers: dict[str, str] | None = None) -> str:
    """A request that should have been refused but queued a job: let the job end, then delete it,
    so that it does not disturb the next probes (their before/after counts); how the job ended."""
    url = answer.headers.get("content-location", "")
    if answer.status_code != 202 or "_jobId=" not in url:
        return ""
    done = wait(hostile.client, url, headers)
    hostile.client.delete(url, headers=headers or {})
    return f" — accepted, then its job answered {done.status_code}: {done.text[:200]}"


def job_id_of(status_url: str) -> str:
    return status_url.rsplit("_jobId=", 1)[1]


# --------------------------------------------------------------------------- $export kick-off

LONG_ID = "a" * 65
KICKOFF_REFUSED: list[tuple[str, str, int]] = [
    # (id, path and query, status) — sent with Prefer: respond-async
    ("type-unknown", "$export?_type=Nonsense", 400),
    ("type-empty", "$export?_type=", 400),
    ("type-empty-item", "$export?_type=Patient,,Observation", 400),
    ("type-lowercase", "$export?_type=patient", 400),
    ("type-nul", "$export?_type=Patient%00", 400),
    ("type-path", "$export?_type=..%2FPatient", 400),
    ("type-long", "$export?_type=" + ",".join(["Patient"] * 1500 + ["Nope"]), 400),
    ("type-huge", "$export?_type=" + ",".join(["Patient"] * 5000 + ["Nope"]), 414),
    ("type-outside-compartment-patient", "Patient/$export?_type=Organization", 400),
    ("type-outside-compartment-group", "Group/g1/$export?_type=Organization", 400),
    ("since-word", "$export?_since=yesterday", 400),
    ("since-empty", "$export?_since=", 400),
    ("since-month-13", "$export?_since=2024-13-01T00:00:00Z", 400),
    ("since-hour-25", "$export?_since=2024-01-01T25:00:00Z", 400),
    ("since-offset-25h", "$export?_since=2024-01-01T00:00:00%2B25:00", 400),
    ("since-offset-24h", "$export?_since=2024-01-01T00:00:00%2B24:00", 400),
    ("since-offset-99min", "$export?_since=2024-01-01T00:00:00-00:99", 400),
    ("since-year-10000", "$export?_since=10000-01-01T00:00:00Z", 400),
    ("since-search-prefix", "$export?_since=gt2024-01-01T00:00:00Z", 400),
    ("since-plus-as-space", "$export?_since=2024-01-01T00:00:00+02:00", 400),
    ("since-nul", "$export?_since=2024-01-01T00:00:00Z%00", 400),
    ("since-last-instant", "$export?_since=9999-12-31T23:59:59Z", 400),
    ("outputformat-csv", "$export?_outputFormat=text/csv", 400),
    ("outputformat-empty", "$export?_outputFormat=", 400),
    ("outputformat-json", "$export?_outputFormat=application/fhir%2Bjson", 400),
    ("param-unknown", "$export?_foo=1", 400),
    ("param-associated-data", "$export?includeAssociatedData=LatestProvenanceResources", 400),
    ("typefilter-no-question-mark", "$export?_typeFilter=Observation", 400),
    ("typefilter-no-criteria", "$export?_typeFilter=Observation%3F", 400),
    ("typefilter-no-type", "$export?_typeFilter=%3Fcode%3Dx", 400),
    ("typefilter-unknown-type", "$export?_typeFilter=Nonsense%3Fx%3D1", 400),
    ("typefilter-type-not-in-_type", "$export?_type=Patient&_typeFilter=Observation%3Fcode%3Dx", 400),
    ("typefilter-outside-compartment", "Patient/$export?_typeFilter=Organization%3Fname%3Dx", 400),
    ("typefilter-unknown-param", "$export?_typeFilter=Observation%3Fnope%3D1", 400),
    ("typefilter-count", "$export?_typeFilter=Observation%3F_count%3D1", 400),
    ("typefilter-sort", "$export?_typeFilter=Observation%3F_sort%3Ddate", 400),
    ("typefilter-include", "$export?_typeFilter=Observation%3F_include%3DObservation%3Asubject", 400),
    ("typefilter-summary", "$export?_typeFilter=Observation%3F_summary%3Dcount", 400),
    ("typefilter-bad-date", "$export?_typeFilter=Observation%3Fdate%3Dnotadate", 400),
    ("typefilter-bad-modifier", "$export?_typeFilter=Observation%3Fcode%3Anonsense%3Dx", 400),
    ("typefilter-chain-unknown", "$export?_typeFilter=Observation%3Fsubject.nope%3Dx", 400),
    ("typefilter-chain-bad-type", "$export?_typeFilter=Observation%3Fsubject%3ANonsense.name%3Dx", 400),
    ("typefilter-has-malformed", "$export?_typeFilter=Patient%3F_has%3AObservation%3Dx", 400),
    ("typefilter-bad-escape", "$export?_typeFilter=Observation%3F%25ZZ%3D1", 400),
    ("typefilter-long-unknown", "$export?_typeFilter=Observation%3F" + "x" * 10_000 + "%3D1", 400),
    ("typefilter-huge", "$export?_typeFilter=Observation%3F" + "x" * 50_000 + "%3D1", 414),
    ("patient-at-system-level", "$export?patient=Patient/p1", 400),
    ("patient-not-a-patient", "Patient/$export?patient=Observation/o1", 400),
    ("patient-path", "Patient/$export?patient=Patient/p1/_history/1", 400),
    ("patient-empty-id", "Patient/$export?patient=Patient/", 400),
    ("patient-too-long", f"Patient/$export?patient=Patient/{LONG_ID}", 400),
    ("patient-nul", "Patient/$export?patient=Patient/p1%00", 400),
    ("patient-space", "Patient/$export?patient=Patient/p%201", 400),
    ("level-group-without-id", "Group/$export", 404),
    ("level-other-type", "Observation/$export", 404),
    ("level-patient-instance", "Patient/p1/$export", 404),
    ("level-trailing-segment", "Patient/$export/x", 404),
    ("group-unknown", "Group/nope/$export", 404),
    ("group-id-space", "Group/a%20b/$export", 400),
    ("group-id-nul", "Group/g1%00/$export", 400),
    ("group-id-semicolon", "Group/g1;x/$export", 400),
    ("group-id-too-long", f"Group/{LONG_ID}/$export", 400),
    ("group-id-encoded-dotdot", "Group/%2E%2E/$export", 404),
    ("group-id-encoded-slashes", "Group/g1%2F..%2Fg1/$export", 404),
    ("group-id-traversal", "Group/..%2F..%2Fmetadata/$export", 404),
]


@pytest.mark.parametrize(
    ("path", "status"), [c[1:] for c in KICKOFF_REFUSED], ids=[c[0] for c in KICKOFF_REFUSED]
)
def test_kick_off_refuses_bad_parameters(hostile: Hostile, path: str, status: int) -> None:
    before = hostile.state()
    answer = hostile.client.get(f"/fhir/{path}", headers=ASYNC)
    note = settle(hostile, answer)
    assert_outcome(answer, status, note)
    assert hostile.state() == before  # no job queued, no directory


PREFER_REFUSED = [
    ("absent", {"Accept": "application/fhir+json"}),
    ("sync", {"Prefer": "respond-sync"}),
    ("lenient-only", {"Prefer": "handling=lenient"}),
    ("lookalike", {"Prefer": "respond-async-please"}),
    ("return-minimal", {"Prefer": "return=minimal"}),
    ("empty", {"Prefer": ""}),
]


@pytest.mark.parametrize("level", ["$export", "Patient/$export", "Group/g1/$export"])
@pytest.mark.parametrize("headers", [c[1] for c in PREFER_REFUSED], ids=[c[0] for c in PREFER_REFUSED])
def test_kick_off_needs_prefer_respond_async(hostile: Hostile, level: str, headers: dict[str, str]) -> None:
    before = hostile.state()
    answer = hostile.client.get(f"/fhir/{level}", headers=headers)
    note = settle(hostile, answer)
    assert_outcome(answer, 400, note)
    assert hostile.state() == before


@pytest.mark.parametrize(
    ("method", "path"),
    [("PUT", "$export"), ("DELETE", "$export"), ("PATCH", "Patient/$export"), ("DELETE", "Group/g1/$export")],
)
def test_kick_off_other_methods_are_405(hostile: Hostile, method: str, path: str) -> None:
    before = hostile.state()
    assert_outcome(hostile.client.request(method, f"/fhir/{path}", headers=JSON, content=b"{}"), 405)
    assert hostile.state() == before


def _params(*parts: Any) -> bytes:
    return orjson.dumps({"resourceType": "Parameters", "parameter": list(parts)})


def _part(name: Any, **value: Any) -> dict[str, Any]:
    return {"name": name, **value}


def _deep(levels: int) -> bytes:
    inner = '{"name": "_type", "valueString": "Patient"}'
    parts = '{"part": [' * levels + inner + "]}" * levels
    return ('{"resourceType": "Parameters", "parameter": [' + parts + "]}").encode()


PARAMETERS = b'{"resourceType": "Parameters", "parameter": '
FHIR_JSON = "application/fhir+json"
POST_REFUSED: list[tuple[str, str, bytes, int]] = [
    # (id, content type, body, status)
    ("not-json", FHIR_JSON, b"{", 400),
    ("not-utf8", FHIR_JSON, b'{"resourceType": "Parameters\xff"}', 400),
    ("text-plain", "text/plain", b"_type=Patient", 415),
    ("form", "application/x-www-form-urlencoded", b"_type=Patient", 415),
    ("xml", "application/fhir+xml", b"<Parameters/>", 415),
    ("a-patient", FHIR_JSON, b'{"resourceType": "Patient"}', 400),
    ("an-array", FHIR_JSON, b"[]", 400),
    ("null", FHIR_JSON, b"null", 400),
    ("a-string", FHIR_JSON, b'"Parameters"', 400),
    ("parameter-number", FHIR_JSON, PARAMETERS + b"5}", 400),
    ("parameter-true", FHIR_JSON, PARAMETERS + b"true}", 400),
    ("parameter-string", FHIR_JSON, PARAMETERS + b'"abc"}', 400),
    ("parameter-object", FHIR_JSON, PARAMETERS + b'{"name": "_type"}}', 400),
    ("part-no-name", FHIR_JSON, _params({"valueString": "Patient"}), 400),
    ("part-name-number", FHIR_JSON, _params(_part(5, valueString="Patient")), 400),
    ("part-no-value", FHIR_JSON, _params(_part("_type")), 400),
    ("part-two-values", FHIR_JSON, _params(_part("_type", valueString="Patient", valueCode="Patient")), 400),
    ("part-list-value", FHIR_JSON, _params(_part("_type", valueString=["Patient"])), 400),
    ("part-nested", FHIR_JSON, _params(_part("_type", part=[_part("x", valueString="Patient")])), 400),
    ("since-boolean", FHIR_JSON, _params(_part("_since", valueBoolean=True)), 400),
    ("since-no-such-day", FHIR_JSON, _params(_part("_since", valueInstant="2024-02-30T00:00:00Z")), 400),
    ("type-integer", FHIR_JSON, _params(_part("_type", valueInteger=5)), 400),
    ("type-unknown", FHIR_JSON, _params(_part("_type", valueString="Nonsense")), 400),
    ("reference-number", FHIR_JSON, _params(_part("patient", valueReference={"reference": 5})), 400),
    ("reference-group", FHIR_JSON, _params(_part("patient", valueReference={"reference": "Group/g1"})), 400),
    (
        "reference-nul",
        FHIR_JSON,
        _params(_part("patient", valueReference={"reference": "Patient/p1\x00"})),
        400,
    ),
    ("too-deep", FHIR_JSON, _deep(200), 400),
    ("huge", FHIR_JSON, _params(*[_part("_type", valueString="Patient")] * 20_000), 413),
]


@pytest.mark.parametrize(
    ("ctype", "body", "status"), [c[1:] for c in POST_REFUSED], ids=[c[0] for c in POST_REFUSED]
)
def test_post_kick_off_refuses_bad_bodies(hostile: Hostile, ctype: str, body: bytes, status: int) -> None:
    before = hostile.state()
    headers = {**ASYNC, "Content-Type": ctype}
    answer = hostile.client.post("/fhir/Patient/$export", content=body, headers=headers)
    note = settle(hostile, answer)
    assert_outcome(answer, status, note)
    assert hostile.state() == before


def test_post_kick_off_refuses_a_gzip_bomb(hostile: Hostile) -> None:
    before = hostile.state()
    bomb = gzip.compress(_params({"name": "_type", "valueString": "Patient" + " " * (4 * MAX_BODY)}))
    assert len(bomb) < MAX_BODY
    headers = {**JSON, "Content-Encoding": "gzip"}
    assert_outcome(hostile.client.post("/fhir/$export", content=bomb, headers=headers), 413)
    assert hostile.state() == before


def test_kick_off_of_a_type_outside_the_scopes_is_403(hostile: Hostile) -> None:
    before = hostile.state()
    narrow = bearer(hostile.settings, system_principal("narrow", "system/Patient.rs"))
    answer = hostile.client.get("/fhir/$export?_type=Observation", headers={**ASYNC, **narrow})
    assert_outcome(answer, 403)
    assert hostile.state() == before


def _export_keys(hostile: Hostile, answer: Any) -> set[str]:
    assert answer.status_code == 202, answer.text[:400]
    url = answer.headers["content-location"]
    done = wait(hostile.client, url)
    assert done.status_code == 200, f"the job answered {done.status_code}: {done.text[:400]}"
    found = keys(download(hostile.client, done.json()))
    assert hostile.client.delete(url).status_code == 202
    return found


def tf(criteria: str) -> str:
    """One ``_typeFilter`` query parameter, encoded."""
    return "&_typeFilter=" + quote(criteria, safe="")


PATIENTS = {"Patient/p1", "Patient/p2", "Patient/p3"}
ODD_BUT_VALID: list[tuple[str, str, dict[str, str], set[str]]] = [
    # (id, path and query, headers, exported)
    ("since-plus-14", "$export?_type=Patient&_since=2020-01-01T00:00:00%2B14:00", ASYNC, PATIENTS),
    ("since-minus-12", "$export?_type=Patient&_since=2020-01-01T00:00:00-12:00", ASYNC, PATIENTS),
    ("since-far-future", "$export?_since=2999-01-01T00:00:00Z", ASYNC, set()),
    ("type-repeated", "$export?_type=Patient,Patient&_type=Patient", ASYNC, PATIENTS),
    ("outputformat-short", "$export?_type=Patient&_outputFormat=ndjson", ASYNC, PATIENTS),
    (
        "typefilter-chain",
        "$export?_type=Observation" + tf("Observation?subject:Patient.name=p1"),
        ASYNC,
        {"Observation/o1", "Observation/o2"},
    ),
    (
        "typefilter-has",
        "$export?_type=Patient" + tf("Patient?_has:Observation:subject:category=laboratory"),
        ASYNC,
        {"Patient/p1", "Patient/p2"},
    ),
    (
        "typefilter-repeated",
        "$export?_type=Observation" + tf("Observation?_id=o1") + tf("Observation?_id=o1"),
        ASYNC,
        {"Observation/o1"},
    ),
    (
        "lenient-junk",
        "$export?_type=Patient,Nope&_foo=1&_outputFormat=text/csv" + tf("Nope?x=1"),
        LENIENT,
        PATIENTS,
    ),
    ("group-and-patient", "Group/g1/$export?_type=Patient&patient=Patient/p1", ASYNC, {"Patient/p1"}),
]


@pytest.mark.parametrize(
    ("path", "headers", "exported"), [c[1:] for c in ODD_BUT_VALID], ids=[c[0] for c in ODD_BUT_VALID]
)
def test_odd_but_valid_kick_offs_export_what_they_ask(
    hostile: Hostile, path: str, headers: dict[str, str], exported: set[str]
) -> None:
    assert _export_keys(hostile, hostile.client.get(f"/fhir/{path}", headers=headers)) == exported


def _filters(*filters: str) -> bytes:
    return _params(
        {"name": "_type", "valueString": filters[0].split("?")[0]},
        *[{"name": "_typeFilter", "valueString": f} for f in filters],
    )


MUST_NOT_BREAK: list[tuple[str, bytes, set[str]]] = [
    # (id, POSTed Parameters, exported when accepted): refused with a 4xx, or run to a 200 —
    # never a job that fails with a 500
    ("typefilter-600-alternatives", _filters(*[f"Observation?code=c{i}" for i in range(600)]), set()),
    ("typefilter-nul", _filters("Patient?name=a\x00b"), set()),
    ("typefilter-long-value", _filters("Observation?code=" + "x" * 100_000), set()),
    (
        "typefilter-5000-ids",
        _filters("Observation?_id=" + ",".join(f"x{i}" for i in range(5000)) + ",o1"),
        {"Observation/o1"},
    ),
    (
        "typefilter-deep-chain",
        _filters("Observation?" + "subject:Patient.link:Patient." * 20 + "name=p1"),
        set(),
    ),
]


@pytest.mark.parametrize(
    ("body", "exported"), [c[1:] for c in MUST_NOT_BREAK], ids=[c[0] for c in MUST_NOT_BREAK]
)
def test_costly_or_strange_filters_never_fail_the_job(
    hostile: Hostile, body: bytes, exported: set[str]
) -> None:
    before = hostile.state()
    answer = hostile.client.post("/fhir/$export", content=body, headers=JSON)
    if answer.status_code != 202:
        assert_outcome(answer, answer.status_code)
        assert 400 <= answer.status_code < 500
        assert hostile.state() == before
        return
    assert _export_keys(hostile, answer) == exported


# --------------------------------------------------------------------------- status and DELETE

BAD_JOB_IDS = [
    ("empty", ""),
    ("dotdot", ".."),
    ("traversal", "../../keys"),
    ("encoded-traversal", "..%2F..%2Fkeys"),
    ("slash", "a/b"),
    ("encoded-slash", "abc%2Fdef"),
    ("absolute", "%2Fetc%2Fpasswd"),
    ("nul", "abc%00def"),
    ("too-long", "a" * 65),
    ("very-long", "a" * 10_000),
    ("unicode-digits", quote("٣٣٣")),
    ("wildcard", "%25"),
    ("sql", quote("' OR '1'='1")),
    ("unknown-hex", "0" * 32),
    ("uppercase-of-a-real-one", "UPPER"),
]


@pytest.mark.parametrize("method", ["GET", "DELETE", "POST"])
@pytest.mark.parametrize("job_id", [c[1] for c in BAD_JOB_IDS], ids=[c[0] for c in BAD_JOB_IDS])
def test_status_of_a_bad_or_unknown_job_is_404(hostile: Hostile, job_id: str, method: str) -> None:
    if job_id == "UPPER":
        job_id = job_id_of(hostile.status_url).upper()
    before = hostile.state()
    answer = hostile.client.request(method, f"/fhir/$bulk-status?_jobId={job_id}", headers=hostile.alice)
    assert_outcome(answer, 404)
    assert hostile.state() == before
    assert wait(hostile.client, hostile.status_url, hostile.alice).status_code == 200  # Alice's job is intact


def test_status_without_a_job_id_is_404(hostile: Hostile) -> None:
    assert_outcome(hostile.client.get("/fhir/$bulk-status", headers=hostile.alice), 404)
    assert_outcome(hostile.client.delete("/fhir/$bulk-status", headers=hostile.alice), 404)


@pytest.mark.parametrize("op", ["$bulk-status", "$bulk-file"])
def test_a_huge_job_id_is_414(hostile: Hostile, op: str) -> None:
    answer = hostile.client.get(f"/fhir/{op}?_jobId={'a' * 20_000}&file=x", headers=hostile.alice)
    assert_outcome(answer, 414)


@pytest.mark.parametrize("who", ["bob", "operator", "alice-launched", "alice-other-client"])
@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_somebody_elses_job_is_404_and_stays(hostile: Hostile, who: str, method: str) -> None:
    headers = {
        "bob": hostile.bob,
        "operator": {},  # the client's own operator token: a system/*.cruds client, not Alice
        "alice-launched": bearer(hostile.settings, system_principal("alice", "system/*.rs", launch="p1")),
        "alice-other-client": bearer(hostile.settings, replace(system_principal("alice"), client_id="other")),
    }[who]
    before = hostile.state()
    answer = hostile.client.request(method, hostile.status_url, headers=headers)
    body = assert_outcome(answer, 404)
    assert "p1" not in orjson.dumps(body).decode()
    assert hostile.state() == before
    assert wait(hostile.client, hostile.status_url, hostile.alice).status_code == 200


def test_delete_twice_then_nothing_is_left(hostile: Hostile) -> None:
    answer = hostile.client.get("/fhir/$export?_type=Patient", headers={**ASYNC, **hostile.alice})
    url = answer.headers["content-location"]
    manifest = manifest_of(hostile.client, url, hostile.alice)
    job_dir = hostile.settings.bulk_dir / job_id_of(url)
    assert job_dir.is_dir()
    assert hostile.client.delete(url, headers=hostile.alice).status_code == 202
    assert not job_dir.exists()
    assert_outcome(hostile.client.delete(url, headers=hostile.alice), 404)
    assert_outcome(hostile.client.get(url, headers=hostile.alice), 404)
    assert_outcome(hostile.client.get(manifest["output"][0]["url"], headers=hostile.alice), 404)
    assert job_id_of(url) not in hostile.state()[1]


# --------------------------------------------------------------------------- file download

BAD_FILES = [
    ("missing", None),
    ("empty", ""),
    ("dotdot", ".."),
    ("dot", "."),
    ("traversal", "../../keys/signing.pem"),
    ("encoded-traversal", "..%2F..%2Fkeys%2Fsigning.pem"),
    ("encoded-dots", "%2e%2e%2f%2e%2e%2fkeys"),
    ("double-encoded", "%252e%252e%252fkeys"),
    ("backslashes", "..%5C..%5Ckeys"),
    ("absolute", "/etc/passwd"),
    ("encoded-absolute", "%2Fetc%2Fpasswd"),
    ("nul", "Patient.ndjson%00"),
    ("nul-extension", "Patient.ndjson%00.txt"),
    ("trailing-slash", "Patient.ndjson/"),
    ("dot-slash", "./Patient.ndjson"),
    ("other-case", "PATIENT.ndjson"),
    ("trailing-space", "Patient.ndjson%20"),
    ("not-listed", "errors.ndjson"),
    ("very-long", "a" * 10_000),
    ("sibling-job", "..%2FJOB%2FPatient.ndjson"),
]


@pytest.mark.parametrize("name", [c[1] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES])
def test_file_download_refuses_traversal(hostile: Hostile, name: str | None) -> None:
    job_id = job_id_of(hostile.status_url)
    url = f"/fhir/$bulk-file?_jobId={job_id}"
    if name is not None:
        url += "&file=" + name.replace("JOB", job_id)
    answer = hostile.client.get(url, headers=hostile.alice)
    body = assert_outcome(answer, 404)
    assert "BEGIN" not in answer.text and "root:" not in answer.text
    assert "resourceType" in body
    good = hostile.client.get(hostile.manifest["output"][0]["url"], headers=hostile.alice)
    assert good.status_code == 200  # the control: Alice reads her own listed file


@pytest.mark.parametrize("who", ["bob", "operator", "anonymous"])
def test_somebody_elses_files_are_refused(hostile: Hostile, who: str) -> None:
    headers = {"bob": hostile.bob, "operator": {}, "anonymous": {"Authorization": ""}}[who]
    for output in hostile.manifest["output"]:
        answer = hostile.client.get(output["url"], headers=headers)
        assert_outcome(answer, 401 if who == "anonymous" else 404)
        assert "Patient/p" not in answer.text and '"family"' not in answer.text


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_file_url_is_read_only(hostile: Hostile, method: str) -> None:
    before = hostile.state()
    url = hostile.manifest["output"][0]["url"]
    assert_outcome(hostile.client.request(method, url, headers=hostile.alice), 405)
    assert hostile.state() == before
    assert hostile.client.get(url, headers=hostile.alice).status_code == 200


# --------------------------------------------------------------------------- $import kick-off


def _input(url: Any, rtype: str = "Patient") -> dict[str, Any]:
    return _part("input", part=[_part("type", valueCode=rtype), _part("url", valueUri=url)])


FORMAT = _part("inputFormat", valueCode="application/fhir+ndjson")
GOOD = "{trusted}good.ndjson"  # a good input (URLs: "{trusted}" and "{base}" stand for the file server's)
IMPORT_REFUSED: list[tuple[str, str | None, bytes | list[dict[str, Any]], int]] = [
    # (id, content type, body: bytes, or the parts of a Parameters, status)
    ("no-content-type", None, b'{"resourceType": "Patient"}\n', 415),
    ("csv", "text/csv", b"id\nx\n", 415),
    ("xml", "application/fhir+xml", b"<Parameters/>", 415),
    ("multipart", "multipart/form-data; boundary=x", b"--x--", 415),
    ("not-json", FHIR_JSON, b"{", 400),
    ("a-patient", FHIR_JSON, b'{"resourceType": "Patient"}', 400),
    ("an-array", FHIR_JSON, b"[]", 400),
    ("null", FHIR_JSON, b"null", 400),
    ("parameter-number", FHIR_JSON, PARAMETERS + b"5}", 400),
    ("parameter-true", FHIR_JSON, PARAMETERS + b"true}", 400),
    ("parameter-string", FHIR_JSON, PARAMETERS + b'"input"}', 400),
    ("no-input", FHIR_JSON, [FORMAT], 400),
    ("input-part-number", FHIR_JSON, [FORMAT, _part("input", part=5)], 400),
    ("input-part-true", FHIR_JSON, [FORMAT, _part("input", part=True)], 400),
    ("input-no-url", FHIR_JSON, [FORMAT, _part("input", part=[_part("type", valueCode="Patient")])], 400),
    ("input-url-number", FHIR_JSON, [FORMAT, _input(5)], 400),
    ("input-url-empty", FHIR_JSON, [FORMAT, _input("")], 400),
    ("input-url-object", FHIR_JSON, [FORMAT, _input({"url": GOOD})], 400),
    ("input-format-csv", FHIR_JSON, [_part("inputFormat", valueCode="text/csv"), _input(GOOD)], 400),
    (
        "input-format-two",
        FHIR_JSON,
        [_part("inputFormat", valueCode="ndjson", valueUri="x"), _input(GOOD)],
        400,
    ),
    ("too-many-inputs", FHIR_JSON, [FORMAT, *[_input(GOOD)] * 1001], 400),
    ("url-metadata-service", FHIR_JSON, [FORMAT, _input("http://169.254.169.254/latest/meta-data/")], 400),
    ("url-file-scheme", FHIR_JSON, [FORMAT, _input("file:///etc/passwd")], 400),
    ("url-gopher", FHIR_JSON, [FORMAT, _input("gopher://127.0.0.1:6379/_FLUSHALL")], 400),
    ("url-parent-of-prefix", FHIR_JSON, [FORMAT, _input("{base}secret0.ndjson")], 400),
    ("url-prefix-lookalike", FHIR_JSON, [FORMAT, _input("{base}served-evil/x.ndjson")], 400),
    ("url-dot-segments", FHIR_JSON, [FORMAT, _input("{trusted}../secret1.ndjson")], 400),
    ("url-encoded-dot-segments", FHIR_JSON, [FORMAT, _input("{trusted}%2e%2e/secret2.ndjson")], 400),
    ("url-encoded-slash", FHIR_JSON, [FORMAT, _input("{trusted}..%2Fsecret3.ndjson")], 400),
    ("url-one-bad-among-good", FHIR_JSON, [FORMAT, _input(GOOD), _input("file:///etc/passwd")], 400),
    ("huge-ndjson", "application/fhir+ndjson", b'{"resourceType": "Patient"}\n' * (MAX_BODY // 20), 413),
    ("huge-parameters", FHIR_JSON, [FORMAT, *[_input(GOOD)] * 5000], 413),
]


def _resolve(parts: list[dict[str, Any]], files: FileServer) -> bytes:
    """The Parameters of ``parts`` with the file server's URLs in place of "{trusted}", "{base}"."""
    text = orjson.dumps({"resourceType": "Parameters", "parameter": parts}).decode()
    return text.replace("{trusted}", files.trusted).replace("{base}", files.base).encode()


def _secrets(hostile: Hostile) -> set[str]:
    """The Patients of the files outside the trusted folder that were imported."""
    return {
        f"secret{n}" for n in range(4) if hostile.client.get(f"/fhir/Patient/secret{n}").status_code == 200
    }


@pytest.mark.parametrize(
    ("ctype", "body", "status"), [c[1:] for c in IMPORT_REFUSED], ids=[c[0] for c in IMPORT_REFUSED]
)
def test_import_kick_off_refuses_bad_requests(
    hostile: Hostile, ctype: str | None, body: bytes | list[dict[str, Any]], status: int
) -> None:
    content = body if isinstance(body, bytes) else _resolve(body, hostile.files)
    headers = {**ASYNC, **({"Content-Type": ctype} if ctype else {})}
    before = hostile.state()
    asked = len(hostile.files.asked)
    secrets_before = _secrets(hostile)
    answer = hostile.client.post("/fhir/$import", content=content, headers=headers)
    note = settle(hostile, answer)
    problems = []
    if answer.status_code != status:
        problems.append(f"answered {answer.status_code} (expected {status}){note}")
    if fetched := hostile.files.asked[asked:]:
        problems.append(f"the server fetched {fetched}")
    if imported := sorted(_secrets(hostile) - secrets_before):
        problems.append(f"imported the secret file(s) {imported} from outside the trusted prefix")
    assert not problems, problems
    assert_outcome(answer, status)
    assert hostile.state() == before  # no job, no stored input


@pytest.mark.parametrize(
    ("case", "headers", "body"),
    [
        (
            "no-prefer",
            {"Content-Type": "application/fhir+ndjson"},
            b'{"resourceType": "Patient", "id": "np"}\n',
        ),
        ("gzip-bomb", {**NDJSON, "Content-Encoding": "gzip"}, gzip.compress(b" " * (8 * MAX_BODY))),
        ("bad-gzip", {**NDJSON, "Content-Encoding": "gzip"}, b"not gzip at all"),
        (
            "lying-length",
            {**NDJSON, "Content-Length": str(10 * MAX_BODY)},
            b'{"resourceType": "Patient", "id": "np"}\n',
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_import_refuses_unusable_ndjson_bodies(
    hostile: Hostile, case: str, headers: dict[str, str], body: bytes
) -> None:
    before = hostile.state()
    status = {"no-prefer": 400, "gzip-bomb": 413, "bad-gzip": 400, "lying-length": 413}[case]
    assert_outcome(hostile.client.post("/fhir/$import", content=body, headers=headers), status)
    assert hostile.state() == before
    assert hostile.client.get("/fhir/Patient/np").status_code == 404


@pytest.mark.parametrize("who", ["patient", "professional"])
def test_import_by_a_person_is_403_and_stores_nothing(hostile: Hostile, who: str) -> None:
    from tests.transfer.test_record import professional_principal

    principal = patient_principal("p1") if who == "patient" else professional_principal("pr-a", "org1")
    before = hostile.state()
    body = b'{"resourceType": "Patient", "id": "byperson"}\n'
    answer = hostile.client.post(
        "/fhir/$import", content=body, headers={**NDJSON, **person_header(hostile.settings, principal)}
    )
    assert_outcome(answer, 403)
    assert hostile.state() == before
    assert hostile.client.get("/fhir/Patient/byperson").status_code == 404


def _import_manifest(hostile: Hostile, answer: Any) -> dict[str, Any]:
    assert answer.status_code == 202, answer.text[:400]
    done = wait(hostile.client, answer.headers["content-location"])
    assert done.status_code == 200, f"the job answered {done.status_code}: {done.text[:400]}"
    manifest: dict[str, Any] = done.json()
    return manifest


GOOD_LINE = b'{"resourceType": "Patient", "id": "bl"}\n'  # then a bad line: the file is refused whole
BAD_LINES = [
    ("null", b"null\n"),
    ("array", b"[1, 2]\n"),
    ("not-json", GOOD_LINE + b"{nope\n"),
    ("not-utf8", GOOD_LINE + b'{"resourceType": "Patient", "id": "bl2", "gender": "\xff"}\n'),
    ("bad-id", GOOD_LINE + b'{"resourceType": "Patient", "id": "../bl2"}\n'),
    ("unknown-type", GOOD_LINE + b'{"resourceType": "Nope"}\n'),
    (
        "nul-in-string",
        GOOD_LINE + b'{"resourceType": "Patient", "id": "bl2", "name": [{"family": "a\\u0000"}]}\n',
    ),
    ("nul-in-id", GOOD_LINE + b'{"resourceType": "Patient", "id": "bl\\u0000"}\n'),
    ("deep-300", GOOD_LINE + b'{"resourceType": "Patient", "extension": ' + b"[" * 300 + b"]" * 300 + b"}\n"),
    (
        "deep-5000",
        GOOD_LINE + b'{"resourceType": "Patient", "extension": ' + b"[" * 5000 + b"]" * 5000 + b"}\n",
    ),
    ("bundle", GOOD_LINE + b'{"resourceType": "Bundle", "type": "transaction", "entry": []}\n'),
]


@pytest.mark.parametrize("body", [c[1] for c in BAD_LINES], ids=[c[0] for c in BAD_LINES])
def test_a_hostile_ndjson_file_is_refused_whole_and_reported(hostile: Hostile, body: bytes) -> None:
    manifest = _import_manifest(hostile, hostile.client.post("/fhir/$import", content=body, headers=NDJSON))
    assert manifest["output"] == []
    assert [e["count"] for e in manifest["error"]] == [1]
    assert hostile.client.get(manifest["error"][0]["url"]).status_code == 200
    for pid in ("bl", "bl2"):
        assert hostile.client.get(f"/fhir/Patient/{pid}").status_code == 404  # nothing of the file


def test_duplicate_inputs_load_the_file_once(hostile: Hostile) -> None:
    url = f"{hostile.files.trusted}dup.ndjson"
    body = _params(FORMAT, _input(url), _input(url))
    answer = hostile.client.post("/fhir/$import", content=body, headers=JSON)
    manifest = _import_manifest(hostile, answer)
    assert manifest["error"] == []
    ext = manifest["extension"]
    assert ext["https://hygie.health/fhir/bulk-import/written"] == {"Patient": 1}
    assert ext["https://hygie.health/fhir/bulk-import/unchanged"] == {"Patient": 1}
    history = hostile.client.get("/fhir/Patient/dup1/_history").json()
    assert len(history["entry"]) == 1


def test_an_unreachable_input_url_is_a_file_error_not_a_failed_job(hostile: Hostile) -> None:
    """An input under a trusted prefix whose server does not answer is reported like a missing
    file (the manifest's error file), and the other inputs still load."""
    good = f"{hostile.files.trusted}good.ndjson"
    body = _params(FORMAT, _input(f"{hostile.closed}x.ndjson"), _input(good))
    manifest = _import_manifest(hostile, hostile.client.post("/fhir/$import", content=body, headers=JSON))
    assert [e["count"] for e in manifest["error"]] == [1]
    assert [o["count"] for o in manifest["output"]] == [1]


# --------------------------------------------------------------------------- portability ZIP

RECORD_REFUSED: list[tuple[str, str, int]] = [
    ("id-space", "Patient/a%20b/$export-record", 400),
    ("id-nul", "Patient/p1%00/$export-record", 400),
    ("id-too-long", f"Patient/{LONG_ID}/$export-record", 400),
    ("id-semicolon", "Patient/p1;x/$export-record", 400),
    ("id-encoded-traversal", "Patient/..%2F..%2Fmetadata/$export-record", 404),
    ("id-encoded-dotdot", "Patient/%2E%2E/$export-record", 404),
    ("id-unknown", "Patient/nobody/$export-record", 404),
    ("language-de", "Patient/p1/$export-record?_language=de", 400),
    ("language-traversal", "Patient/p1/$export-record?_language=..%2F..%2Fetc%2Fpasswd", 400),
    ("language-nul", "Patient/p1/$export-record?_language=fr%00", 400),
    ("language-long", "Patient/p1/$export-record?_language=" + "f" * 5000, 400),
    ("language-list", "Patient/p1/$export-record?_language=fr,en", 400),
    ("unknown-param", "Patient/p1/$export-record?_since=2020", 400),
    ("unknown-param-long", "Patient/p1/$export-record?" + "x" * 5000 + "=1", 400),
    ("organization-unknown", "Organization/nowhere/$export-record", 404),
    ("organization-bad-id", "Organization/a%20b/$export-record", 400),
]


@pytest.fixture
def private_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The process's temporary directory for this test: what the record export leaves there."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.mark.parametrize(
    ("path", "status"), [c[1:] for c in RECORD_REFUSED], ids=[c[0] for c in RECORD_REFUSED]
)
def test_record_export_refuses_bad_requests(
    hostile: Hostile, private_tmp: Path, path: str, status: int
) -> None:
    answer = hostile.client.get(f"/fhir/{path}")
    assert_outcome(answer, status)
    assert not answer.content.startswith(b"PK")
    assert list(private_tmp.iterdir()) == []  # no staging folder left behind


def test_record_export_of_another_patient_is_404(hostile: Hostile, private_tmp: Path) -> None:
    me = person_header(hostile.settings, patient_principal("p1"))
    assert hostile.client.get("/fhir/Patient/p1/$export-record", headers=me).content.startswith(b"PK")
    for other in ("p2", "p3", "nobody"):
        answer = hostile.client.get(f"/fhir/Patient/{other}/$export-record", headers=me)
        assert_outcome(answer, 404)
        assert "family" not in answer.text
    assert_outcome(hostile.client.get("/fhir/Organization/org1/$export-record", headers=me), 403)
    assert_outcome(hostile.client.post("/fhir/Patient/p1/$export-record", headers=me, json={}), 405)
    assert list(private_tmp.iterdir()) == []  # the ZIP's folder went with the response
