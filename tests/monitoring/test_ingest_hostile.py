"""Device data ingestion under malformed and hostile input: bad input never breaks us.

Probed, on both databases: ``POST /fhir/Patient/{id}/$ingest`` (Open mHealth, Withings-style
JSON, Hygie's ``series`` format, Apple Health ``export.xml`` / ``export.zip``), the read
operations ``$samples`` and ``$cgm-metrics``, and the ``hygie ingest`` command (CSV with a
mapping too). Each probe sends one bad thing and checks the answer is a clear refusal — a 4xx
with an OperationOutcome carrying a readable diagnostics (a non-zero exit and a message without
a traceback for the command) — and that nothing of it was stored (samples, Observations and
Devices of a patient of the probe's own, counted before and after). Where valid and invalid
records come together, the documented behaviour is checked: a refused record never blocks the
others (JSON formats; 200, or 422 when every record was refused), while an Apple Health export
that cannot be read at all (malformed, unsafe, over a limit) is refused whole before anything is
written (docs/ingestion.md, "Open mHealth", "Apple Health", "XML safety", "CSV mapping";
docs/monitoring.md, "Device data in", ``$samples``, ``$cgm-metrics``).

Threats of https://docs.python.org/3/library/xml.html#xml-vulnerabilities (entities, external
DTDs, decompression bombs) and of ZIP archives (``..`` members, encryption, unknown compression
methods, corrupt or lying members) are included. Probes that could block forever (a FIFO named
on the command line) run the real command in a subprocess with a timeout, so that they fail
instead of hanging.

One database per backend for the module, with small body limits so that oversized bodies are
cheap to send; every probe writes for a patient of its own.
"""

from __future__ import annotations

import gzip
import io
import itertools
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpcore
import httpx
import orjson
import pytest
from starlette.testclient import TestClient

from hygie.fhir.validation import validate_resource
from hygie.monitoring.hourly import materialize
from hygie.settings import Settings
from tests.conftest import BACKEND_PARAMS, LiveServer, fresh_database_url
from tests.monitoring.test_ingest_cli import ingest
from tests.monitoring.test_ingest_op import omh_spo2
from tests.monitoring.test_service import put, run
from tests.support import open_client, operator_header

MAX_BODY = 2 * 1024 * 1024  # HYGIE_MAX_BODY_BYTES of the module's server (JSON bodies)
MAX_INGEST = 2 * 1024 * 1024  # HYGIE_INGEST_MAX_BYTES (Apple Health uploads)
PROCESS_TIMEOUT = 8.0  # seconds a real ``hygie ingest`` of a tiny file may take (~2 s): more is a hang
ANSWER_TIMEOUT = 5.0  # seconds a live server may take to answer one small request
EN = {"Accept-Language": "en"}
XML = {**EN, "Content-Type": "application/xml"}
ZIP = {**EN, "Content-Type": "application/zip"}
JSON = {**EN, "Content-Type": "application/json"}
NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
AT = NOW.isoformat()
HK = "HKQuantityTypeIdentifier"


# --------------------------------------------------------------------------- the world


