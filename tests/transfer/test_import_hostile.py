"""``hygie import`` under malformed and hostile files: bad input never breaks us.

Every bad file is reported (a ``FAILED`` line naming it, with its position when it has one and a
clear reason; exit code 1) and skipped whole (nothing of it in the database), the other files of
the same run are imported, and there is no traceback, no hang and nothing read or written outside
the paths given. Probed: NDJSON (encodings, line ends, JSON oddities, invalid resources, ids,
versions, dates, gzip), Bundle files (shapes, types, transaction entries with hostile URLs,
methods, conditional criteria, references), portability ZIPs (``hygie-record`` version 1: names,
manifests, lying headers, encryption, compression methods, nesting, many members), folders
(symbolic links, loops, FIFOs, devices, permissions) and the ``--state`` file.

docs/import.md; https://hl7.org/fhir/R4/http.html#transaction;
https://hl7.org/fhir/uv/bulkdata/STU2/export.html#bulk-data-output-file-format.

One database per backend for the module (a world per probe would cost a second each); every
probe uses ids of its own, writes its files in its own folder (its working directory too) and
checks that folder afterwards: the inputs unchanged and nothing but the state file added. Probes
that could block forever (FIFOs, devices) run the real command in a subprocess with a timeout,
so that the test fails instead of hanging.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import struct
import subprocess
import sys
import time
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient
from typer.testing import Result

from hygie.settings import Settings
from tests.conftest import BACKEND_PARAMS, fresh_database_url
from tests.support import open_client
from tests.transfer.test_import import run

STAMP = "2022-05-06T07:08:09.010Z"
TWIN = "urn:hostile|twin"  # the identifier of two seeded patients
PROCESS_TIMEOUT = (
    10.0  # seconds a real ``hygie import`` of a few lines may take (it takes ~1 s): more is a hang
)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module", params=BACKEND_PARAMS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One database per backend for the module (named like the shared fixture, so that
    ``HYGIE_TEST_BACKENDS`` selects its cases the same way)."""
    yield from fresh_database_url(request, request.param, tmp_path_factory.mktemp("import-hostile"))


@dataclass
class World:
    """The module's database, seen over the FHIR API."""

    settings: Settings
    client: TestClient

    def status(self, ref: str) -> int:
        got = self.client.get(f"/fhir/{ref}")
        assert got.status_code in (200, 404, 410), f"{ref}: {got.status_code} {got.text[:300]}"
        return got.status_code

    def exists(self, ref: str) -> bool:
        return self.status(ref) == 200

    def read(self, ref: str) -> dict[str, Any]:
        got = self.client.get(f"/fhir/{ref}")
        assert got.status_code == 200, f"{ref}: {got.status_code} {got.text[:300]}"
        body: dict[str, Any] = got.json()
        return body

    def count(self, query: str) -> int:
        got = self.client.get(f"/fhir/{query}{'&' if '?' in query else '?'}_summary=count")
        assert got.status_code == 200, got.text
        return int(got.json()["total"])


