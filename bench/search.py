"""Search latency benchmark: the 30 query shapes of the public FHIR search benchmarks at 1× and N×.

Search semantics: https://hl7.org/fhir/R4/search.html (string, token, date prefixes, reference
chains, ``_has``, ``_include``/``_revinclude``, ``_sort``, paging links, ``_summary``, ``_total``).
The shapes follow the mock.health / Health Samurai search benchmarks (patient name and address,
``:contains``, birthdate / Observation / Encounter dates with the prefixes, Observation code and
category tokens, chains, includes, sort, paging).

The corpus is the shared Synthea transaction Bundles; a scale of N loads N copies, copy ``k > 0``
having every UUID (``fullUrl``, ``urn:uuid:`` references, Synthea identifiers) replaced by
``uuid5(namespace(k), uuid)``, so each copy is internally consistent and distinct from the others.
Query values are drawn from the corpus itself (a real family name, city, birth date, LOINC code…)
and a real server-assigned Patient id, identical at every scale. Latency, not throughput: every
shape runs ``repeat`` times over one keep-alive connection, round after round, after one
unrecorded warm-up round.
"""

from __future__ import annotations

import re
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import orjson

from bench.importer import BundleFile
from bench.loadgen import Budget, Client, Recorder, summarize

UUID_RE = re.compile(rb"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
COPY_NAMESPACE = uuid.UUID("6f1d3b7e-2a55-4c1e-9a41-5b0c8f7d2e10")
PAGING_FOLLOW = 3  # `next` links followed by the paging shape


# --------------------------------------------------------------------------- corpus scaling


def copy_namespace(copy: int) -> uuid.UUID:
    """The uuid5 namespace of copy number ``copy`` (copy 0 is the original corpus)."""
    return uuid.uuid5(COPY_NAMESPACE, f"copy-{copy}")


def duplicate_bundle(raw: bytes, copy: int) -> bytes:
    """The bundle with every UUID replaced consistently for copy ``copy`` (0: unchanged)."""
    if copy == 0:
        return raw
    namespace = copy_namespace(copy)
    cache: dict[bytes, bytes] = {}

    def swap(match: re.Match[bytes]) -> bytes:
        old = match.group(0).lower()
        new = cache.get(old)
        if new is None:
            new = cache[old] = str(uuid.uuid5(namespace, old.decode("ascii"))).encode("ascii")
        return new

    return UUID_RE.sub(swap, raw)


def scaled_bundles(bundles: list[BundleFile], scale: int) -> list[BundleFile]:
    """``scale`` copies of the corpus, copy by copy (copy 0 first)."""
    return [
        BundleFile(f"{b.name}#{copy}" if copy else b.name, duplicate_bundle(b.body, copy), b.entries)
        for copy in range(scale)
        for b in bundles
    ]


# --------------------------------------------------------------------------- query values


@dataclass(slots=True)
class Sample:
    """Query values drawn from the corpus (and one server-assigned Patient id)."""

    family: str
    city: str
    birthdate: str  # YYYY-MM-DD
    obs_day: str  # YYYY-MM-DD of a real Observation.effectiveDateTime
    enc_day: str  # YYYY-MM-DD of a real Encounter.period.start
    loinc: str  # most frequent Observation LOINC code
    condition: str  # most frequent Condition SNOMED CT code
    patient_id: str = ""


def _first_coding(resource: dict[str, Any], system: str) -> str | None:
    for coding in resource.get("code", {}).get("coding", []):
        if coding.get("system") == system and coding.get("code"):
            return str(coding["code"])
    return None


def _midday(value: Any) -> bool:
    """A UTC dateTime between 10:00 and 14:59, so that its day is the same day in any European zone."""
    return (isinstance(value, str) and len(value) >= 19 and value[10] == "T" and value[11:13].isdigit()
            and 10 <= int(value[11:13]) <= 14 and value.endswith(("Z", "+00:00")))


def sample_corpus(bundles: Iterable[BundleFile]) -> Sample:
    """Values from the first bundle's Patient and the corpus' most frequent codes."""
    loinc: Counter[str] = Counter()
    snomed: Counter[str] = Counter()
    first: dict[str, str] = {}
    for bundle in bundles:
        for entry in orjson.loads(bundle.body).get("entry", []):
            resource = entry.get("resource", {})
            kind = resource.get("resourceType")
            if kind == "Observation":
                code = _first_coding(resource, "http://loinc.org")
                if code:
                    loinc[code] += 1
                if "obs" not in first and _midday(resource.get("effectiveDateTime")):
                    first["obs"] = resource["effectiveDateTime"][:10]
            elif kind == "Condition":
                code = _first_coding(resource, "http://snomed.info/sct")
                if code:
                    snomed[code] += 1
            elif kind == "Encounter" and "enc" not in first:
                start = resource.get("period", {}).get("start")
                if _midday(start):
                    first["enc"] = str(start)[:10]
            elif kind == "Patient" and "family" not in first:
                name = resource.get("name", [{}])[0]
                first["family"] = str(name.get("family", ""))
                first["city"] = str(resource.get("address", [{}])[0].get("city", ""))
                first["birthdate"] = str(resource.get("birthDate", ""))
    if not (loinc and snomed and {"obs", "enc", "family"} <= first.keys()):
        raise ValueError("the corpus lacks Patients, Observations, Encounters or Conditions to sample")
    return Sample(
        family=first["family"], city=first["city"], birthdate=first["birthdate"], obs_day=first["obs"],
        enc_day=first["enc"], loinc=loinc.most_common(1)[0][0], condition=snomed.most_common(1)[0][0],
    )


# --------------------------------------------------------------------------- the 30 shapes


def _plus_days(day: str, days: int) -> str:
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()


def shapes(s: Sample) -> dict[str, str]:
    """The 30 query shapes (name → path and query of the first request), values from ``s``."""
    year = s.birthdate[:4]
    fam = quote(s.family)
    frag = quote(s.family[1:4].lower())
    loinc = quote(f"http://loinc.org|{s.loinc}", safe="")
    pid = quote(s.patient_id)
    return {
        "Patient name": f"/fhir/Patient?name={fam}",
        "Patient family:contains": f"/fhir/Patient?family:contains={frag}",
        "Patient address-city": f"/fhir/Patient?address-city={quote(s.city)}",
        "Patient address:contains": f"/fhir/Patient?address:contains={quote(s.city[:4].lower())}",
        "Patient birthdate eq": f"/fhir/Patient?birthdate=eq{s.birthdate}",
        "Patient birthdate lt": f"/fhir/Patient?birthdate=lt{year}",
        "Patient birthdate gt": f"/fhir/Patient?birthdate=gt{year}",
        "Patient birthdate ge": f"/fhir/Patient?birthdate=ge{year}-01-01",
        "Patient birthdate le": f"/fhir/Patient?birthdate=le{year}-12-31",
        "Patient birthdate sa": f"/fhir/Patient?birthdate=sa{year}",
        "Patient birthdate eb": f"/fhir/Patient?birthdate=eb{year}",
        "Observation date eq": f"/fhir/Observation?date=eq{s.obs_day}",
        "Observation date ge+lt": f"/fhir/Observation?date=ge{s.obs_day}&date=lt{_plus_days(s.obs_day, 30)}",
        "Observation date gt": f"/fhir/Observation?date=gt{s.obs_day}",
        "Encounter date eq": f"/fhir/Encounter?date=eq{s.enc_day}",
        "Encounter date ge+lt": f"/fhir/Encounter?date=ge{s.enc_day}&date=lt{_plus_days(s.enc_day, 365)}",
        "Encounter date le": f"/fhir/Encounter?date=le{s.enc_day}",
        "Observation code": f"/fhir/Observation?code={loinc}",
        "Observation category": "/fhir/Observation?category=vital-signs",
        "Observation code _sort=-date": f"/fhir/Observation?code={loinc}&_sort=-date&_count=10",
        "Observation value-quantity gt": "/fhir/Observation?value-quantity=gt100",
        "Observation subject:Patient.name": f"/fhir/Observation?subject:Patient.name={fam}",
        "Observation patient": f"/fhir/Observation?patient=Patient/{pid}",
        "Patient _has:Observation": f"/fhir/Patient?_has:Observation:patient:code={loinc}",
        "Encounter _include": f"/fhir/Encounter?patient={pid}&_include=Encounter:patient",
        "Patient _revinclude": f"/fhir/Patient?_id={pid}&_revinclude=Encounter:patient",
        "Observation paging (next ×3)": "/fhir/Observation?category=vital-signs&_count=50",
        "Observation _summary=count": "/fhir/Observation?category=vital-signs&_summary=count",
        "Observation _total=none": f"/fhir/Observation?code={loinc}&_total=none",
        "Condition code": f"/fhir/Condition?code={quote(f'http://snomed.info/sct|{s.condition}', safe='')}",
    }


PAGING_SHAPE = "Observation paging (next ×3)"


def next_path(body: bytes) -> str | None:
    """Path and query of the Bundle's ``next`` link, or ``None``."""
    try:
        bundle = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    for link in bundle.get("link", []) if isinstance(bundle, dict) else []:
        if link.get("relation") == "next" and isinstance(link.get("url"), str):
            parts = urlsplit(link["url"])
            return str(parts.path) + (f"?{parts.query}" if parts.query else "")
    return None


def _matches(body: bytes) -> int | None:
    try:
        bundle = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(bundle, dict):
        return None
    total = bundle.get("total")
    if isinstance(total, int):
        return total
    return sum(1 for e in bundle.get("entry", []) if e.get("search", {}).get("mode", "match") == "match")


# --------------------------------------------------------------------------- the run


@dataclass
class SearchRun:
    """Latencies per shape (recorder) and what the warm-up round saw."""

    recorder: Recorder
    paths: dict[str, str]
    matches: dict[str, int | None] = field(default_factory=dict)
    first_errors: dict[str, str] = field(default_factory=dict)
    wall_s: float = 0.0


async def find_patient_id(client: Client, s: Sample) -> str:
    """The server-assigned id of the sampled Patient (unrecorded lookup)."""
    response = await client.request(
        "_lookup", "GET", f"/fhir/Patient?family={quote(s.family)}&birthdate={s.birthdate}&_count=1"
    )
    entries = orjson.loads(response.body).get("entry", []) if response.status == 200 else []
    if not entries:
        raise RuntimeError(f"sampled Patient {s.family} {s.birthdate} not found: {response.status}")
    return str(entries[0]["resource"]["id"])


async def _one(client: Client, name: str, path: str) -> tuple[int, bytes]:
    response = await client.request(name, "GET", path)
    first = (response.status, response.body)
    if name == PAGING_SHAPE:
        body = response.body
        for _ in range(PAGING_FOLLOW):
            follow = next_path(body) if response.status == 200 else None
            if follow is None:
                break
            response = await client.request(name, "GET", follow)
            body = response.body
    return first


async def run_shapes(host: str, port: int, sample: Sample, repeat: int) -> SearchRun:
    """Warm up once, then run every shape ``repeat`` times, round-robin, on one connection."""
    lookup = Client(host, port, Recorder(), Budget(float("inf"), None), timeout=120.0)
    try:
        sample.patient_id = await find_patient_id(lookup, sample)
    finally:
        await lookup.close()
    paths = shapes(sample)
    run = SearchRun(Recorder(), paths)
    warm = Client(host, port, Recorder(), Budget(float("inf"), None), timeout=120.0)
    try:
        for name, path in paths.items():
            status, body = await _one(warm, name, path)
            run.matches[name] = _matches(body) if status == 200 else None
            if status != 200:
                run.first_errors[name] = f"{status}: {body[:300].decode('utf-8', 'replace')}"
    finally:
        await warm.close()
    client = Client(host, port, run.recorder, Budget(float("inf"), None), timeout=120.0)
    started = time.perf_counter()
    try:
        for _ in range(repeat):
            for name, path in paths.items():
                await _one(client, name, path)
    finally:
        await client.close()
    run.wall_s = time.perf_counter() - started
    return run


def summary(run: SearchRun, cpu_s: float) -> dict[str, Any]:
    """Loadgen-style summary (overall and per shape), in the shapes' order, plus result sizes."""
    block = summarize(run.recorder, run.wall_s, cpu_s, 1)
    per_op = block["per_op"]
    block["per_op"] = {name: {**per_op[name], "matches": run.matches.get(name), "query": run.paths[name]}
                       for name in run.paths if name in per_op}
    return block