@pytest.fixture(scope="module", params=BACKEND_PARAMS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One database per backend for the module (named like the shared fixture, so that
    ``HYGIE_TEST_BACKENDS`` selects its cases the same way)."""
    yield from fresh_database_url(request, request.param, tmp_path_factory.mktemp("ingest-hostile"))


@dataclass
class World:
    """The module's server and database."""

    settings: Settings
    client: TestClient
    ids: Iterator[int]

    def patient(self) -> str:
        """A new Patient of the probe's own."""
        pid = f"hostile-{next(self.ids)}"
        put(self.client, {"resourceType": "Patient", "id": pid})
        return pid

    def count(self, query: str) -> int:
        got = self.client.get(f"/fhir/{query}&_summary=count")
        assert got.status_code == 200, got.text
        return int(got.json()["total"])

    def stored(self, pid: str) -> tuple[int, int, int]:
        """(samples, Observations, Devices) of ``pid``."""
        rows = run(
            self.client, lambda env: env.store.s.all("SELECT COUNT(*) FROM sample WHERE patient = ?", (pid,))
        )
        return (
            int(rows[0][0]),
            self.count(f"Observation?patient=Patient/{pid}"),
            self.count(f"Device?patient=Patient/{pid}"),
        )

    def post(
        self, pid: str, body: Any, headers: dict[str, str] | None = None, query: str = ""
    ) -> httpx.Response:
        """``$ingest`` for ``pid``: bytes as they are, anything else as JSON."""
        url = f"/fhir/Patient/{pid}/$ingest{query}"
        if isinstance(body, bytes):
            return self.client.post(url, content=body, headers=headers if headers is not None else JSON)
        return self.client.post(
            url, content=orjson.dumps(body), headers=headers if headers is not None else JSON
        )


@pytest.fixture(scope="module")
def world(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    settings = Settings(
        database_url=database_url,
        keys_dir=tmp_path_factory.mktemp("ingest-hostile-keys") / "keys",
        max_body_bytes=MAX_BODY,
        ingest_max_bytes=MAX_INGEST,
        monitoring_interval_seconds=0,  # no background rounds: the probes call them when needed
        # JSON logs: the console logs render every 500 with rich's traceback and locals, seconds
        # each (and minutes for deep input: test_a_500_on_deeply_nested_input_is_logged_at_once)
        log_json=True,
    )
    with open_client(settings) as client:
        yield World(settings, client, itertools.count(1))


def refused(answer: httpx.Response, *statuses: int) -> str:
    """The answer is a clear refusal (one of ``statuses``, any 4xx when none is given) with an
    OperationOutcome; its diagnostics, joined."""
    ok = answer.status_code in statuses if statuses else 400 <= answer.status_code < 500
    assert ok, f"expected {statuses or '4xx'}, got {answer.status_code}: {answer.text[:500]}"
    body = answer.json()
    assert body["resourceType"] == "OperationOutcome", answer.text[:500]
    diagnostics = " | ".join(str(issue.get("diagnostics", "")) for issue in body["issue"])
    assert diagnostics.strip() and "Traceback" not in diagnostics, answer.text[:500]
    return diagnostics


def probe(world: World, body: Any, headers: dict[str, str] | None = None, query: str = "",
          statuses: tuple[int, ...] = ()) -> str:  # fmt: skip
    """Send ``body`` for a new patient: refused, nothing stored."""
    pid = world.patient()
    diagnostics = refused(world.post(pid, body, headers, query), *statuses)
    assert world.stored(pid) == (0, 0, 0), f"something was stored after: {diagnostics}"
    return diagnostics


# --------------------------------------------------------------------------- payload builders


def omh(name: str, version: str, body: dict[str, Any], sid: str = "p-1", **header: Any) -> dict[str, Any]:
    return {
        "header": {
            "id": sid,
            "creation_date_time": AT,
            "schema_id": {"namespace": "omh", "name": name, "version": version},
            **header,
        },
        "body": body,
    }


def heart(
    frame: dict[str, Any] | None = None, value: Any = 72, unit: Any = "beats/min", **header: Any
) -> dict[str, Any]:
    body = {"heart_rate": {"value": value, "unit": unit}, "effective_time_frame": frame or {"date_time": AT}}
    return omh("heart-rate", "2.0", body, **header)


def weight(at: str, value: float = 70.0, sid: str = "w-1") -> dict[str, Any]:
    body = {"body_weight": {"value": value, "unit": "kg"}, "effective_time_frame": {"date_time": at}}
    return omh("body-weight", "3.0", body, sid=sid)


def withings(*groups: Any, **body: Any) -> dict[str, Any]:
    return {"status": 0, "body": {"measuregrps": list(groups), **body}}


def group(measures: Any, date: Any = None, grpid: int = 1, **extra: Any) -> dict[str, Any]:
    when = int(NOW.timestamp()) if date is None else date
    return {"grpid": grpid, "date": when, "category": 1, "measures": measures, **extra}


def series(**fields: Any) -> dict[str, Any]:
    return {"kind": "heart-rate", "unit": "/min", "start": AT, "period": 60, "values": [70, 71], **fields}


def record(value: str = "71", when: str | None = None, extra: str = "", kind: str = "HeartRate") -> str:
    at = when or NOW.strftime("%Y-%m-%d %H:%M:%S +0000")
    return (
        f'<Record type="{HK}{kind}" sourceName="Montre" unit="count/min" startDate="{at}" endDate="{at}" '
        f'value="{value}" {extra}/>'
    )


def export(*records: str, head: str = '<?xml version="1.0" encoding="UTF-8"?>\n') -> bytes:
    return (head + "<HealthData>\n" + "\n".join(records) + "\n</HealthData>\n").encode()


def zipped(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def patched(archive: bytes, local: dict[int, int], central: dict[int, int]) -> bytes:
    """``archive`` with bytes of its first local header and first central directory header
    replaced (offset → byte): flags at 6/8, compression method at 8/10."""
    raw = bytearray(archive)
    for offset, byte in local.items():
        raw[offset] = byte
    start = raw.index(b"PK\x01\x02")
    for offset, byte in central.items():
        raw[start + offset] = byte
    return bytes(raw)


GOOD_XML = export(record())
DEEP = 1015  # within orjson's nesting limit (1024) once wrapped in a payload


def deep_list() -> str:
    return "[" * DEEP + "]" * DEEP


# --------------------------------------------------------------------------- bodies refused whole


GZIP_BOMB = gzip.compress(b"[" + b" " * (MAX_BODY * 4) + b"]")
WHOLE_REFUSALS: list[tuple[str, bytes, dict[str, str], str, tuple[int, ...]]] = [
    ("empty-no-type", b"", EN, "", (400,)),
    ("empty-json", b"", JSON, "", (400,)),
    ("empty-omh", b"", JSON, "?format=openmhealth", (400,)),
    ("empty-withings", b"", JSON, "?format=withings", (400,)),
    ("empty-series", b"", JSON, "?format=series", (400,)),
    ("not-json", b"hello, world", JSON, "", (400,)),
    ("not-json-omh", b"{'header': 1}", JSON, "?format=openmhealth", (400,)),
    ("scalar-number", b"42", JSON, "", (400,)),
    ("scalar-string", b'"data"', JSON, "", (400,)),
    ("scalar-null-omh", b"null", JSON, "?format=openmhealth", (400,)),
    ("array-of-scalars-omh", b"[1, 2, 3]", JSON, "?format=openmhealth", (400,)),
    ("array-withings", b"[]", JSON, "?format=withings", (400,)),
    ("withings-status", orjson.dumps({"status": 401, "body": {"measuregrps": []}}), JSON, "", (400,)),
    ("withings-no-groups", orjson.dumps({"status": 0, "body": {}}), JSON, "?format=withings", (400,)),
    ("withings-groups-object", orjson.dumps({"body": {"measuregrps": {}}}), JSON, "?format=withings", (400,)),
    ("series-scalar", b"[1]", JSON, "?format=series", (400,)),
    ("series-unknown-kind", orjson.dumps(series(kind="../../etc/passwd")), JSON, "", (400,)),
    ("series-hostile-unit", orjson.dumps(series(unit="<script>alert(1)</script>")), JSON, "", (400,)),
    ("series-interval-kind", orjson.dumps(series(kind="steps", unit="{steps}")), JSON, "", (400,)),
    ("series-period-zero", orjson.dumps(series(period=0)), JSON, "", (400,)),
    ("series-period-text", orjson.dumps(series(period="60")), JSON, "", (400,)),
    ("series-period-huge", orjson.dumps(series(period=1e300)), JSON, "", (400,)),
    ("series-start-naive", orjson.dumps(series(start="2026-11-20T08:00:00")), JSON, "", (400,)),
    ("series-start-year-0", orjson.dumps(series(start="0000-01-01T00:00:00Z")), JSON, "", (400,)),
    ("series-values-object", orjson.dumps(series(values={"0": 70})), JSON, "", (400,)),
    ("series-device-extra", orjson.dumps(series(device={"serial": "x"})), JSON, "", (400,)),
    ("series-device-long", orjson.dumps(series(device={"name": "x" * 201})), JSON, "", (400,)),
    ("nested-10000", b"[" * 10_000 + b"]" * 10_000, JSON, "", (400,)),
    ("nested-10000-omh", b"[" * 10_000 + b"]" * 10_000, JSON, "?format=openmhealth", (400,)),
    ("nested-10000-withings", b'{"measuregrps": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", JSON, "", (400,)),
    ("number-1e400", b'[{"header": {"id": 1e400}}]', JSON, "?format=openmhealth", (400,)),
    ("number-NaN", b'{"kind": "heart-rate", "values": [NaN]}', JSON, "?format=series", (400,)),
    ("lone-surrogate", b'[{"header": {"id": "\\ud800"}}]', JSON, "?format=openmhealth", (400,)),
    ("invalid-utf8", b'[{"header": {"id": "\xff\xfe"}}]', JSON, "?format=openmhealth", (400,)),
    ("format-unknown", b"[]", JSON, "?format=fitbit", (400,)),
    ("format-huge", b"[]", JSON, "?format=" + "x" * 5000, (400,)),
    ("xml-as-json", GOOD_XML, JSON, "", (400,)),
    ("zip-as-octets", zipped({"export.xml": GOOD_XML}), {**EN, "Content-Type": "application/octet-stream"},
     "", (400,)),
    ("json-as-zip", b"[]", ZIP, "", (400,)),
    ("json-as-xml", orjson.dumps(omh_spo2([97])), XML, "", (400,)),
    ("oversized-json", b"[" + b" " * (MAX_BODY + 1) + b"]", JSON, "", (413,)),
    ("gzip-bomb-json", GZIP_BOMB, {**JSON, "Content-Encoding": "gzip"}, "", (413,)),
    ("gzip-invalid", b"\x1f\x8b\x08\x00garbage", {**JSON, "Content-Encoding": "gzip"}, "", (400,)),
    ("gzip-truncated", gzip.compress(orjson.dumps(omh_spo2([97])))[:40], {**JSON, "Content-Encoding": "gzip"},
     "", (400,)),
    ("gzip-bomb-xml", gzip.compress(b"<HealthData>" + b" " * (MAX_INGEST * 4) + b"</HealthData>"),
     {**XML, "Content-Encoding": "gzip"}, "", (400, 413, 415)),
    ("oversized-xml", b"<HealthData>" + b" " * (MAX_INGEST + 1) + b"</HealthData>", XML, "", (413,)),
    ("oversized-zip", b"PK" + b"\x00" * (MAX_INGEST + 1), ZIP, "", (413,)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "headers", "query", "statuses"),
    [pytest.param(*case[1:], id=case[0]) for case in WHOLE_REFUSALS],
)
def test_a_body_that_cannot_be_read_is_refused_whole(
    world: World, body: bytes, headers: dict[str, str], query: str, statuses: tuple[int, ...]
) -> None:
    probe(world, body, headers, query, statuses)


def test_the_content_decides_without_a_format(world: World) -> None:
    """docs/monitoring.md: "Without ``format`` the content decides" — a JSON body with a wrong or
    missing Content-Type is read for what it is."""
    for ctype in ("text/plain", "application/x-www-form-urlencoded", ""):
        pid = world.patient()
        answer = world.post(pid, omh_spo2([97]), {**EN, "Content-Type": ctype})
        assert answer.status_code == 200, answer.text
        assert world.stored(pid)[0] == 1


# --------------------------------------------------------------------------- records refused one by one


def _frame(**interval: Any) -> dict[str, Any]:
    return {"time_interval": interval}


RECORD_REFUSALS: list[tuple[str, Any, str]] = [
    ("omh-no-body", [{"header": heart()["header"]}], ""),
    ("omh-no-header", [{"body": heart()["body"]}], ""),
    ("omh-unknown-schema", [omh("blood-pressure-cuff", "1.0", heart()["body"])], ""),
    ("omh-unknown-namespace", [{**heart(), "header": {**heart()["header"], "schema_id": {
        "namespace": "evil", "name": "heart-rate", "version": "2.0"}}}], ""),
    ("omh-unknown-major", [omh("heart-rate", "9.0", heart()["body"])], ""),
    ("omh-header-body-mismatch", [omh("blood-pressure", "4.0", heart()["body"])], ""),
    ("omh-value-text", [heart(value="seventy-two")], ""),
    ("omh-value-nan-text", [heart(value="NaN")], ""),
    ("omh-value-30-digits",
     orjson.dumps([heart(value=1)]).replace(b'"value":1', b'"value":' + b"9" * 30), ""),
    ("omh-value-minus-zero", [heart(value=-0.0)], ""),
    ("omh-value-object", [heart(value={"$gt": 0})], ""),
    ("omh-unit-unknown", [heart(unit="furlongs/fortnight")], ""),
    ("omh-unit-hostile", [heart(unit="<img src=x onerror=alert(1)>")], ""),
    ("omh-date-invalid", [heart({"date_time": "2026-02-30T08:00:00Z"})], ""),
    ("omh-date-year-0", [heart({"date_time": "0000-06-01T08:00:00Z"})], ""),
    ("omh-date-year-10000", [heart({"date_time": "10000-01-01T08:00:00Z"})], ""),
    ("omh-date-offset-24h", [heart({"date_time": "2026-11-20T08:00:00+24:00"})], ""),
    ("omh-date-naive", [heart({"date_time": "2026-11-20T08:00:00"})], ""),
    ("omh-date-number", [heart({"date_time": 1795158060})], ""),
    ("omh-part-of-day", [heart({"date": "2026-11-20", "part_of_day": "morning"})], ""),
    ("omh-negative-duration", [heart(_frame(start_date_time=AT, duration={"value": -5, "unit": "min"}))], ""),
    ("omh-duration-months", [heart(_frame(start_date_time=AT, duration={"value": 1, "unit": "Mo"}))], ""),
    ("omh-end-before-start", [omh("step-count", "3.0", {"step_count": {"value": 10, "unit": "steps"},
        "effective_time_frame": _frame(start_date_time=AT, end_date_time="2020-01-01T00:00:00Z")})], ""),
    ("withings-date-text", withings(group([{"type": 11, "value": 60, "unit": 0}], date="yesterday")), ""),
    ("withings-date-huge", withings(group([{"type": 11, "value": 60, "unit": 0}], date=1e300)), ""),
    ("withings-date-30-digits", orjson.dumps(withings(group([{"type": 11, "value": 60, "unit": 0}], date=7)))
     .replace(b'"date":7', b'"date":' + b"9" * 30), ""),
    ("withings-unit-huge", withings(group([{"type": 11, "value": 60, "unit": 99}])), ""),
    ("withings-unit-bool", withings(group([{"type": 11, "value": 60, "unit": True}])), ""),
    ("withings-value-text", withings(group([{"type": 1, "value": "heavy", "unit": 0}])), ""),
    ("withings-value-overflow", withings(group([{"type": 11, "value": 1e300, "unit": 20}])), ""),
    ("withings-measures-object", withings(group({"type": 11})), ""),
    ("withings-group-scalar", withings(42), ""),
    ("withings-half-pressure", withings(group([{"type": 10, "value": 120, "unit": 0}])), ""),
    ("withings-pressure-order", withings(group([{"type": 10, "value": 80, "unit": 0},
                                                {"type": 9, "value": 120, "unit": 0}])), ""),
    ("series-value-text", series(values=["fast"]), ""),
    ("series-value-out-of-range", series(values=[1e308, -0.0]), ""),
    ("series-points-bad-time",
     {"kind": "heart-rate", "unit": "/min", "points": [["2026-02-30T00:00:00Z", 70]]}, "?format=series"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "query"), [pytest.param(*case[1:], id=case[0]) for case in RECORD_REFUSALS])
def test_a_body_whose_every_record_is_bad_is_refused_with_each_reason(
    world: World, body: Any, query: str
) -> None:
    """docs/monitoring.md: 422 when every record was refused, one warning naming each."""
    diagnostics = probe(world, body, query=query, statuses=(422,))
    assert "no valid record" in diagnostics and diagnostics.count(" | ") >= 1, diagnostics


def test_a_bad_record_does_not_block_the_good_ones(world: World) -> None:
    """docs/ingestion.md: "A bad record never stops the others" — 200, the good one stored,
    one warning naming the bad one."""
    pid = world.patient()
    answer = world.post(pid, [heart(sid="good"), heart({"date_time": "2026-02-30T08:00:00Z"}, sid="bad")])
    diagnostics = " | ".join(i["diagnostics"] for i in answer.json()["issue"])
    assert answer.status_code == 200 and "refused: 1" in diagnostics and "[1]" in diagnostics, answer.text
    assert world.stored(pid)[0] == 1


def test_duplicate_samples_in_one_body_are_stored_once(world: World) -> None:
    pid = world.patient()
    point = heart(sid="dup")
    answer = world.post(pid, [point, point, heart(value=80, sid="dup")])
    assert answer.status_code == 200, answer.text
    assert world.stored(pid)[0] == 1
    raw = world.client.get(f"/fhir/Patient/{pid}/$samples", params={"measure": "heart-rate", "grain": "raw"})
    values = [q["valueDecimal"] for p in raw.json()["parameter"] if p["name"] == "point" for q in p["part"]
              if q["name"] == "value"]  # fmt: skip
    assert values == [80]  # the last one wins (hygie/storage/samples.py)


def test_python_only_number_spellings_are_not_numbers(world: World) -> None:
    """ "1_0_0" is no numeric string of JSON, CSV or XML: Python's ``float()`` reads it as 100."""
    probe(world, series(values=["1_0_0", "7_2"]), statuses=(422,))


# --------------------------------------------------------------------------- what broke (500s)


CRASHES: list[tuple[str, Any, str]] = [
    ("omh-duration-1e300-seconds",
     [heart(_frame(start_date_time=AT, duration={"value": 1e300, "unit": "sec"}))], ""),
    ("omh-duration-past-year-9999",
     [heart(_frame(start_date_time="9999-12-31T00:00:00Z", duration={"value": 2, "unit": "d"}))], ""),
    ("omh-duration-before-year-1",
     [heart(_frame(end_date_time="0001-01-01T00:00:00Z", duration={"value": 2, "unit": "d"}))], ""),
    ("series-grid-past-year-9999", series(start="9999-12-31T23:59:00Z", values=[70, 71]), ""),
]  # fmt: skip


@pytest.mark.parametrize(("body", "query"), [pytest.param(*case[1:], id=case[0]) for case in CRASHES])
def test_hostile_values_are_refused_not_crashed_on(world: World, body: Any, query: str) -> None:
    """Dates pushed past the calendar by a duration or a grid, and values nested a thousand deep,
    are refused per record (or the body with 400): no 500."""
    pid = world.patient()
    answer = world.post(pid, body, query=query)
    assert answer.status_code < 500, f"{answer.status_code}: {answer.text[:300]}"
    if answer.status_code != 200:
        refused(answer)
        assert world.stored(pid) == (0, 0, 0)


DEEP_BODIES: list[tuple[str, bytes]] = [
    ("series-points-deep-value", b'{"kind": "heart-rate", "unit": "/min", "points": [["' + AT.encode()
     + b'", ' + deep_list().encode() + b"]]}"),
    ("series-deep-value", b'{"kind": "heart-rate", "unit": "/min", "start": "' + AT.encode()
     + b'", "period": 60, "values": [' + deep_list().encode() + b"]}"),
    ("withings-deep-value", b'{"body": {"measuregrps": [{"grpid": 1, "date": 1795158060, "measures": '
     b'[{"type": 11, "unit": 0, "value": ' + deep_list().encode() + b"}]}]}}"),
    ("omh-deep-value", b'[{"header": {"id": "d", "creation_date_time": "' + AT.encode() + b'", "schema_id": '
     b'{"namespace": "omh", "name": "heart-rate", "version": "2.0"}}, "body": {"effective_time_frame": '
     b'{"date_time": "' + AT.encode() + b'"}, "heart_rate": {"unit": "beats/min", "value": '
     + deep_list()[:-8].encode() + b"]]]]]]]]}}}]"),
]  # fmt: skip


@pytest.fixture(scope="module")
def json_logging_server(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``hygie serve`` on the module's database, logging as JSON lines: with the default console
    logs, a 500 on a value nested a thousand deep is logged with its locals for minutes (see
    :func:`test_a_500_on_deeply_nested_input_is_logged_at_once`), which would hang these probes."""
    env = {"HYGIE_LOG_JSON": "true", "HYGIE_MONITORING_INTERVAL_SECONDS": "0"}
    server = LiveServer(world.settings.database_url, tmp_path_factory.mktemp("deep-server"), env)
    server.start()
    yield server
    server.kill()


@pytest.mark.parametrize("body", [pytest.param(case[1], id=case[0]) for case in DEEP_BODIES])
def test_values_nested_a_thousand_deep_are_refused(
    world: World, json_logging_server: LiveServer, body: bytes
) -> None:
    """orjson accepts 1,024 levels; a value nested ~1,000 deep where a number is due must be one
    refused record (or a 400), not a RecursionError while quoting it in the message."""
    pid = world.patient()
    with httpx.Client(timeout=ANSWER_TIMEOUT) as http:
        answer = http.post(
            f"{json_logging_server.fhir_url}/Patient/{pid}/$ingest", content=body, headers=JSON
        )
    assert answer.status_code < 500, f"{answer.status_code}: {answer.text[:300]}"
    refused(answer)
    assert world.stored(pid) == (0, 0, 0)


def test_a_500_on_deeply_nested_input_is_logged_at_once(tmp_path: Path) -> None:
    """With the default (console) logs, an unexpected error is logged with rich's traceback and
    every local variable; for a body nested 1,000 deep that rendering runs on the event loop for
    minutes: one request stalls the whole server. The server must answer within seconds."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'logs.db'}", keys_dir=tmp_path / "keys")
    with open_client(settings) as client:
        put(client, {"resourceType": "Patient", "id": "logs"})
    server = LiveServer(settings.database_url, tmp_path, {"HYGIE_MONITORING_INTERVAL_SECONDS": "0"})
    server.start()
    try:
        with httpx.Client(timeout=ANSWER_TIMEOUT) as http:
            try:
                answer = http.post(
                    f"{server.fhir_url}/Patient/logs/$ingest", content=DEEP_BODIES[1][1], headers=JSON
                )
            except (httpx.TimeoutException, httpcore.TimeoutException):
                pytest.fail(f"no answer after {ANSWER_TIMEOUT} s (the server is busy logging the error)")
        assert answer.json()["resourceType"] == "OperationOutcome", answer.text[:300]
    finally:
        server.kill()


@pytest.mark.parametrize(
    "device",
    [
        pytest.param({"name": "Watch\u0000"}, id="name"),
        pytest.param({"manufacturer": "Acme\u0000Corp"}, id="manufacturer"),
        pytest.param({"model": "\u0000"}, id="model"),
    ],
)
def test_a_nul_in_a_device_field_is_refused_or_dropped(world: World, device: dict[str, str]) -> None:
    """PostgreSQL text cannot hold NUL and FHIR strings must not carry control characters."""
    pid = world.patient()
    answer = world.post(pid, series(device=device))
    assert answer.status_code < 500, f"{answer.status_code}: {answer.text[:300]}"
    if answer.status_code == 200:
        devices = world.client.get(f"/fhir/Device?patient=Patient/{pid}").json()
        assert "\\u0000" not in orjson.dumps(devices).decode(), "a NUL was stored in a Device"
    else:
        refused(answer)
        assert world.stored(pid) == (0, 0, 0)


# --------------------------------------------------------------------------- stored but unusable


def test_an_instant_past_year_9999_in_utc_is_refused(world: World) -> None:
    """``9999-12-31T23:00:00-14:00`` is 10000-01-01T13:00Z: stored, it can never be read back
    ($samples cannot name an end after it)."""
    probe(world, [heart({"date_time": "9999-12-31T23:00:00-14:00"})], statuses=(422,))


def test_an_instant_before_year_1_in_utc_does_not_break_the_hourly_round(world: World) -> None:
    """``0001-01-01T01:00:00+14:00`` is before 0001-01-01T00:00Z: the hourly SampledData round
    (hygie/monitoring/hourly.py) must survive it (it runs for every patient at once)."""
    pid = world.patient()
    answer = world.post(pid, [heart({"date_time": "0001-01-01T01:00:00+14:00"})])
    if answer.status_code != 200:
        refused(answer, 422)
        assert world.stored(pid) == (0, 0, 0)
        return
    try:
        run(world.client, lambda env: materialize(env, 0, datetime.now(UTC)))
    except Exception as exc:  # the round's own failure, as the monitor would log it
        pytest.fail(f"the hourly round failed after this sample: {type(exc).__name__}: {exc}")


def test_an_offset_beyond_14_hours_makes_no_invalid_observation(world: World) -> None:
    """FHIR dateTime offsets stop at ±14:00: ``+23:59`` must be refused, not written into an
    Observation the validator refuses (docs/ingestion.md: every produced resource validates)."""
    pid = world.patient()
    answer = world.post(pid, [weight("2026-11-20T08:00:00+23:59")])
    if answer.status_code != 200:
        refused(answer, 422)
        return
    for entry in world.client.get(f"/fhir/Observation?patient=Patient/{pid}").json().get("entry", []):
        assert validate_resource(entry["resource"]) == [], entry["resource"].get("effectiveDateTime")


def test_an_oversized_device_id_makes_no_invalid_device(world: World) -> None:
    """A Withings ``deviceid`` longer than a FHIR string may be (1 MB) becomes ``serialNumber``."""
    pid = world.patient()
    answer = world.post(pid, withings(group([{"type": 1, "value": 70, "unit": 0}], deviceid="x" * 1_100_000)))
    if answer.status_code != 200:
        refused(answer)
        assert world.stored(pid) == (0, 0, 0)
        return
    for entry in world.client.get(f"/fhir/Device?patient=Patient/{pid}").json().get("entry", []):
        assert validate_resource(entry["resource"]) == [], "an invalid Device was stored"


# --------------------------------------------------------------------------- Apple Health


def _crc_broken() -> bytes:
    raw = bytearray(zipped({"export.xml": GOOD_XML}, zipfile.ZIP_STORED))
    at = raw.index(b"<HealthData>")
    raw[at + 1] = ord("X")  # the stored data no longer matches its CRC-32
    return bytes(raw)


def _deflate_broken() -> bytes:
    raw = bytearray(zipped({"export.xml": GOOD_XML * 20}))
    at = raw.index(b"export.xml") + len("export.xml")
    raw[at + 2 : at + 10] = b"\xff" * 8
    return bytes(raw)


def _lying_size() -> bytes:
    """A member whose headers claim 100 bytes and whose data inflates to 4 MB."""
    real = export(record()) + b" " * 4_000_000
    raw = zipped({"export.xml": real})
    size = (100).to_bytes(4, "little")
    return patched(
        raw, dict(zip(range(22, 26), size, strict=True)), dict(zip(range(24, 28), size, strict=True))
    )


STORED_ZIP = zipped({"export.xml": GOOD_XML}, zipfile.ZIP_STORED)
BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE HealthData [\n<!ENTITY a "aaaaaaaaaa">\n'
    + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">\n' for i in range(8))
    + "]>\n"
)
APPLE_REFUSALS: list[tuple[str, bytes, dict[str, str], tuple[int, ...]]] = [
    ("truncated", GOOD_XML[:-20], XML, (400,)),
    ("good-records-then-garbage", export(record(), record("72")) + b"<Record", XML, (400,)),
    ("not-xml", b"\x00\x01\x02 binary", XML, (400,)),
    ("billion-laughs", export(record("&i;"), head=BILLION_LAUGHS), XML, (400,)),
    ("external-entity", export(record("&x;"), head='<?xml version="1.0"?><!DOCTYPE HealthData '
                               '[<!ENTITY x SYSTEM "file:///etc/passwd">]>'), XML, (400,)),
    ("external-dtd", export(record(), head='<?xml version="1.0"?><!DOCTYPE HealthData SYSTEM '
                            '"http://127.0.0.1:1/x.dtd">'), XML, (400,)),
    ("parameter-entity", export(record(), head='<?xml version="1.0"?><!DOCTYPE HealthData '
                                '[<!ENTITY % p SYSTEM "http://127.0.0.1:1/p">%p;]>'), XML, (400,)),
    ("unparsed-entity", export(record(), head='<?xml version="1.0"?><!DOCTYPE HealthData [<!NOTATION n '
                               'SYSTEM "x"><!ENTITY u SYSTEM "y" NDATA n>]>'), XML, (400,)),
    ("invalid-utf8", export(record(extra='note="\u00e9"')).replace(b"\xc3\xa9", b"\xff"), XML, (400,)),
    ("declared-utf16-sent-utf8", export(record(), head='<?xml version="1.0" encoding="UTF-16"?>'), XML,
     (400,)),
    ("unknown-encoding", export(record(), head='<?xml version="1.0" encoding="x-hostile"?>'), XML, (400,)),
    ("multibyte-encoding", export(record(), head='<?xml version="1.0" encoding="shift_jis"?>'), XML, (400,)),
    ("nul-character-reference", export(record("&#0;")), XML, (400,)),
    ("empty", b"", XML, (400,)),
    ("zip-without-export", zipped({"apple_health_export/export_cda.xml": GOOD_XML}), ZIP, (400,)),
    ("zip-empty-archive", zipped({}), ZIP, (400,)),
    ("zip-truncated", zipped({"export.xml": GOOD_XML})[:-30], ZIP, (400,)),
    ("zip-encrypted-member", patched(STORED_ZIP, {6: 1}, {8: 1}), ZIP, (400,)),
    ("zip-unknown-method", patched(STORED_ZIP, {8: 1}, {10: 1}), ZIP, (400,)),
    ("zip-bad-crc", _crc_broken(), ZIP, (400,)),
    ("zip-corrupt-deflate", _deflate_broken(), ZIP, (400,)),
    ("zip-member-larger-than-declared", _lying_size(), ZIP, (400, 413)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "headers", "statuses"), [pytest.param(*case[1:], id=case[0]) for case in APPLE_REFUSALS]
)
def test_an_unreadable_or_unsafe_apple_export_is_refused_whole(
    world: World, body: bytes, headers: dict[str, str], statuses: tuple[int, ...]
) -> None:
    """docs/ingestion.md "XML safety", docs/monitoring.md: refused whole before any write."""
    probe(world, body, headers, statuses=statuses)


def test_entities_are_refused_as_a_security_issue(world: World) -> None:
    pid = world.patient()
    answer = world.post(pid, export(record("&i;"), head=BILLION_LAUGHS), XML)
    refused(answer, 400)
    assert answer.json()["issue"][0]["code"] == "security"


def test_too_deep_an_export_says_what_is_too_deep(world: World) -> None:
    """Over ``Limits.max_depth`` (32): 413 — and the message must name the nesting depth, not
    claim the file is "more than 32 bytes"."""
    diagnostics = probe(world, export("<a>" * 40 + "</a>" * 40), XML, statuses=(413,))
    assert "depth" in diagnostics and "bytes" not in diagnostics, diagnostics


def test_a_zip_member_named_with_dot_dot_is_read_not_extracted(world: World) -> None:
    pid = world.patient()
    name = f"evil-{pid}.sh"
    answer = world.post(pid, zipped({"../../export.xml": GOOD_XML, f"../../{name}": b"#!/bin/sh\n"}), ZIP)
    assert answer.status_code in (200, 400), answer.text
    for folder in (Path.cwd(), Path(tempfile.gettempdir()), Path(tempfile.gettempdir()).parent):
        assert not (folder / name).exists()


def test_a_huge_attribute_is_one_bad_record(world: World) -> None:
    probe(world, export(record("7" * 1_500_000 + "x")), XML, statuses=(422,))


def test_a_long_device_attribute_is_read(world: World) -> None:
    """A long ``device`` attribute without the expected layout (16 KB of ``x:``) is read like any
    other. Its parse was a lazy regular expression with a look-ahead, quadratic in the length (2 s
    here, hours for 1 MB); it is now a split (``apple_health.device_fields``, tested on a table of
    cases in tests/monitoring/test_ingest_apple_health.py). No timing is asserted here."""
    pid = world.patient()
    answer = world.post(pid, export(record(extra=f'device="{time.time_ns()}' + "x:" * 8000 + '"')), XML)
    assert answer.status_code == 200, answer.text
    assert world.stored(pid)[0] == 1


def test_a_gzip_encoded_export_is_read_like_a_gzip_encoded_json_body(world: World) -> None:
    """JSON bodies are gunzipped when sent with ``Content-Encoding: gzip`` (OperationCall.read_body);
    an export sent so must be read too (or refused with 415), not reported as malformed XML."""
    pid = world.patient()
    answer = world.post(pid, gzip.compress(GOOD_XML), {**XML, "Content-Encoding": "gzip"})
    assert answer.status_code == 200, answer.text
    assert world.stored(pid)[0] == 1


def test_a_zip_bomb_within_the_limits_is_streamed(world: World) -> None:
    """20 MB of XML from a 20 KB upload: streamed (docs/ingestion.md) and read whole."""
    pid = world.patient()
    bomb = zipped({"apple_health_export/export.xml": export(record(), " " * 20_000_000)})
    assert len(bomb) < 100_000
    answer = world.post(pid, bomb, ZIP)
    assert answer.status_code == 200, answer.text
    assert world.stored(pid)[0] == 1


# --------------------------------------------------------------------------- access, ids, methods


def test_a_patient_that_does_not_exist_or_is_not_the_callers_gets_nothing(world: World) -> None:
    assert "not found" in refused(world.post("nobody-here", omh_spo2([97])), 404)
    assert "not found" in refused(world.post("nobody-here", GOOD_XML, XML), 404)
    pid = world.patient()
    other = operator_header(world.settings, scope="patient/*.cruds", patient="someone-else")
    for body, ctype in ((orjson.dumps(omh_spo2([97])), JSON), (GOOD_XML, XML)):
        refused(world.post(pid, body, {**ctype, **other}), 404)
    read_only = operator_header(world.settings, scope="patient/*.rs", patient=pid)
    refused(world.post(pid, omh_spo2([97]), {**JSON, **read_only}), 403)
    refused(world.post(pid, GOOD_XML, {**XML, **read_only}), 403)
    assert world.stored(pid) == (0, 0, 0)
    other_read = world.client.get(f"/fhir/Patient/{pid}/$samples", params={"measure": "spo2"}, headers=other)
    refused(other_read, 404)
    refused(world.client.get(f"/fhir/Patient/{pid}/$cgm-metrics", headers=other), 404)


@pytest.mark.parametrize(
    ("pid", "statuses"),
    [
        pytest.param("a%00b", (400,), id="nul"),
        pytest.param("%C3%A9t%C3%A9", (400,), id="unicode"),
        pytest.param("..%2F..%2Fetc%2Fpasswd", (400, 404), id="traversal"),
        pytest.param("x" * 65, (400,), id="too-long"),
        pytest.param("a%20b", (400,), id="space"),
    ],
)
def test_a_hostile_patient_id_is_refused(world: World, pid: str, statuses: tuple[int, ...]) -> None:
    refused(world.post(pid, omh_spo2([97])), *statuses)
    refused(world.post(pid, GOOD_XML, XML), *statuses)
    refused(world.client.get(f"/fhir/Patient/{pid}/$samples?measure=spo2", headers=EN), *statuses)
    refused(world.client.get(f"/fhir/Patient/{pid}/$cgm-metrics", headers=EN), *statuses)


def test_wrong_methods_are_405(world: World) -> None:
    pid = world.patient()
    for method in ("GET", "PUT", "DELETE", "PATCH"):
        refused(
            world.client.request(method, f"/fhir/Patient/{pid}/$ingest", content=b"[]", headers=JSON), 405
        )
    for op in ("$samples?measure=spo2", "$cgm-metrics"):
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            refused(
                world.client.request(method, f"/fhir/Patient/{pid}/{op}", content=b"{}", headers=JSON), 405
            )
    assert world.stored(pid) == (0, 0, 0)


# --------------------------------------------------------------------------- read operations


@pytest.fixture(scope="module")
def reader(world: World) -> str:
    """A patient with a few heart-rate and glucose samples."""
    pid = world.patient()
    glucose = {
        "kind": "interstitial-glucose",
        "unit": "mmol/L",
        "start": AT,
        "period": 300,
        "values": [6.1, 6.3],
    }
    assert world.post(pid, [series(), glucose]).status_code == 200
    return pid


SAMPLES_REFUSALS: list[tuple[str, dict[str, str]]] = [
    ("no-measure", {}),
    ("empty-measure", {"measure": ""}),
    ("long-measure", {"measure": "h" * 65}),
    ("unknown-measure", {"measure": "heartrate"}),
    ("nul-measure", {"measure": "heart-rate\u0000"}),
    ("bad-grain", {"measure": "heart-rate", "grain": "RAW"}),
    ("start-words", {"measure": "heart-rate", "start": "yesterday"}),
    ("start-month-13", {"measure": "heart-rate", "start": "2026-13-01T00:00:00Z"}),
    ("start-naive", {"measure": "heart-rate", "start": "2026-11-20T00:00:00"}),
    ("start-offset-24h", {"measure": "heart-rate", "start": "2026-11-20T00:00:00+24:00"}),
    ("end-before-start", {"measure": "heart-rate", "start": "2026-11-20T00:00:00Z",
                          "end": "2026-11-19T00:00:00Z"}),
    ("minutes-over-years", {"measure": "heart-rate", "grain": "minute", "start": "2000-01-01T00:00:00Z"}),
    ("end-year-1", {"measure": "heart-rate", "end": "0001-01-01T00:00:00Z"}),
    ("end-past-year-9999-utc", {"measure": "heart-rate", "end": "9999-12-31T23:59:59-14:00"}),
    ("start-before-year-1-utc", {"measure": "heart-rate", "grain": "raw",
                                 "start": "0001-01-01T00:00:00+14:00", "end": "0001-01-02T00:00:00Z"}),
]  # fmt: skip


@pytest.mark.parametrize("params", [pytest.param(case[1], id=case[0]) for case in SAMPLES_REFUSALS])
def test_samples_refuses_bad_parameters(world: World, reader: str, params: dict[str, str]) -> None:
    refused(world.client.get(f"/fhir/Patient/{reader}/$samples", params=params, headers=EN))


CGM_REFUSALS: list[tuple[str, dict[str, str]]] = [
    ("start-words", {"start": "last week"}),
    ("start-naive", {"start": "2026-11-01T00:00:00"}),
    ("end-before-start", {"start": "2026-11-20T00:00:00Z", "end": "2026-11-01T00:00:00Z"}),
    ("over-a-year", {"start": "2020-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}),
    ("agp-bin-7", {"agp-bin": "7"}),
    ("agp-bin-negative", {"agp-bin": "-5"}),
    ("agp-bin-huge", {"agp-bin": "9" * 5000}),
    ("agp-bin-float", {"agp-bin": "1e1"}),
    ("end-year-1", {"end": "0001-01-05T00:00:00Z"}),
    ("start-before-year-1-utc", {"start": "0001-01-01T00:00:00+14:00", "end": "0001-01-05T00:00:00Z"}),
    ("end-past-year-9999-utc", {"start": "9999-12-30T00:00:00Z", "end": "9999-12-31T23:59:59-14:00"}),
]


@pytest.mark.parametrize("params", [pytest.param(case[1], id=case[0]) for case in CGM_REFUSALS])
def test_cgm_metrics_refuses_bad_parameters(world: World, reader: str, params: dict[str, str]) -> None:
    refused(world.client.get(f"/fhir/Patient/{reader}/$cgm-metrics", params=params, headers=EN))


def test_the_read_operations_still_answer_good_questions(world: World, reader: str) -> None:
    got = world.client.get(
        f"/fhir/Patient/{reader}/$samples", params={"measure": "heart-rate", "grain": "raw"}
    )
    assert got.status_code == 200 and len([p for p in got.json()["parameter"] if p["name"] == "point"]) == 2
    cgm = world.client.get(f"/fhir/Patient/{reader}/$cgm-metrics")
    assert cgm.status_code == 200, cgm.text


# --------------------------------------------------------------------------- the command


MAPPING = {"timezone": "Europe/Paris", "kind": {"value": "heart-rate"}, "time": "date", "value": "pouls",
           "unit": {"value": "/min"}}  # fmt: skip


def _files(folder: Path) -> dict[str, Path]:
    files = {
        "mapping.json": orjson.dumps(MAPPING),
        "not-json.json": b"{nope",
        "good.csv": b"date,pouls\n2026-11-20T08:00:00,70\n",
        "invalid-utf8.csv": b"date,pouls\n2026-11-20T08:00:00,70\n\xff\xfe,71\n",
        "enormous-line.csv": b"date,pouls\n2026-11-20T08:00:00," + b"7" * 300_000 + b"\n",
        "semicolons.csv": "\ufeffdate;pouls\n2026-11-20T08:00:00;70\n".encode(),
        "formulas.csv": b'date,pouls\n2026-11-20T08:00:00,=1+71\n2026-11-20T08:01:00,"=HYPERLINK(""x"")"\n',
        "omh.json": orjson.dumps(omh_spo2([97])),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return {name: folder / name for name in files}


CLI_REFUSALS: list[tuple[str, list[str]]] = [
    ("no-such-file", ["openmhealth", "{dir}/missing.json", "--patient", "{pid}"]),
    ("a-folder", ["openmhealth", "{dir}", "--patient", "{pid}"]),
    ("unknown-format", ["fitbit", "{dir}/omh.json", "--patient", "{pid}"]),
    ("no-patient", ["openmhealth", "{dir}/omh.json"]),
    ("unknown-patient", ["openmhealth", "{dir}/omh.json", "--patient", "nobody-at-all"]),
    ("traversal-patient", ["openmhealth", "{dir}/omh.json", "--patient", "../../etc/passwd"]),
    ("unknown-option", ["openmhealth", "{dir}/omh.json", "--patient", "{pid}", "--force"]),
    ("csv-without-mapping", ["csv", "{dir}/good.csv", "--patient", "{pid}"]),
    ("mapping-missing", ["csv", "{dir}/good.csv", "--patient", "{pid}", "--mapping", "{dir}/nope.json"]),
    ("mapping-not-json", ["csv", "{dir}/good.csv", "--patient", "{pid}", "--mapping", "{dir}/not-json.json"]),
    ("mapping-a-folder", ["csv", "{dir}/good.csv", "--patient", "{pid}", "--mapping", "{dir}"]),
    ("mapping-invalid", ["csv", "{dir}/good.csv", "--patient", "{pid}", "--mapping", "{dir}/omh.json"]),
    ("csv-invalid-utf8", ["csv", "{dir}/invalid-utf8.csv", "--patient", "{pid}", "--mapping",
                          "{dir}/mapping.json"]),
    ("csv-enormous-line", ["csv", "{dir}/enormous-line.csv", "--patient", "{pid}", "--mapping",
                           "{dir}/mapping.json"]),
    ("csv-wrong-delimiter", ["csv", "{dir}/semicolons.csv", "--patient", "{pid}", "--mapping",
                             "{dir}/mapping.json"]),
    ("csv-formulas", ["csv", "{dir}/formulas.csv", "--patient", "{pid}", "--mapping", "{dir}/mapping.json"]),
    ("omh-as-withings", ["withings", "{dir}/omh.json", "--patient", "{pid}"]),
    ("csv-as-json", ["openmhealth", "{dir}/good.csv", "--patient", "{pid}"]),
    ("csv-as-apple", ["apple-health", "{dir}/good.csv", "--patient", "{pid}"]),
]  # fmt: skip


@pytest.mark.parametrize("args", [pytest.param(case[1], id=case[0]) for case in CLI_REFUSALS])
def test_the_command_refuses_bad_files_and_arguments_clearly(
    world: World, tmp_path: Path, args: list[str]
) -> None:
    pid = world.patient()
    _files(tmp_path)
    result = ingest(world.settings, *(a.format(dir=tmp_path, pid=pid) for a in args))
    crash = result.exception if not isinstance(result.exception, SystemExit) else None
    assert crash is None, f"uncaught {type(crash).__name__}: {crash}"
    assert result.exit_code != 0, result.output
    assert result.output.strip() and "Traceback" not in result.output, result.output
    assert world.stored(pid) == (0, 0, 0)


@pytest.fixture
def cli_world(tmp_path: Path) -> Settings:
    """A SQLite database with the patient ``fifo`` (the FIFO probes need no second backend)."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'fifo.db'}", keys_dir=tmp_path / "keys",
                        monitoring_interval_seconds=0)  # fmt: skip
    with open_client(settings) as client:
        put(client, {"resourceType": "Patient", "id": "fifo"})
    return settings


def test_a_fifo_named_on_the_command_line_does_not_block(cli_world: Settings, tmp_path: Path) -> None:
    """A named pipe nobody writes to, as the data file or as the mapping: reading it would never
    end. The real command runs in subprocesses, killed after :data:`PROCESS_TIMEOUT`."""
    folder = _files(tmp_path)["good.csv"].parent
    os.mkfifo(folder / "pipe")
    runs = {
        "openmhealth": ["openmhealth", str(folder / "pipe")],
        "apple-health": ["apple-health", str(folder / "pipe")],
        "csv": ["csv", str(folder / "pipe"), "--mapping", str(folder / "mapping.json")],
        "csv-mapping": ["csv", str(folder / "good.csv"), "--mapping", str(folder / "pipe")],
    }
    env = {
        **os.environ,
        "HYGIE_DATABASE_URL": cli_world.database_url,
        "HYGIE_KEYS_DIR": str(cli_world.keys_dir),
    }
    children = {
        name: subprocess.Popen(
            [sys.executable, "-m", "hygie", "ingest", *args, "--patient", "fifo"],
            cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        for name, args in runs.items()
    }  # fmt: skip
    deadline = time.monotonic() + PROCESS_TIMEOUT
    problems = []
    for name, child in children.items():
        try:
            _, err = child.communicate(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            problems.append(f"{name}: still running after {PROCESS_TIMEOUT} s (killed)")
            continue
        text = err.decode(errors="replace")
        if child.returncode == 0 or "Traceback" in text or not text.strip():
            problems.append(f"{name}: exit {child.returncode}, stderr {text[-300:]!r}")
    assert not problems, "\n".join(problems)