@pytest.fixture(scope="module")
def world(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    settings = Settings(database_url=database_url, keys_dir=tmp_path_factory.mktemp("import-keys") / "keys")
    with open_client(settings) as client:
        seeds = [
            {"resourceType": "Patient", "id": "twin-1", "identifier": [_identifier(TWIN)]},
            {"resourceType": "Patient", "id": "twin-2", "identifier": [_identifier(TWIN)]},
            # the only Device of the database: what a criterion matching everything would hit
            {"resourceType": "Device", "id": "lone-device", "manufacturer": "Acme"},
        ]
        for seed in seeds:
            answer = client.put(f"/fhir/{seed['resourceType']}/{seed['id']}", json=seed)
            assert answer.status_code == 201, answer.text
        yield World(settings, client)


def _identifier(token: str) -> dict[str, str]:
    system, value = token.split("|")
    return {"system": system, "value": value}


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The probe's own folder, also its working directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --------------------------------------------------------------------------- helpers


def line(resource: Any) -> bytes:
    return orjson.dumps(resource) + b"\n"


def pt(rid: str, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": rid, **extra}


def obs(rid: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}, **extra}
    if rid is not None:
        body["id"] = rid
    return body


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` with the bytes of its regular files (None: anything else);
    symbolic links are not followed."""
    found: dict[str, bytes | None] = {}
    for path in sorted(folder.rglob("*")):
        regular = path.is_file() and not path.is_symlink()
        found[str(path.relative_to(folder))] = (
            path.read_bytes() if regular and os.access(path, os.R_OK) else None
        )
    return found


def write(folder: Path, files: dict[str, bytes]) -> list[Path]:
    paths = []
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        paths.append(path)
    return paths


def crash_free(result: Result) -> None:
    """The command ended by itself: no exception escaped, no traceback printed."""
    escaped = result.exception if not isinstance(result.exception, SystemExit) else None
    detail = ""
    if escaped is not None:
        import traceback

        detail = "".join(traceback.format_exception(escaped))[-3000:]
    assert escaped is None, f"the command crashed ({type(escaped).__name__}: {escaped}):\n{detail}"
    assert "Traceback" not in result.output, result.output


def importing(world: World, here: Path, files: dict[str, bytes], *options: str) -> Result:
    """Write ``files`` into ``here/in`` and import them, named one by one in that order, with a
    state file of the probe's own; checks that nothing crashed and that the folder holds only
    the inputs, unchanged, and the state file."""
    paths = write(here / "in", files)
    before = snapshot(here)
    result = run(world.settings, "--state", str(here / "state.json"), *options, *map(str, paths))
    crash_free(result)
    after = snapshot(here)
    after.pop("state.json", None)
    assert after == before, f"files changed or added: {sorted(set(after.items()) ^ set(before.items()))}"
    return result


def failed_lines(result: Result) -> list[str]:
    return [text for text in result.output.splitlines() if text.startswith("FAILED")]


def assert_refused(result: Result, name: str, *fragments: str) -> str:
    """Exactly one FAILED line, naming ``name`` and holding each fragment; exit code 1."""
    failed = failed_lines(result)
    assert len(failed) == 1, result.output
    assert f"/{name}  " in failed[0], failed[0]
    for fragment in fragments:
        assert fragment in failed[0], f"{fragment!r} not in {failed[0]!r}"
    assert result.exit_code == 1, result.output
    return failed[0]


def assert_clear(reason: str) -> None:
    """A reason for people: no untranslated message key (``400: not_an_object``), no bare
    Python error standing for the whole reason (``ValueError: year 10000 is out of range``)."""
    assert not re.search(r"\b\d{3}: [a-z]+(?:_[a-z0-9]+)+(?:\s|$)", reason), reason
    assert not re.search(
        r"\s(ValueError|TypeError|KeyError|AttributeError|RuntimeError|OverflowError):", reason
    ), reason


def good_file(case: str) -> tuple[str, bytes, str]:
    """(name, content, reference) of a valid NDJSON file imported beside a bad one."""
    return f"z-good-{case}.ndjson", line(pt(f"ok-{case}")), f"Patient/ok-{case}"


def refused_beside_a_good_file(
    world: World,
    here: Path,
    case: str,
    name: str,
    data: bytes,
    fragments: tuple[str, ...],
    absent: list[str],
    *options: str,
) -> str:
    """Import a bad file and a good one: the bad one refused whole, the good one imported."""
    good, content, ref = good_file(case)
    result = importing(world, here, {name: data, good: content}, *options)
    reason = assert_refused(result, name, *fragments)
    assert_clear(reason)
    assert f"imported  {here / 'in' / good}  1 resources" in result.output, result.output
    assert world.exists(ref)
    for gone in absent:
        assert not world.exists(gone), f"{gone} was written from the refused file {name}"
    return reason


# --------------------------------------------------------------------------- NDJSON


def _deep_extension(levels: int) -> bytes:
    """A Patient whose extension nests ``levels`` deep (valid FHIR at any depth)."""
    text = '{"url":"http://example.org/e","valueString":"x"}'
    for _ in range(levels - 1):
        text = '{"url":"http://example.org/e","extension":[' + text + "]}"
    return b'{"resourceType":"Patient","id":"deep-%d-2","extension":[%s]}\n' % (levels, text.encode())


def _raw(case: str, family: bytes) -> bytes:
    return (
        b'{"resourceType":"Patient","id":"' + case.encode() + b'-2","name":[{"family":"' + family + b'"}]}\n'
    )


NDJSON_REFUSED: list[tuple[str, bytes, tuple[str, ...]]] = [
    # (case, content after a valid first line "<case>-1" unless the case says so, fragments)
    ("bom", b"\xef\xbb\xbf" + line(pt("bom-1")) + line(pt("bom-2")), ("line 1: 400: Unreadable JSON",)),
    (
        "cr-only",
        line(pt("cr-only-1"))[:-1] + b"\r" + line(pt("cr-only-2"))[:-1] + b"\r",
        ("line 1: 400: Unreadable JSON",),
    ),
    ("latin-1", line(pt("latin-1-1")) + _raw("latin-1", b"Andr\xe9"), ("line 2: 400: Unreadable JSON",)),
    ("high-surrogate", line(pt("high-surrogate-1")) + _raw("high-surrogate", b"a\\ud800b"), ("line 2: 400",)),
    ("low-surrogate", line(pt("low-surrogate-1")) + _raw("low-surrogate", b"a\\udc00"), ("line 2: 400",)),
    ("nul-escaped", line(pt("nul-escaped-1")) + _raw("nul-escaped", b"a\\u0000b"), ("line 2: 400", "NUL")),
    ("nul-raw", line(pt("nul-raw-1")) + _raw("nul-raw", b"a\x00b"), ("line 2: 400: Unreadable JSON",)),
    ("json-array", line(pt("json-array-1")) + b'[{"resourceType":"Patient"}]\n', ("line 2: 400",)),
    ("json-number", line(pt("json-number-1")) + b"42\n", ("line 2: 400",)),
    ("json-string", line(pt("json-string-1")) + b'"Patient"\n', ("line 2: 400",)),
    ("json-null", line(pt("json-null-1")) + b"null\n", ("line 2: 400",)),
    (
        "json-half",
        line(pt("json-half-1")) + b'{"resourceType":"Patient",\n',
        ("line 2: 400: Unreadable JSON",),
    ),
    ("unknown-type", line(pt("unknown-type-1")) + b'{"resourceType":"Nope","id":"x"}\n', ("line 2: 404",)),
    ("no-resource-type", line(pt("no-resource-type-1")) + b'{"id":"x"}\n', ("line 2: 400", "resourceType")),
    ("resource-type-number", line(pt("resource-type-number-1")) + b'{"resourceType":5}\n', ("line 2: 400",)),
    ("id-space", line(pt("id-space-1")) + line(pt("a b")), ("line 2: 422", "[Patient.id]")),
    ("id-dotdot", line(pt("id-dotdot-1")) + line(pt("../x")), ("line 2: 422", "[Patient.id]")),
    ("id-slash", line(pt("id-slash-1")) + line(pt("a/b")), ("line 2: 422", "[Patient.id]")),
    ("id-65", line(pt("id-65-1")) + line(pt("i" * 65)), ("line 2: 422", "[Patient.id]")),
    ("id-empty", line(pt("id-empty-1")) + line(pt("")), ("line 2: 422", "[Patient.id]")),
    (
        "id-number",
        line(pt("id-number-1")) + b'{"resourceType":"Patient","id":5}\n',
        ("line 2: 400", "[Patient.id]"),
    ),
    (
        "version-number",
        line(pt("version-number-1")) + line(pt("version-number-2", meta={"versionId": 2})),
        ("line 2: 400", "versionId"),
    ),
    (
        "updated-word",
        line(pt("updated-word-1")) + line(pt("updated-word-2", meta={"lastUpdated": "yesterday"})),
        ("line 2: 422", "[Patient.meta.lastUpdated]"),
    ),
    (
        "updated-month-13",
        line(pt("updated-month-13-1"))
        + line(pt("updated-month-13-2", meta={"lastUpdated": "2022-13-45T00:00:00Z"})),
        ("line 2: 422", "[Patient.meta.lastUpdated]"),
    ),
    (
        "updated-no-zone",
        line(pt("updated-no-zone-1"))
        + line(pt("updated-no-zone-2", meta={"lastUpdated": "2022-01-01T00:00:00"})),
        ("line 2: 422", "[Patient.meta.lastUpdated]"),
    ),
    (
        "decimal-1e400",
        line(pt("decimal-1e400-1"))
        + b'{"resourceType":"Observation","id":"decimal-1e400-2","status":"final","code":{"text":"x"},'
        b'"valueQuantity":{"value":1e400}}\n',
        ("line 2: 422", "Observation.value"),
    ),
    (
        "integer-30-digits",
        line(pt("integer-30-digits-1"))
        + b'{"resourceType":"Patient","id":"integer-30-digits-2",'
        + b'"multipleBirthInteger":123456789012345678901234567890}\n',
        ("line 2: 4", "Patient.multipleBirth"),
    ),
    ("deep-100", line(pt("deep-100-1")) + _deep_extension(100), ("line 2: 400",)),
    ("deep-300", line(pt("deep-300-1")) + _deep_extension(300), ("line 2: 400",)),
    ("deep-2000", line(pt("deep-2000-1")) + _deep_extension(2000), ("line 2: 400",)),
    (
        "invalid-status",
        line(pt("invalid-status-1")) + line(obs("invalid-status-2", status="nope")),
        ("line 2: 422", "Observation.status"),
    ),
]


@pytest.mark.parametrize(("case", "data", "fragments"), NDJSON_REFUSED, ids=[c[0] for c in NDJSON_REFUSED])
def test_a_bad_ndjson_file_is_refused_whole(
    world: World, here: Path, case: str, data: bytes, fragments: tuple[str, ...]
) -> None:
    absent = [f"Patient/{case}-1", f"Patient/{case}-2", f"Observation/{case}-2"]
    refused_beside_a_good_file(world, here, case, f"{case}.ndjson", data, fragments, absent)


GZIP_REFUSED: list[tuple[str, bytes, tuple[str, ...]]] = [
    (
        "gzip-truncated",
        gzip.compress(line(pt("gzip-truncated-1")) + line(pt("gzip-truncated-2")))[:-12],
        ("Compressed file ended",),
    ),
    ("gzip-not-gzip", line(pt("gzip-not-gzip-1")), ("Not a gzipped file",)),
    ("gzip-bad-json", gzip.compress(line(pt("gzip-bad-json-1")) + b"{\n"), ("line 2: 400: Unreadable JSON",)),
    (
        "gzip-trailing-garbage",
        gzip.compress(line(pt("gzip-trailing-garbage-1"))) + b"garbage after the stream",
        ("gzip",),
    ),
]


@pytest.mark.parametrize(("case", "data", "fragments"), GZIP_REFUSED, ids=[c[0] for c in GZIP_REFUSED])
def test_a_bad_gzip_file_is_refused_whole(
    world: World, here: Path, case: str, data: bytes, fragments: tuple[str, ...]
) -> None:
    reason = refused_beside_a_good_file(
        world, here, case, f"{case}.ndjson.gz", data, (), [f"Patient/{case}-1", f"Patient/{case}-2"]
    )
    assert any(f.lower() in reason.lower() for f in fragments), reason


def test_ndjson_oddities_that_are_valid_are_imported_exactly(world: World, here: Path) -> None:
    """CRLF line ends, blank lines, U+2028/U+2029 (raw and escaped), duplicate keys (the last
    wins, as the REST API reads them), exact decimals and integers beyond 64 bits in decimals,
    version ids that are not integers ≥ 1 (stored as 1, docs/import.md)."""
    value = b'{"resourceType":"Observation","id":"odd-big","status":"final","code":{"text":"x"},'
    files = {
        "crlf.ndjson": line(pt("odd-crlf-1"))[:-1] + b"\r\n\r\n" + line(pt("odd-crlf-2"))[:-1] + b"\r\n",
        "separators.ndjson": line(pt("odd-sep", name=[{"family": "a\u2028b"}]))[:-5]
        + b'\\u2029c"}]}\n',  # U+2028 raw (orjson writes it as is), U+2029 escaped
        "duplicate-keys.ndjson": b'{"resourceType":"Patient","id":"odd-dup-1","id":"odd-dup-2"}\n',
        "numbers.ndjson": value
        + b'"valueQuantity":{"value":123456789012345678901234567890.50}}\n'
        + b'{"resourceType":"Observation","id":"odd-tiny","status":"final","code":{"text":"x"},'
        b'"valueQuantity":{"value":-1e-400}}\n',
        "versions.ndjson": b"".join(
            line(pt(f"odd-v{n}", meta={"versionId": vid, "lastUpdated": STAMP}))
            for n, vid in enumerate(["abc", "-3", "0", "99999999999999999999999", "007", "123456789"])
        ),
    }
    result = importing(world, here, files)
    assert result.exit_code == 0, result.output
    assert "5 file(s) imported" in result.output, result.output
    assert world.exists("Patient/odd-crlf-1") and world.exists("Patient/odd-crlf-2")
    assert world.read("Patient/odd-sep")["name"] == [{"family": "a\u2028b\u2029c"}]
    assert world.exists("Patient/odd-dup-2") and not world.exists("Patient/odd-dup-1")
    raw = world.client.get("/fhir/Observation/odd-big").content
    assert b'"value":123456789012345678901234567890.50' in raw, raw
    assert b'"value":-1e-400' in world.client.get("/fhir/Observation/odd-tiny").content
    versions = [world.read(f"Patient/odd-v{n}")["meta"] for n in range(6)]
    assert [m["versionId"] for m in versions] == ["1", "1", "1", "1", "7", "123456789"]
    assert {m["lastUpdated"] for m in versions} == {STAMP}


def test_empty_and_blank_files_import_nothing_and_succeed(world: World, here: Path) -> None:
    good, content, ref = good_file("blank")
    result = importing(world, here, {"empty.ndjson": b"", "blank.ndjson": b"\n\n  \r\n\t\n", good: content})
    assert result.exit_code == 0, result.output
    for name in ("empty.ndjson", "blank.ndjson"):
        assert f"imported  {here / 'in' / name}  0 resources" in result.output, result.output
    assert world.exists(ref)


@pytest.mark.parametrize(
    ("case", "stamp"),
    [("far-after-9999", "9999-12-31T23:59:59.999-14:00"), ("far-before-0001", "0001-01-01T00:00:00+14:00")],
    ids=["after-9999", "before-0001"],
)
def test_a_last_updated_beyond_the_years_1_to_9999_is_not_a_crash(
    world: World, here: Path, case: str, stamp: str
) -> None:
    """Valid FHIR instants whose UTC time falls outside the years 1 to 9999: either kept or
    replaced (imported), or the file is refused with the line and a 4xx reason — never a bare
    Python error without the position."""
    data = line(pt(f"{case}-1")) + line(pt(f"{case}-2", meta={"versionId": "3", "lastUpdated": stamp}))
    good, content, ref = good_file(case)
    result = importing(world, here, {f"{case}.ndjson": data, good: content})
    if result.exit_code == 0:
        assert world.read(f"Patient/{case}-2")["meta"]["versionId"] == "3"
        return
    reason = assert_refused(result, f"{case}.ndjson", "line 2: 4")
    assert_clear(reason)
    assert world.exists(ref) and not world.exists(f"Patient/{case}-1")


def test_a_gzip_line_beyond_the_limit_is_refused_unread(
    world: World, here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hygie.transfer import readers

    monkeypatch.setattr(readers, "MAX_LINE_BYTES", 1000)
    bomb = gzip.compress(
        line(pt("long-1")) + b'{"resourceType":"Patient","id":"long-2"' + b" " * (8 << 20) + b"}\n"
    )
    refused_beside_a_good_file(
        world, here, "long", "long.ndjson.gz", bomb, ("line 2: 413",), ["Patient/long-1", "Patient/long-2"]
    )


# --------------------------------------------------------------------------- Bundle files


def tx(entries: Any, kind: str = "transaction") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": entries}


def put(rid: str, url: str | None = None, method: str = "PUT") -> dict[str, Any]:
    return {"resource": pt(rid), "request": {"method": method, "url": url or f"Patient/{rid}"}}


def _refs(case: str) -> list[str]:
    return [f"Patient/{case}-1", f"Patient/{case}-2", f"Observation/{case}-2"]


BUNDLE_REFUSED: list[tuple[str, Any, tuple[str, ...]]] = [
    # (case, JSON content; resources "<case>-1" / "<case>-2" must not be written, fragments)
    ("top-array", [pt("top-array-1")], ("400",)),
    ("top-number", 5, ("400",)),
    ("top-null", None, ("400",)),
    ("top-string", "Bundle", ("400",)),
    ("type-searchset", tx([put("type-searchset-1")], "searchset"), ("400", "searchset")),
    ("type-history", tx([put("type-history-1")], "history"), ("400", "history")),
    ("type-document", tx([put("type-document-1")], "document"), ("400", "document")),
    ("type-message", tx([put("type-message-1")], "message"), ("400", "message")),
    ("type-bogus", tx([put("type-bogus-1")], "bogus"), ("400", "bogus")),
    ("type-missing", {"resourceType": "Bundle", "entry": [put("type-missing-1")]}, ("400",)),
    (
        "type-list",
        {"resourceType": "Bundle", "type": ["transaction"], "entry": [put("type-list-1")]},
        ("400",),
    ),
    (
        "tx-entries-not-objects",
        tx([put("tx-entries-not-objects-1"), 1, "x", None]),
        ("400", "Bundle.entry[1]"),
    ),
    ("batch-entry-not-object", tx([put("batch-entry-not-object-1"), 1], "batch"), ("400", "Bundle.entry[1]")),
    (
        "collection-entry-not-object",
        tx([{"resource": pt("collection-entry-not-object-1")}, 1], "collection"),
        ("entry 1: 400",),
    ),
    (
        "collection-entry-without-resource",
        tx(
            [{"resource": pt("collection-entry-without-resource-1")}, {"fullUrl": "urn:uuid:1"}], "collection"
        ),
        ("entry 1: 400",),
    ),
    (
        "collection-bad-resource",
        tx(
            [
                {"resource": pt("collection-bad-resource-1")},
                {"resource": obs("collection-bad-resource-2", status="x")},
            ],
            "collection",
        ),
        ("entry 1: 422", "Observation.status"),
    ),
    # transaction entries with hostile request URLs and methods
    (
        "url-other-server",
        tx(
            [
                put("url-other-server-1"),
                put("url-other-server-2", "http://evil.example/fhir/Patient/url-other-server-2"),
            ]
        ),
        ("Bundle.entry[1]",),
    ),
    (
        "url-dotdot",
        tx([put("url-dotdot-1"), put("url-dotdot-2", "../Patient/url-dotdot-2")]),
        ("Bundle.entry[1]",),
    ),
    (
        "url-dotdot-inside",
        tx(
            [
                put("url-dotdot-inside-1"),
                put("url-dotdot-inside-2", "Patient/x/../../Patient/url-dotdot-inside-2"),
            ]
        ),
        ("Bundle.entry[1]",),
    ),
    (
        "url-encoded-dotdot",
        tx(
            [
                put("url-encoded-dotdot-1"),
                put("url-encoded-dotdot-2", "Patient/%2E%2E/Patient/url-encoded-dotdot-2"),
            ]
        ),
        ("Bundle.entry[1]",),
    ),
    (
        "url-empty",
        tx([put("url-empty-1"), {"resource": pt("url-empty-2"), "request": {"method": "PUT", "url": ""}}]),
        ("400", "Bundle.entry[1]"),
    ),
    (
        "url-other-id",
        tx([put("url-other-id-1"), put("url-other-id-2", "Patient/someone-else")]),
        ("400", "Bundle.entry[1]"),
    ),
    (
        "url-other-type",
        tx([put("url-other-type-1"), put("url-other-type-2", "Observation/url-other-type-2")]),
        ("400", "Bundle.entry[1]"),
    ),
    (
        "url-metadata",
        tx([put("url-metadata-1"), {"request": {"method": "GET", "url": "metadata"}}]),
        ("Bundle.entry[1]",),
    ),
    (
        "url-system-operation",
        tx([put("url-system-operation-1"), {"request": {"method": "POST", "url": "$export"}}]),
        ("Bundle.entry[1]",),
    ),
    (
        "method-unknown",
        tx([put("method-unknown-1"), put("method-unknown-2", method="FOO")]),
        ("400", "Bundle.entry[1]"),
    ),
    (
        "method-lowercase",
        tx([put("method-lowercase-1"), put("method-lowercase-2", method="put")]),
        ("400", "Bundle.entry[1]"),
    ),
    ("method-head", tx([put("method-head-1"), put("method-head-2", method="HEAD")]), ("Bundle.entry[1]",)),
    (
        "method-patch-not-parameters",
        tx([put("method-patch-not-parameters-1"), put("method-patch-not-parameters-2", method="PATCH")]),
        ("400", "Bundle.entry[1]"),
    ),
    (
        "method-number",
        tx(
            [
                put("method-number-1"),
                {
                    "resource": pt("method-number-2"),
                    "request": {"method": 5, "url": "Patient/method-number-2"},
                },
            ]
        ),
        ("400", "Bundle.entry[1]"),
    ),
    (
        "request-missing",
        tx([put("request-missing-1"), {"resource": pt("request-missing-2")}]),
        ("400", "Bundle.entry[1]"),
    ),
    (
        "request-string",
        tx([put("request-string-1"), {"resource": pt("request-string-2"), "request": "PUT Patient/x"}]),
        ("400", "Bundle.entry[1]"),
    ),
    (
        "delete-without-criteria",
        tx([put("delete-without-criteria-1"), {"request": {"method": "DELETE", "url": "Patient"}}]),
        ("400", "Bundle.entry[1]"),
    ),
    (
        "batch-bad-entry",
        tx([put("batch-bad-entry-1"), put("batch-bad-entry-2", method="FOO")], "batch"),
        ("400", "Bundle.entry[1]"),
    ),
    # conditional criteria matching two resources, or none where one is required
    (
        "cond-update-2",
        tx(
            [
                put("cond-update-2-1"),
                {
                    "resource": pt("cond-update-2-2"),
                    "request": {"method": "PUT", "url": f"Patient?identifier={TWIN}"},
                },
            ]
        ),
        ("412", "Bundle.entry[1]"),
    ),
    (
        "cond-create-2",
        tx(
            [
                put("cond-create-2-1"),
                {
                    "resource": pt("cond-create-2-2"),
                    "request": {"method": "POST", "url": "Patient", "ifNoneExist": f"identifier={TWIN}"},
                },
            ]
        ),
        ("412", "Bundle.entry[1]"),
    ),
    (
        "cond-delete-2",
        tx([put("cond-delete-2-1"), {"request": {"method": "DELETE", "url": f"Patient?identifier={TWIN}"}}]),
        ("412", "Bundle.entry[1]"),
    ),
    (
        "cond-ref-2",
        tx(
            [
                put("cond-ref-2-1"),
                {
                    "resource": obs(subject={"reference": f"Patient?identifier={TWIN}"}),
                    "request": {"method": "POST", "url": "Observation"},
                },
            ]
        ),
        ("412", "Bundle.entry[1]"),
    ),
    (
        "cond-ref-0",
        tx(
            [
                put("cond-ref-0-1"),
                {
                    "resource": obs(subject={"reference": "Patient?identifier=urn:hostile|nobody"}),
                    "request": {"method": "POST", "url": "Observation"},
                },
            ]
        ),
        ("400", "Bundle.entry[1]"),
    ),
    (
        "cond-ref-unknown-param",
        tx(
            [
                put("cond-ref-unknown-param-1"),
                {
                    "resource": obs(subject={"reference": "Patient?nope=1"}),
                    "request": {"method": "POST", "url": "Observation"},
                },
            ]
        ),
        ("400", "Bundle.entry[1]"),
    ),
    (
        "cond-update-unknown-param",
        tx(
            [
                put("cond-update-unknown-param-1"),
                {
                    "resource": pt("cond-update-unknown-param-2"),
                    "request": {"method": "PUT", "url": "Patient?nope=1"},
                },
            ]
        ),
        ("400", "Bundle.entry[1]"),
    ),
    (
        "cond-ref-in-collection",
        tx(
            [
                {"resource": pt("cond-ref-in-collection-1")},
                {
                    "resource": obs(
                        "cond-ref-in-collection-2", subject={"reference": f"Patient?identifier={TWIN}"}
                    )
                },
            ],
            "collection",
        ),
        ("entry 1: 422",),
    ),
    # placeholders
    (
        "duplicate-full-url",
        tx(
            [
                put("duplicate-full-url-1"),
                {
                    "fullUrl": "urn:uuid:6f1c0d1e-0000-4000-8000-000000000001",
                    "resource": {"resourceType": "Patient"},
                    "request": {"method": "POST", "url": "Patient"},
                },
                {
                    "fullUrl": "urn:uuid:6f1c0d1e-0000-4000-8000-000000000001",
                    "resource": {"resourceType": "Patient"},
                    "request": {"method": "POST", "url": "Patient"},
                },
            ]
        ),
        ("400", "fullUrl"),
    ),
]


@pytest.mark.parametrize(("case", "content", "fragments"), BUNDLE_REFUSED, ids=[c[0] for c in BUNDLE_REFUSED])
def test_a_bad_bundle_file_is_refused_whole(
    world: World, here: Path, case: str, content: Any, fragments: tuple[str, ...]
) -> None:
    refused_beside_a_good_file(
        world, here, case, f"{case}.json", orjson.dumps(content), fragments, _refs(case)
    )


ENTRY_NOT_A_LIST: list[tuple[str, str, Any]] = [
    ("collection-object", "collection", {"resource": pt("entry-collection-object-1")}),
    ("collection-empty-object", "collection", {}),
    ("collection-string", "collection", "x"),
    (
        "transaction-object",
        "transaction",
        {
            "resource": pt("entry-transaction-object-1"),
            "request": {"method": "PUT", "url": "Patient/entry-transaction-object-1"},
        },
    ),
    ("transaction-empty-object", "transaction", {}),
]


@pytest.mark.parametrize(("name", "kind", "entry"), ENTRY_NOT_A_LIST, ids=[c[0] for c in ENTRY_NOT_A_LIST])
def test_a_bundle_whose_entry_is_not_a_list_is_refused_saying_so(
    world: World, here: Path, name: str, kind: str, entry: Any
) -> None:
    """``Bundle.entry`` is an array (0..*): anything else is not a Bundle this importer can read
    — not an empty Bundle imported as 0 resources — and the reason names ``entry``."""
    case = f"entry-{name}"
    content = {"resourceType": "Bundle", "type": kind, "entry": entry}
    reason = refused_beside_a_good_file(
        world, here, case, f"{case}.json", orjson.dumps(content), (), _refs(case)
    )
    assert "entry" in reason.split(f"{case}.json", 1)[1].lower(), reason


def test_a_criterion_with_an_empty_value_matches_nothing_rather_than_everything(
    world: World, here: Path
) -> None:
    """``Device?_id=`` holds no criterion (as ``Device?``, which is refused): it must not be
    read as "every Device", which the only Device of the database would then match — a
    conditional update overwriting it, a conditional reference pointing at it."""
    update = tx(
        [
            {
                "resource": {"resourceType": "Device", "manufacturer": "Evil"},
                "request": {"method": "PUT", "url": "Device?_id="},
            }
        ]
    )
    reference = tx(
        [
            {
                "resource": obs(
                    device={"reference": "Device?manufacturer="}, note=[{"text": "empty-criterion"}]
                ),
                "request": {"method": "POST", "url": "Observation"},
            }
        ]
    )
    result = importing(
        world, here, {"a-update.json": orjson.dumps(update), "b-reference.json": orjson.dumps(reference)}
    )
    lone = world.read("Device/lone-device")
    assert lone["manufacturer"] == "Acme" and lone["meta"]["versionId"] == "1", (
        f"overwritten: {lone}\n{result.output}"
    )
    assert world.count("Observation?device=Device/lone-device") == 0, result.output
    failed = failed_lines(result)
    assert len(failed) == 2 and result.exit_code == 1, result.output
    assert all(" 400: " in f for f in failed), failed


def test_placeholders_that_loop_are_resolved_both_ways(world: World, here: Path) -> None:
    first, second = (
        "urn:uuid:9b8e1c2a-0000-4000-8000-00000000000a",
        "urn:uuid:9b8e1c2a-0000-4000-8000-00000000000b",
    )

    def linked(other: str) -> dict[str, Any]:
        return {
            "resourceType": "Patient",
            "identifier": [_identifier("urn:hostile|loop")],
            "link": [{"other": {"reference": other}, "type": "seealso"}],
        }

    bundle = tx(
        [
            {"fullUrl": first, "resource": linked(second), "request": {"method": "POST", "url": "Patient"}},
            {"fullUrl": second, "resource": linked(first), "request": {"method": "POST", "url": "Patient"}},
        ]
    )
    result = importing(world, here, {"loop.json": orjson.dumps(bundle)})
    assert result.exit_code == 0, result.output
    found = world.client.get("/fhir/Patient?identifier=urn:hostile|loop").json()["entry"]
    links = {e["resource"]["id"]: e["resource"]["link"][0]["other"]["reference"] for e in found}
    assert len(links) == 2, links
    a, b = sorted(links)
    assert links == {a: f"Patient/{b}", b: f"Patient/{a}"}


def test_a_transaction_reading_resources_reports_only_what_it_wrote(world: World, here: Path) -> None:
    """A GET entry in a transaction reads resources: they are not "written" (the report's
    counts, the state file and the audit trail's resource count say what the file loaded)."""
    bundle = tx([put("reads-1"), {"request": {"method": "GET", "url": "Patient?_count=5"}}])
    result = importing(world, here, {"reads.json": orjson.dumps(bundle)})
    assert result.exit_code == 0, result.output
    assert world.exists("Patient/reads-1")
    assert f"imported  {here / 'in' / 'reads.json'}  1 resources" in result.output, result.output
    assert world.read("Patient/twin-1")["meta"]["versionId"] == "1"


def test_bulk_data_manifest_lookalikes_are_ignored_and_never_followed(world: World, here: Path) -> None:
    """A ``.json`` with ``output`` and no ``resourceType`` is a Bulk Data manifest (documented:
    reported as ignored); the files its ``output`` names — here outside the paths given — are
    never read."""
    outside = here / "outside"
    outside.mkdir()
    (outside / "secret.ndjson").write_bytes(line(pt("manifest-secret")))
    manifest = {
        "transactionTime": STAMP,
        "request": "http://example.org/fhir/$export",
        "requiresAccessToken": False,
        "output": [
            {"type": "Patient", "url": (outside / "secret.ndjson").as_uri()},
            {"type": "Patient", "url": "../outside/secret.ndjson"},
        ],
        "error": [],
    }
    lookalike = {"output": "x", "type": "collection", "entry": [{"resource": pt("manifest-entry")}]}
    good, content, ref = good_file("manifest")
    result = importing(
        world,
        here,
        {"manifest.json": orjson.dumps(manifest), "lookalike.json": orjson.dumps(lookalike), good: content},
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("ignored   ") == 2, result.output
    assert world.exists(ref)
    assert not world.exists("Patient/manifest-secret") and not world.exists("Patient/manifest-entry")


# --------------------------------------------------------------------------- portability ZIPs


def zipped(
    members: list[tuple[str, bytes]],
    *,
    files: Any = None,
    unlisted: list[tuple[str, bytes]] | None = None,
    method: int = zipfile.ZIP_DEFLATED,
    manifest: dict[str, Any] | None = None,
) -> bytes:
    """A ``hygie-record`` version 1 archive: the manifest (``files`` replaces its list), then the
    members in order (``unlisted``: written but not listed)."""
    listed = [
        {"path": n, "sha256": hashlib.sha256(d).hexdigest(), "bytes": len(d), "resources": None}
        for n, d in members
    ]
    content = {
        "format": "hygie-record",
        "version": 1,
        "created": STAMP,
        "generator": "hostile test",
        "scope": {"patient": "x"},
        "language": "en",
        "files": listed if files is None else files,
        **(manifest or {}),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names, on purpose
        archive.writestr("manifest.json", json.dumps(content).encode())  # json: numbers beyond 64 bits
        for name, data in members + (unlisted or []):
            archive.writestr(name, data)
    return buffer.getvalue()


def _patched(
    data: bytes,
    member: str,
    *,
    central: dict[int, tuple[str, int]],
    local: dict[int, tuple[str, int]] | None = None,
) -> bytes:
    """``data`` with fields of ``member``'s central directory header (and local header) overwritten:
    ``{offset: (struct format, value)}``."""
    out = bytearray(data)
    for signature, name_at, fields in ((b"PK\x01\x02", 46, central), (b"PK\x03\x04", 30, local or {})):
        length_at = 28 if signature == b"PK\x01\x02" else 26
        start, hit = 0, False
        while (start := out.find(signature, start)) >= 0:
            length = struct.unpack_from("<H", out, start + length_at)[0]
            if bytes(out[start + name_at : start + name_at + length]) == member.encode():
                for offset, (fmt, value) in fields.items():
                    struct.pack_into(fmt, out, start + offset, value)
                hit = True
                break
            start += 4
        assert hit or not fields, member
    return bytes(out)


def _record(case: str, extra: list[tuple[str, bytes]] | None = None) -> list[tuple[str, bytes]]:
    """Members of a sound record: a Patient ``<case>-1`` and a document."""
    return [
        ("fhir/Patient.ndjson", line(pt(f"{case}-1", meta={"versionId": "2", "lastUpdated": STAMP}))),
        ("documents/letter.txt", f"Dear {case}, ".encode() * 50),
        *(extra or []),
    ]


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _zip_case(case: str) -> bytes:
    members = _record(case)
    patient = members[0][1]
    entry = {"path": "fhir/Patient.ndjson", "sha256": _digest(patient), "bytes": len(patient)}
    letter = {"path": members[1][0], "sha256": _digest(members[1][1]), "bytes": len(members[1][1])}
    deflated = zipped(members)
    builders: dict[str, Any] = {
        "zip-duplicate-members": lambda: zipped(
            members, unlisted=[("fhir/Patient.ndjson", line(pt(f"{case}-2")))]
        ),
        "zip-files-not-objects": lambda: zipped(members, files=[1, "fhir/Patient.ndjson", None]),
        "zip-files-object": lambda: zipped(members, files={"fhir/Patient.ndjson": entry}),
        "zip-bytes-negative": lambda: zipped(members, files=[{**entry, "bytes": -1}, letter]),
        "zip-bytes-huge": lambda: zipped(members, files=[{**entry, "bytes": 10**30}, letter]),
        "zip-bytes-boolean": lambda: zipped(members, files=[{**entry, "bytes": True}, letter]),
        "zip-bytes-float": lambda: zipped(members, files=[{**entry, "bytes": float(len(patient))}, letter]),
        "zip-sha256-number": lambda: zipped(members, files=[{**entry, "sha256": 5}, letter]),
        "zip-sha256-list": lambda: zipped(members, files=[{**entry, "sha256": [entry["sha256"]]}, letter]),
        "zip-sha256-wrong": lambda: zipped(members, files=[{**entry, "sha256": "0" * 64}, letter]),
        "zip-path-number": lambda: zipped(members, files=[{**entry, "path": 5}, letter]),
        "zip-lists-the-manifest": lambda: zipped(
            members, files=[entry, letter, {**entry, "path": "manifest.json"}]
        ),
        "zip-member-absent": lambda: zipped(
            members, files=[entry, letter, {**letter, "path": "documents/scan.pdf"}]
        ),
        "zip-member-unlisted": lambda: zipped(members, unlisted=[("documents/extra.txt", b"x")]),
        "zip-format-other": lambda: zipped(members, manifest={"format": "hygie-export"}),
        "zip-version-2": lambda: zipped(members, manifest={"version": 2}),
        "zip-no-manifest": lambda: _without_manifest(members),
        # a member's declared size smaller than its content: the CRC check fails, nothing more is read
        "zip-size-lies-small": lambda: _patched(deflated, "documents/letter.txt", central={24: ("<I", 10)}),
        "zip-manifest-size-lies-small": lambda: _patched(deflated, "manifest.json", central={24: ("<I", 10)}),
        "zip-bad-crc": lambda: _patched(deflated, "fhir/Patient.ndjson", central={16: ("<I", 1234)}),
        "zip-truncated": lambda: deflated[: len(deflated) // 2],
        # encryption (flag bit 0) and a compression method nobody implements (99: AES)
        "zip-encrypted-document": lambda: _patched(deflated, "documents/letter.txt", central={8: ("<H", 1)}),
        "zip-encrypted-fhir": lambda: _patched(deflated, "fhir/Patient.ndjson", central={8: ("<H", 1)}),
        "zip-encrypted-manifest": lambda: _patched(deflated, "manifest.json", central={8: ("<H", 1)}),
        "zip-method-99-document": lambda: _patched(
            deflated, "documents/letter.txt", central={10: ("<H", 99)}, local={8: ("<H", 99)}
        ),
        "zip-method-99-manifest": lambda: _patched(
            deflated, "manifest.json", central={10: ("<H", 99)}, local={8: ("<H", 99)}
        ),
        # names no hygie-record holds: refused, whatever part of the archive they are in
        "zip-name-dotdot": lambda: zipped(_record(case, [("../escape.ndjson", line(pt(f"{case}-2")))])),
        "zip-name-dotdot-inside": lambda: zipped(_record(case, [("fhir/../../escape.txt", b"x")])),
        "zip-name-absolute": lambda: zipped(_record(case, [("/tmp/escape.txt", b"x")])),
        "zip-name-backslash": lambda: zipped(
            _record(case, [("fhir\\Observation.ndjson", line(obs(f"{case}-2")))])
        ),
        "zip-name-backslash-dotdot": lambda: zipped(
            _record(case, [("fhir/..\\Observation.ndjson", line(obs(f"{case}-2")))])
        ),
        # data under fhir/ that the importer would not load: refused, not silently dropped
        "zip-fhir-json": lambda: zipped(
            _record(case, [("fhir/Observation.json", orjson.dumps(obs(f"{case}-2")))])
        ),
        "zip-fhir-gzip": lambda: zipped(
            _record(case, [("fhir/Observation.ndjson.gz", gzip.compress(line(obs(f"{case}-2"))))])
        ),
        "zip-fhir-subfolder": lambda: zipped(
            _record(case, [("fhir/old/Observation.ndjson", line(obs(f"{case}-2")))])
        ),
        "zip-fhir-text": lambda: zipped(_record(case, [("fhir/README.txt", b"see the ndjson files")])),
        "zip-fhir-bad-line": lambda: zipped(
            _record(case, [("fhir/Observation.ndjson", line(obs(f"{case}-2")) + b"{\n")])
        ),
    }
    return bytes(builders[case]())


def _without_manifest(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


ZIP_REFUSED: list[tuple[str, tuple[str, ...]]] = [
    ("zip-duplicate-members", ("400", "duplicate")),
    ("zip-files-not-objects", ("400", "manifest.json")),
    ("zip-files-object", ("400", "manifest.json")),
    ("zip-bytes-negative", ("400", "fhir/Patient.ndjson")),
    ("zip-bytes-huge", ("400",)),
    ("zip-bytes-boolean", ("400", "manifest.json")),
    ("zip-bytes-float", ("400", "manifest.json")),
    ("zip-sha256-number", ("400", "manifest.json")),
    ("zip-sha256-list", ("400", "manifest.json")),
    ("zip-sha256-wrong", ("400", "fhir/Patient.ndjson", "SHA-256")),
    ("zip-path-number", ("400", "manifest.json")),
    ("zip-lists-the-manifest", ("400", "manifest.json")),
    ("zip-member-absent", ("400", "documents/scan.pdf")),
    ("zip-member-unlisted", ("400", "documents/extra.txt")),
    ("zip-format-other", ("400", "manifest.json")),
    ("zip-version-2", ("400", "manifest.json")),
    ("zip-no-manifest", ("400", "manifest.json")),
    ("zip-size-lies-small", ("documents/letter.txt",)),
    ("zip-manifest-size-lies-small", ("manifest.json",)),
    ("zip-bad-crc", ("fhir/Patient.ndjson",)),
    ("zip-truncated", ("ZIP",)),
    ("zip-encrypted-document", ("documents/letter.txt", "encrypted")),
    ("zip-encrypted-fhir", ("fhir/Patient.ndjson", "encrypted")),
    ("zip-encrypted-manifest", ("manifest.json", "encrypted")),
    ("zip-method-99-document", ("documents/letter.txt", "compression")),
    ("zip-method-99-manifest", ("manifest.json", "compression")),
    ("zip-name-dotdot", ("../escape.ndjson",)),
    ("zip-name-dotdot-inside", ("fhir/../../escape.txt",)),
    ("zip-name-absolute", ("/tmp/escape.txt",)),
    ("zip-name-backslash", ("fhir\\Observation.ndjson",)),
    ("zip-name-backslash-dotdot", ("fhir/..\\Observation.ndjson",)),
    ("zip-fhir-json", ("fhir/Observation.json",)),
    ("zip-fhir-gzip", ("fhir/Observation.ndjson.gz",)),
    ("zip-fhir-subfolder", ("fhir/old/Observation.ndjson",)),
    ("zip-fhir-text", ("fhir/README.txt",)),
    ("zip-fhir-bad-line", ("fhir/Observation.ndjson line 2: 400",)),
]


@pytest.mark.parametrize(("case", "fragments"), ZIP_REFUSED, ids=[c[0] for c in ZIP_REFUSED])
def test_a_bad_portability_zip_is_refused_whole(
    world: World, here: Path, case: str, fragments: tuple[str, ...]
) -> None:
    absent = [f"Patient/{case}-1", f"Patient/{case}-2", f"Observation/{case}-2"]
    refused_beside_a_good_file(world, here, case, f"{case}.zip", _zip_case(case), fragments, absent)
    assert not Path("/tmp/escape.txt").exists() and not (here / "escape.ndjson").exists()


def test_zips_that_are_odd_but_sound_are_imported(world: World, here: Path) -> None:
    """Directory entries, a ZIP among the documents (never opened), BZIP2 members, a member
    whose header claims more bytes than it holds (the manifest's size and SHA-256 vouch for
    the content), thousands of tiny members."""
    inner = zipped(_record("zip-inner"))
    many = [(f"documents/page-{n:05d}.txt", b"%d" % n) for n in range(2500)]
    basics = [
        (
            f"fhir/Basic-{n:03d}.ndjson",
            line({"resourceType": "Basic", "id": f"zip-many-{n}", "code": {"text": "x"}}),
        )
        for n in range(150)
    ]
    directories = zipped(_record("zip-dirs"), unlisted=[("fhir/", b""), ("documents/old/", b"")])
    claims_more = _patched(
        zipped(_record("zip-claims")), "documents/letter.txt", central={24: ("<I", 100_000)}
    )
    files = {
        "dirs.zip": directories,
        "nested.zip": zipped(_record("zip-nested", [("documents/inner.zip", inner)])),
        "bzip2.zip": zipped(_record("zip-bzip2"), method=zipfile.ZIP_BZIP2),
        "claims-more.zip": claims_more,
        "many.zip": zipped(_record("zip-many", many + basics), method=zipfile.ZIP_STORED),
    }
    result = importing(world, here, files)
    assert result.exit_code == 0, result.output
    assert "5 file(s) imported" in result.output, result.output
    for case in ("zip-dirs", "zip-nested", "zip-bzip2", "zip-claims", "zip-many"):
        assert world.read(f"Patient/{case}-1")["meta"] == {"versionId": "2", "lastUpdated": STAMP}
    assert not world.exists("Patient/zip-inner-1")  # the inner ZIP is a document, not data
    assert world.count("Basic") == 150


# --------------------------------------------------------------------------- paths and folders


def process(world: World, here: Path, *args: str, state: str = "state.json") -> subprocess.Popen[bytes]:
    """The real command, ``python -m hygie import --state here/STATE ARGS…``, started."""
    env = {
        **os.environ,
        "HYGIE_DATABASE_URL": world.settings.database_url,
        "HYGIE_KEYS_DIR": str(world.settings.keys_dir),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "hygie", "import", "--state", str(here / state), *args],
        cwd=here,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def finished(child: subprocess.Popen[bytes], what: str, deadline: float | None = None) -> tuple[int, str]:
    """(exit code, output) of a command that must end by itself (by ``deadline``, a
    :func:`time.monotonic` time; default :data:`PROCESS_TIMEOUT` from now); one still running
    then is killed and fails the test."""
    left = PROCESS_TIMEOUT if deadline is None else max(0.1, deadline - time.monotonic())
    try:
        out, _ = child.communicate(timeout=left)
    except subprocess.TimeoutExpired:
        child.kill()
        out, _ = child.communicate()
        pytest.fail(
            f"hygie import {what} still running after {PROCESS_TIMEOUT} s (killed): {out.decode()[-500:]}"
        )
    text = out.decode(errors="replace")
    assert "Traceback" not in text, text
    return child.returncode, text


def test_a_fifo_or_a_device_named_on_the_command_line_does_not_block(world: World, here: Path) -> None:
    """A named pipe nobody writes to, and ``/dev/zero`` behind a ``.ndjson`` name: reading
    either would never end. They are not regular files: each is reported, the next file goes on."""
    folder = here / "in"
    folder.mkdir()
    os.mkfifo(folder / "pipe.ndjson")
    (folder / "zero.ndjson").symlink_to("/dev/zero")
    write(folder, {"ok-pipe.ndjson": line(pt("ok-pipe")), "ok-zero.ndjson": line(pt("ok-zero"))})
    deadline = time.monotonic() + PROCESS_TIMEOUT
    children = {
        "pipe": process(world, here, "in/pipe.ndjson", "in/ok-pipe.ndjson", state="pipe-state.json"),
        "zero": process(world, here, "in/zero.ndjson", "in/ok-zero.ndjson", state="zero-state.json"),
    }
    try:
        for name, child in children.items():
            code, out = finished(child, f"in/{name}.ndjson", deadline)
            failed = [text for text in out.splitlines() if text.startswith("FAILED")]
            assert code == 1 and len(failed) == 1 and f"in/{name}.ndjson" in failed[0], out
            assert world.exists(f"Patient/ok-{name}"), out
    finally:
        for child in children.values():  # never leave a reader of /dev/zero behind
            if child.poll() is None:
                child.kill()
            child.communicate()


def test_the_real_command_prints_readable_reasons(world: World, here: Path) -> None:
    """In its own process (where only the import's modules are loaded) the command prints the
    same sentences as the API, not message keys."""
    write(
        here / "in",
        {
            "a-array.ndjson": b"[1]\n",
            "b-type.ndjson": b'{"resourceType":"Nope","id":"keys-1"}\n',
            "c-good.ndjson": line(pt("keys-good")),
        },
    )
    code, out = finished(process(world, here, "in"), "in")
    failed = [text for text in out.splitlines() if text.startswith("FAILED")]
    assert code == 1 and len(failed) == 2, out
    for reason in failed:
        assert_clear(reason)
    assert "JSON object" in failed[0] and "Nope" in failed[1], failed
    assert world.exists("Patient/keys-good")


def test_a_folder_with_loops_pipes_devices_and_broken_links(world: World, here: Path) -> None:
    """Symbolic links to the folder itself and to its parent (loops), a FIFO, a device and a
    broken link among the files, a directory named like an NDJSON file: the walk ends, the
    regular files are imported, the rest is skipped."""
    folder = here / "in"
    write(folder, {"a.ndjson": line(pt("walk-a")), "dir.ndjson/b.ndjson": line(pt("walk-b"))})
    (folder / "self").symlink_to(folder)
    (folder / "parent").symlink_to("..")
    (folder / "dir.ndjson" / "back").symlink_to("../..")
    os.mkfifo(folder / "pipe.ndjson")
    (folder / "zero.ndjson").symlink_to("/dev/zero")
    (folder / "broken.ndjson").symlink_to(here / "nowhere.ndjson")
    code, out = finished(process(world, here, "in"), "in")
    assert code == 0, out
    assert "2 file(s) imported" in out, out
    assert world.exists("Patient/walk-a") and world.exists("Patient/walk-b")


def test_a_link_out_of_the_folder_is_not_followed(world: World, here: Path) -> None:
    """A symbolic link inside the folder to a file outside it: nothing outside the paths given
    is read (as for a link to a folder outside, which the walk already does not follow); the
    link is reported, not silently loaded."""
    outside = here / "outside"
    write(outside, {"secret.ndjson": line(pt("link-secret")), "sub/deep.ndjson": line(pt("link-deep"))})
    folder = here / "in"
    write(folder, {"a.ndjson": line(pt("link-a"))})
    (folder / "secret.ndjson").symlink_to(outside / "secret.ndjson")
    (folder / "sub").symlink_to(outside / "sub")
    _, out = finished(process(world, here, "in"), "in")
    assert world.exists("Patient/link-a"), out
    assert not world.exists("Patient/link-deep"), out
    assert not world.exists("Patient/link-secret"), f"read through a link out of the folder:\n{out}"
    reported = [text for text in out.splitlines() if "secret.ndjson" in text]
    assert reported and reported[0].startswith(("ignored", "FAILED")), out


def test_an_unreadable_file(world: World, here: Path) -> None:
    """Mode 000: refused with its name (as root, where permission bits do not apply, read)."""
    files = {"locked.ndjson": line(pt("locked-1")), "z-open.ndjson": line(pt("locked-ok"))}
    paths = write(here / "in", files)
    paths[0].chmod(0)
    try:
        result = run(world.settings, "--state", str(here / "state.json"), *map(str, paths))
    finally:
        paths[0].chmod(0o600)
    crash_free(result)
    assert world.exists("Patient/locked-ok")
    if os.geteuid() == 0:
        assert result.exit_code == 0 and world.exists("Patient/locked-1"), result.output
        return
    reason = assert_refused(result, "locked.ndjson", "ermission")
    assert not world.exists("Patient/locked-1"), reason


def test_a_path_that_does_not_exist_is_a_usage_error(world: World, here: Path) -> None:
    """Checked before anything is imported (exit code 2, the path named)."""
    write(here / "in", {"a.ndjson": line(pt("missing-a"))})
    result = run(
        world.settings,
        "--state",
        str(here / "state.json"),
        str(here / "in" / "nope.ndjson"),
        str(here / "in" / "a.ndjson"),
    )
    crash_free(result)
    assert result.exit_code == 2, result.output
    flat = re.sub(r"[\s│╭╮╰╯─]+", "", result.output)  # the usage error is boxed and wrapped
    assert f"{here / 'in' / 'nope.ndjson'}'doesnotexist".replace(" ", "") in flat, result.output
    assert not world.exists("Patient/missing-a")
    assert not (here / "state.json").exists()


# --------------------------------------------------------------------------- the state file


def _state_run(world: World, here: Path, state: Path, case: str, *options: str) -> Result:
    path = write(here / "in", {f"{case}.ndjson": line(pt(f"state-{case}"))})[0]
    result = run(world.settings, "--state", str(state), *options, str(path))
    crash_free(result)
    return result


def _assert_state_refused(world: World, result: Result, case: str, state: Path) -> None:
    assert result.exit_code == 2, result.output
    assert f"error: {state}" in result.output, result.output
    assert not world.exists(f"Patient/state-{case}"), result.output


@pytest.mark.parametrize(
    ("case", "content"),
    [
        ("corrupted", b'{"format": "hygie-import-state", "files": {'),
        ("binary", b"\xff\xfe\x00garbage"),
        ("empty", b""),
        ("list", b"[]"),
        ("files-list", b'{"format": "hygie-import-state", "version": 1, "files": []}'),
        ("other-format", b'{"format": "something-else", "files": {}}'),
    ],
)
def test_a_state_file_that_is_not_one_stops_before_anything(
    world: World, here: Path, case: str, content: bytes
) -> None:
    state = here / "state-file.json"
    state.write_bytes(content)
    result = _state_run(world, here, state, case)
    _assert_state_refused(world, result, case, state)
    assert state.read_bytes() == content  # left as it was


def test_a_state_file_whose_entries_are_not_objects(world: World, here: Path) -> None:
    """Right format, but the entry of the very file being imported is a string."""
    state = here / "state-file.json"
    path = (here / "in" / "entries.ndjson").resolve()
    content = orjson.dumps({"format": "hygie-import-state", "version": 1, "files": {str(path): "garbage"}})
    state.write_bytes(content)
    result = _state_run(world, here, state, "entries")
    _assert_state_refused(world, result, "entries", state)


@pytest.mark.parametrize("restart", [False, True], ids=["resume", "restart"])
def test_a_state_file_that_is_a_directory(world: World, here: Path, restart: bool) -> None:
    state = here / "state-dir"
    state.mkdir()
    (state / "keep.txt").write_bytes(b"x")
    case = f"directory-{restart}".lower()
    result = _state_run(world, here, state, case, *(["--restart"] if restart else []))
    _assert_state_refused(world, result, case, state)
    assert (state / "keep.txt").read_bytes() == b"x"


def test_a_state_file_under_a_regular_file(world: World, here: Path) -> None:
    """``--state some-file/state.json``: it can never be written; said before anything is
    imported (a file imported and then a crash would leave the state behind the database)."""
    (here / "some-file").write_bytes(b"x")
    state = here / "some-file" / "state.json"
    result = _state_run(world, here, state, "under-file")
    _assert_state_refused(world, result, "under-file", state)


def test_a_state_file_in_a_missing_folder_is_created(world: World, here: Path) -> None:
    state = here / "new" / "folder" / "state.json"
    result = _state_run(world, here, state, "new-folder")
    assert result.exit_code == 0, result.output
    assert world.exists("Patient/state-new-folder")
    assert list(orjson.loads(state.read_bytes())["files"]) == [
        str((here / "in" / "new-folder.ndjson").resolve())
    ]
