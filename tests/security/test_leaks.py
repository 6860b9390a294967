"""The leak suite: every query feature, for every role, answers exactly what the role may see.

Spec of the rules: hygie/auth/policy.py; the world and the model: tests/security/leak_world.py;
the matrix of roles × features and how to run it: docs/security-leaks.md. Lessons from other
servers covered: ``_has`` revealing values (HAPI #6065), chains skipping policy (Medplum #9973),
compartments leaking through ``_include`` (Microsoft FHIR server PR #5683), batch entries skipping
rules (HAPI #727), cross-tenant reads through ``_history``/vread. Bulk ``$export`` (HAPI #3394)
does not exist yet.

Every test runs the whole table for every role and reports every mismatch at once. Besides the
exact expected answer, every response body (2xx or 4xx) is scanned for the markers of the
versions the role may not see (:meth:`Probe.call`). The world is loaded once per backend
(module-scoped database); the write tests get a fresh copy of it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import PostgresDatabases
from tests.security.leak_probe import Probe, ids, matches, open_world, ordered
from tests.security.leak_world import (
    CODE_SYSTEM,
    ID_SYSTEM,
    MEMBERS,
    PATIENTS,
    ROLES,
    SUPPORTING,
    Item,
    Role,
    World,
)

Problems = list[str]


def _fresh_url(request: pytest.FixtureRequest, backend: str, directory: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{(directory / 'hygie.db').as_posix()}"
        return
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    url = databases.create()
    try:
        yield url
    finally:
        databases.drop(url)


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ],
)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One database per backend for the read-only tests of this module (loaded once)."""
    yield from _fresh_url(request, request.param, tmp_path_factory.mktemp("leaks"))


@pytest.fixture(scope="module")
def probe(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Probe]:
    with open_world(database_url, tmp_path_factory.mktemp("keys")) as opened:
        yield opened


@pytest.fixture
def fresh(database_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Probe]:
    """A new database of the same backend with the world loaded (for tests that write)."""
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    for url in _fresh_url(request, backend, tmp_path):
        with open_world(url, tmp_path / "keys") as opened:
            yield opened


def check(problems: Problems, probe: Probe) -> None:
    problems.extend(probe.leaks)
    probe.leaks.clear()
    assert not problems, "\n".join(problems[:60])


def absent_like(
    probe: Probe, role: Role, method: str, url: str, absent_url: str, hidden_id: str
) -> str | None:
    """None when ``url`` (naming a hidden resource) answers exactly like ``absent_url``."""
    got = probe.call(role, method, url)
    status, ref_text = probe.reference(role, method, absent_url)
    text, ref_text = got.text.replace(hidden_id, "ID"), ref_text.replace("zz-absent", "ID")
    if got.status_code != status or text != ref_text:
        return f"{role.name} {method} {url}: {got.status_code} {got.text[:200]} vs absent {status}"
    if got.status_code not in (403, 404):
        return f"{role.name} {method} {url}: {got.status_code}"
    return None


def _bundle(kind: str, urls: list[str]) -> dict[str, Any]:
    entries = [{"request": {"method": "GET", "url": url}} for url in urls]
    return {"resourceType": "Bundle", "type": kind, "entry": entries}


ROLE_LIST = list(ROLES.values())


# -- read, vread, history ------------------------------------------------------------------------------


def test_read_shows_exactly_the_visible_resources(probe: Probe) -> None:
    world, problems = probe.world, []
    for role in ROLE_LIST:
        for item in world.items.values():
            if world.sees(role, item):
                want = 410 if item.deleted else 200
                got = probe.call(role, "GET", item.key)
                if got.status_code != want:
                    problems.append(f"{role.name} GET {item.key}: {got.status_code}, expected {want}")
                continue
            absent = f"{item.type}/zz-absent"
            if (error := absent_like(probe, role, "GET", item.key, absent, item.id)) is not None:
                problems.append(error)
    check(problems, probe)


def _vread_want(world: World, role: Role, item: Item, vid: int) -> int:
    if not world.sees_version(role, item, vid):
        return 404
    return 410 if item.versions[vid - 1].body is None else 200


def test_vread_and_instance_history_follow_each_version(probe: Probe) -> None:
    """Every version (vread) and every instance history, for every role: in one batch of GET
    entries per role (the same interactions as HTTP requests: hygie/api/routes.py), where a
    hidden one must answer like an absent id of the same batch; and over HTTP for the resources
    with several versions and for one hidden resource of each type."""
    world, problems = probe.world, []
    items = list(world.items.values())
    for role in ROLE_LIST:
        urls = [f"{i.key}/_history/{v}" for i in items for v in range(1, len(i.versions) + 1)]
        urls += [f"{i.key}/_history" for i in items]
        absent = sorted({re.sub(r"^(\w+)/[^/]+", r"\1/zz-absent", u) for u in urls})
        answers = probe.call(role, "POST", "", json=_bundle("batch", urls + absent)).json()["entry"]
        by_url = dict(zip(urls + absent, answers, strict=True))
        for url in urls:
            rtype, rid = url.split("/")[:2]
            item, answer = world.item(f"{rtype}/{rid}"), by_url[url]
            status = int(answer["response"]["status"].split()[0])
            if url.endswith("_history"):
                want = {
                    f"{item.key}/{v}"
                    for v in range(1, len(item.versions) + 1)
                    if world.sees_version(role, item, v)
                }
                if world.sees(role, item):
                    if status != 200 or probe.versions(answer["resource"]) != want:
                        problems.append(f"{role.name} batch GET {url}: {status}, expected {want}")
                    continue
            elif (want_status := _vread_want(world, role, item, int(url.rsplit("/", 1)[1]))) != 404:
                if status != want_status:
                    problems.append(f"{role.name} batch GET {url}: {status}, expected {want_status}")
                continue
            reference = by_url[re.sub(r"^(\w+)/[^/]+", r"\1/zz-absent", url)]
            same = orjson.dumps(answer).decode().replace(rid, "ID")
            if same != orjson.dumps(reference).decode().replace("zz-absent", "ID"):
                problems.append(f"{role.name} batch GET {url}: {answer} vs absent {reference}")
        hidden_types: set[str] = set()
        for item in items:
            direct = len(item.versions) > 1
            if not direct and not world.sees(role, item) and item.type not in hidden_types:
                hidden_types.add(item.type)
                direct = True
            if not direct:
                continue
            for vid in range(1, len(item.versions) + 1):
                url = f"{item.key}/_history/{vid}"
                want_status = _vread_want(world, role, item, vid)
                if want_status != 404:
                    if (got := probe.call(role, "GET", url).status_code) != want_status:
                        problems.append(f"{role.name} GET {url}: {got}, expected {want_status}")
                elif error := absent_like(
                    probe, role, "GET", url, f"{item.type}/zz-absent/_history/{vid}", item.id
                ):
                    problems.append(error)
            url = f"{item.key}/_history"
            if world.sees(role, item):
                got_versions = probe.versions(probe.call(role, "GET", url).json())
                want = {
                    f"{item.key}/{v}"
                    for v in range(1, len(item.versions) + 1)
                    if world.sees_version(role, item, v)
                }
                if got_versions != want:
                    problems.append(f"{role.name} GET {url}: {got_versions}, expected {want}")
            elif error := absent_like(probe, role, "GET", url, f"{item.type}/zz-absent/_history", item.id):
                problems.append(error)
    check(problems, probe)


def _history_want(world: World, role: Role, rtype: str | None) -> set[str]:
    return {
        f"{i.key}/{vid}"
        for i in world.items.values()
        if rtype is None or i.type == rtype
        for vid in range(1, len(i.versions) + 1)
        if world.sees_version(role, i, vid)
    }


def test_type_and_system_history_hold_only_visible_versions(probe: Probe) -> None:
    world, problems = probe.world, []
    for role in ROLE_LIST:
        for rtype in (None, "Observation", "Patient", "Task", "Binary", "Group"):
            path = f"{rtype}/_history" if rtype else "_history"
            if rtype is not None and role.types is not None and rtype not in role.types:
                got = probe.call(role, "GET", path)
                if got.status_code != 403:
                    problems.append(f"{role.name} {path}: {got.status_code}")
                continue
            want = _history_want(world, role, rtype)
            for size in (500, 3):
                pages = probe.pages(role, f"{path}?_count={size}")
                seen = [v for page in pages for v in sorted(probe.versions(page))]
                if set(seen) != want or len(seen) != len(set(seen)):
                    problems.append(f"{role.name} {path}?_count={size}: {sorted(set(seen) ^ want)}")
    check(problems, probe)


# -- search -----------------------------------------------------------------------------------------------

SEARCHED = (
    "Patient",
    "Observation",
    "Encounter",
    "Condition",
    "Consent",
    "CareTeam",
    "Provenance",
    "Group",
    "List",
    "Task",
    "Device",
    "Binary",
    "Bundle",
    "Organization",
    "Practitioner",
)


def _allowed(role: Role, rtype: str) -> bool:
    return role.types is None or rtype in role.types


def test_search_get_post_counts_sort_and_paging(probe: Probe) -> None:
    world, problems = probe.world, []
    for role in ROLE_LIST:
        for rtype in SEARCHED:
            want = world.visible(role, rtype)
            if not _allowed(role, rtype):
                got = probe.call(role, "GET", f"{rtype}?_count=500")
                if got.status_code != 403:
                    problems.append(f"{role.name} {rtype}: {got.status_code}")
                continue
            found = {
                "GET": probe.search(role, f"{rtype}?_count=500"),
                "POST _search": probe.search(role, f"{rtype}/_search", form={"_count": "500"}),
                "_total=accurate": probe.search(role, f"{rtype}?_count=1&_total=accurate", total=True),
                "_summary=count": probe.search(role, f"{rtype}?_summary=count", total=True),
            }
            for how, got in found.items():
                expected: Any = len(want) if "total" in how or "count" in how else want
                if got != expected:
                    problems.append(f"{role.name} {rtype} {how}: {got}, expected {expected}")
            paged = [k for page in probe.pages(role, f"{rtype}?_count=3") for k in ordered(page)]
            if set(paged) != want or len(paged) != len(want):
                problems.append(f"{role.name} {rtype} paged by 3: {paged}")
        # _sort: the order of what the role sees, and paging through a sorted search
        if _allowed(role, "Observation"):
            visible = [world.item(k) for k in world.visible(role, "Observation")]
            order = [i.key for i in sorted(visible, key=lambda i: (str(i.body["effectiveDateTime"]), i.key))]
            for query, want_order in (("_sort=date", order), ("_sort=-date", order[::-1])):
                got_order = [
                    k for p in probe.pages(role, f"Observation?{query}&_count=2") for k in ordered(p)
                ]
                if got_order != want_order:
                    problems.append(f"{role.name} Observation?{query}: {got_order} != {want_order}")
        # probing the identifier of every resource: found only when visible
        for rtype in SEARCHED:
            items = [i for i in world.of_type(rtype) if not i.deleted and "identifier" in i.body]
            if not items or not _allowed(role, rtype):
                continue
            want = {i.key for i in items if world.sees(role, i)}
            for query in (
                f"{rtype}?identifier=" + ",".join(f"{ID_SYSTEM}|id-{i.id}" for i in items),
                f"{rtype}?_id=" + ",".join(i.id for i in items),
            ):
                got = probe.search(role, query)
                count = probe.search(role, f"{query}&_summary=count", total=True)
                if got != want or count != len(want):
                    problems.append(f"{role.name} {query}: {got} / {count}")
    check(problems, probe)


# -- _include / _revinclude ----------------------------------------------------------------------------

INCLUDES = (
    "Observation?_include=Observation:subject&_include=Observation:has-member&_include=Observation:focus",
    "Observation?_include=*",
    "Observation?_id=obs-a1-panel&_include=Observation:has-member&_include:iterate=Observation:subject",
    "List?_include=List:item&_include=List:source",
    "List?_include=List:item&_include:iterate=Observation:subject",
    "Group?_include=Group:member",
    "Patient?_revinclude=Observation:subject",
    "Patient?_revinclude=*",
    "Patient?_id=pat-a1&_revinclude=*",
    "Patient?_id=pat-a1&_revinclude=Observation:focus&_revinclude=Provenance:target",
    "Patient?_include=*&_revinclude=*",
    "Observation?_revinclude=Provenance:target&_revinclude=List:item",
    "Observation?_id=obs-pat-a1&_revinclude=*&_include:iterate=*",
    "Organization?_revinclude=*",
    "Organization?_id=orgB&_revinclude=Patient:organization&_revinclude:iterate=Observation:subject",
    "Practitioner?_id=pr-b1&_revinclude=*",
    "Encounter?_revinclude=Observation:encounter&_include:iterate=Observation:has-member",
    "Task?_include=Task:patient",
    "Device?_include=*",
)


def test_include_and_revinclude_add_only_visible_resources(probe: Probe) -> None:
    world, problems = probe.world, []
    for role in ROLE_LIST:
        for query in INCLUDES:
            rtype = query.split("?", 1)[0]
            if not _allowed(role, rtype):
                continue
            got = probe.call(role, "GET", f"{query}&_count=500")
            if got.status_code != 200:
                problems.append(f"{role.name} {query}: {got.status_code} {got.text[:200]}")
                continue
            bundle = got.json()
            keys = world.visible(role, rtype)
            if "_id=" in query:
                wanted_id = re.search(r"_id=([^&]+)", query)
                assert wanted_id is not None
                keys = {k for k in keys if k == f"{rtype}/{wanted_id.group(1)}"}
            want_included = probe.expected_includes(role, [world.item(k) for k in keys], query)
            if matches(bundle) != keys or ids(bundle, "include") != want_included:
                problems.append(
                    f"{role.name} {query}: matches {sorted(matches(bundle) ^ keys)} "
                    f"included {sorted(ids(bundle, 'include') ^ want_included)}"
                )
    check(problems, probe)


# -- chains and _has ---------------------------------------------------------------------------------------

Oracle = Callable[[World, Role], set[str]]


def _chain(rtype: str, *links: tuple[str, str], test: Callable[[World, Role, Item], bool]) -> Oracle:
    """Resources of ``rtype`` from which the visible references ``links`` reach a ``test`` item."""

    def walk(world: World, role: Role, item: Item, rest: tuple[tuple[str, str], ...]) -> bool:
        if not rest:
            return test(world, role, item)
        (code, target), more = rest[0], rest[1:]
        return any(
            world.sees(role, world.item(t)) and walk(world, role, world.item(t), more)
            for t in item.targets(code)
            if t.startswith(f"{target}/") and t in world.items
        )

    return lambda world, role: {
        k for k in world.visible(role, rtype) if walk(world, role, world.item(k), links)
    }


def _has(rtype: str, source: str, code: str, test: Callable[[World, Role, Item], bool]) -> Oracle:
    """Resources of ``rtype`` that a visible ``source`` passing ``test`` references by ``code``."""

    def oracle(world: World, role: Role) -> set[str]:
        sources = [world.item(k) for k in world.visible(role, source)]
        sources = [s for s in sources if test(world, role, s)]
        return {k for k in world.visible(role, rtype) if any(k in s.targets(code) for s in sources)}

    return oracle


def _family(prefix: str) -> Callable[[World, Role, Item], bool]:
    return lambda world, role, item: world.family(item.key).lower().startswith(prefix.lower())


def _org(prefix: str) -> Callable[[World, Role, Item], bool]:
    return lambda world, role, item: world.name(item.key).startswith(prefix)


def _code(code: str) -> Callable[[World, Role, Item], bool]:
    return lambda world, role, item: world.code(item.key) == code


SECRET_B1 = f"{CODE_SYSTEM}|secret-pat-b1"
CHAINS: dict[str, Oracle] = {
    "Observation?subject:Patient.name=Bravo": _chain(
        "Observation", ("subject", "Patient"), test=_family("Bravo")
    ),
    "Observation?subject.organization.name=Clinique": _chain(
        "Observation", ("subject", "Patient"), ("organization", "Organization"), test=_org("Clinique")
    ),
    "Observation?subject:Patient.organization:Organization.name=CHU": _chain(
        "Observation", ("subject", "Patient"), ("organization", "Organization"), test=_org("CHU")
    ),
    "Observation?focus:Patient.name=Bravo": _chain(
        "Observation", ("focus", "Patient"), test=_family("Bravo")
    ),
    "Observation?performer:Practitioner.name=Bertrand": _chain(
        "Observation", ("performer", "Practitioner"), test=_family("Bertrand")
    ),
    "Encounter?subject:Patient.general-practitioner:Practitioner.name=Gaston": _chain(
        "Encounter", ("subject", "Patient"), ("general-practitioner", "Practitioner"), test=_family("Gaston")
    ),
    "Condition?encounter.subject:Patient.name=Bravo": _chain(
        "Condition", ("encounter", "Encounter"), ("subject", "Patient"), test=_family("Bravo")
    ),
    "Task?patient.name=Bravo": _chain("Task", ("patient", "Patient"), test=_family("Bravo")),
    f"Patient?_has:Observation:subject:code={SECRET_B1}": _has(
        "Patient", "Observation", "subject", _code("secret-pat-b1")
    ),
    f"Patient?_has:Observation:focus:code={CODE_SYSTEM}|secret-focus-b1": _has(
        "Patient", "Observation", "focus", _code("secret-focus-b1")
    ),
    f"Patient?_has:Observation:subject:code={CODE_SYSTEM}|secret-pat-a1": _has(
        "Patient", "Observation", "subject", _code("secret-pat-a1")
    ),
    f"Patient?_has:Observation:subject:code={CODE_SYSTEM}|secret-lab-a1": _has(
        "Patient", "Observation", "subject", _code("secret-lab-a1")
    ),
    f"Patient?_has:Observation:subject:code={CODE_SYSTEM}|secret-deleted-a1": _has(
        "Patient", "Observation", "subject", _code("secret-deleted-a1")
    ),
    f"Practitioner?_has:Observation:performer:code={SECRET_B1}": _has(
        "Practitioner", "Observation", "performer", _code("secret-pat-b1")
    ),
    "Organization?_has:Patient:organization:name=Bravo": _has(
        "Organization", "Patient", "organization", _family("Bravo")
    ),
    f"Organization?_has:Patient:organization:_has:Observation:subject:code={SECRET_B1}": _has(
        "Organization",
        "Patient",
        "organization",
        lambda w, r, i: i.key in _has("Patient", "Observation", "subject", _code("secret-pat-b1"))(w, r),
    ),
    "Patient?_has:Provenance:target:agent=Practitioner/pr-b1": _has(
        "Patient", "Provenance", "target", lambda w, r, i: "Practitioner/pr-b1" in i.targets("agent")
    ),
    "Observation?_has:List:item:subject=Patient/pat-a1": _has(
        "Observation", "List", "item", lambda w, r, i: "Patient/pat-a1" in i.targets("subject")
    ),
    "Patient?_has:Task:patient:status=requested": _has(
        "Patient", "Task", "patient", lambda w, r, i: i.body.get("status") == "requested"
    ),
    "Observation?focus:missing=false": lambda w, r: {
        k for k in w.visible(r, "Observation") if w.item(k).targets("focus")
    },
    f"Observation?code:not={SECRET_B1}": lambda w, r: {
        k for k in w.visible(r, "Observation") if w.code(k) != "secret-pat-b1"
    },
    "Observation?subject=Patient/pat-b1": lambda w, r: {
        k for k in w.visible(r, "Observation") if "Patient/pat-b1" in w.item(k).targets("subject")
    },
    "Condition?_content=condition": lambda w, r: w.visible(r, "Condition"),
    f"Observation?patient.identifier={ID_SYSTEM}|id-pat-b1": _chain(
        "Observation", ("patient", "Patient"), test=lambda w, r, i: i.id == "pat-b1"
    ),
    "Observation?subject:Patient._has:Consent:patient:status=active": _chain(
        "Observation",
        ("subject", "Patient"),
        test=lambda w, r, i: any(
            c.body.get("status") == "active" and i.key in c.targets("patient")
            for c in (w.item(k) for k in w.visible(r, "Consent"))
        ),
    ),
}


def test_chains_and_has_reveal_nothing_hidden(probe: Probe) -> None:
    world, problems = probe.world, []
    for role in ROLE_LIST:
        for query, oracle in CHAINS.items():
            rtype = query.split("?", 1)[0]
            if not _allowed(role, rtype):
                continue
            # a value probe through a hidden resource answers exactly like a value that is nowhere
            want = oracle(world, role)
            got = probe.search(role, query)
            count = probe.search(role, f"{query}&_summary=count", total=True)
            name, _, value = query.partition("?")[2].rpartition("=")
            posted = (  # POST _search for the value probes
                probe.search(role, f"{rtype}/_search", form={name: value, "_count": "500"})
                if "_has:" in query
                else want
            )
            if got != want or count != len(want) or posted != want:
                problems.append(
                    f"{role.name} {query}: {got} / count {count} / POST {posted}, expected {want}"
                )
    check(problems, probe)


# -- compartments and $everything ------------------------------------------------------------------------


def _members(world: World, role: Role, patient: str, types: frozenset[str]) -> set[str]:
    return {
        k
        for k in world.visible(role)
        if world.item(k).type in types
        and f"Patient/{patient}" in {f"Patient/{p}" for p in world.item(k).current.patients}
    }


def test_compartment_searches_hold_only_visible_members(probe: Probe) -> None:
    world, problems = probe.world, []
    for role in ROLE_LIST:
        for patient in [*PATIENTS, "zz-absent"]:
            cases = {
                f"Patient/{patient}/*": _members(world, role, patient, MEMBERS),
                f"Patient/{patient}/Observation": _members(world, role, patient, frozenset({"Observation"})),
            }
            for path, want in cases.items():
                if path.endswith("Observation") and not _allowed(role, "Observation"):
                    continue
                got = probe.search(role, f"{path}?_count=500")
                count = probe.search(role, f"{path}?_summary=count", total=True)
                paged = (
                    [k for page in probe.pages(role, f"{path}?_count=3") for k in ordered(page)]
                    if path.endswith("*")
                    else sorted(want)
                )
                if got != want or count != len(want) or sorted(paged) != sorted(want):
                    problems.append(f"{role.name} {path}: {got} / {count} / {paged}, expected {want}")
        if _allowed(role, "Observation"):
            want = {
                k
                for k in world.visible(role, "Observation")
                if "Practitioner/pr-b1" in world.item(k).targets("performer")
            }
            if (got := probe.search(role, "Practitioner/pr-b1/Observation?_count=500")) != want:
                problems.append(f"{role.name} Practitioner/pr-b1/Observation: {got}, expected {want}")
        enc = world.item("Encounter/enc-pat-b1")
        want = {
            k for k in world.visible(role) if k == enc.key or enc.key in world.item(k).targets("encounter")
        }
        if (got := probe.search(role, "Encounter/enc-pat-b1/*?_count=500")) != want:
            problems.append(f"{role.name} Encounter/enc-pat-b1/*: {got}, expected {want}")
        for path in ("Practitioner/pr-b1/*", "Organization/orgB/*", "Practitioner/pr-lst/*"):
            got_any = probe.call(role, "GET", f"{path}?_count=500")
            if got_any.status_code == 200 and not matches(got_any.json()) <= world.visible(role):
                problems.append(f"{role.name} {path}: {matches(got_any.json()) - world.visible(role)}")
    check(problems, probe)


def test_everything_returns_only_what_the_role_may_read(probe: Probe) -> None:
    world, problems = probe.world, []
    for role in ROLE_LIST:
        for patient in PATIENTS:
            key = f"Patient/{patient}"
            path = f"{key}/$everything"
            if not world.sees(role, world.item(key)):
                if error := absent_like(probe, role, "GET", path, "Patient/zz-absent/$everything", patient):
                    problems.append(error)
                continue
            members = _members(world, role, patient, MEMBERS)
            support = {
                t
                for k in members
                for t in world.item(k).targets()
                if t.split("/")[0] in SUPPORTING and t in world.visible(role)
            }
            want = members | support
            got = {k for page in probe.pages(role, f"{path}?_count=3") for k in matches(page)}
            if got != want:
                problems.append(
                    f"{role.name} {path}: extra {sorted(got - want)} missing {sorted(want - got)}"
                )
    check(problems, probe)


# -- Bundles and $validate -----------------------------------------------------------------------------


def test_batch_and_transaction_read_entries_follow_the_rules(probe: Probe) -> None:
    """Each batch entry answers like the same request alone; a transaction reading only what the
    role sees succeeds, and one naming a hidden resource fails exactly like one naming an absent
    resource (HAPI #727: Bundle entries skipping the rules)."""
    world, problems = probe.world, []
    items = list(world.items.values())
    for role in ROLE_LIST:
        got = probe.call(role, "POST", "", json=_bundle("batch", [*(i.key for i in items), "Observation"]))
        answers = got.json()["entry"]
        for item, answer in zip(items, answers, strict=False):
            status = answer["response"]["status"].split()[0]
            if world.sees(role, item):
                want = "410" if item.deleted else "200"
            else:
                want = "403" if not _allowed(role, item.type) else "404"
            if status != want:
                problems.append(f"{role.name} batch GET {item.key}: {status}, expected {want}")
        search = answers[-1]
        found = matches(search["resource"]) if "resource" in search else set()
        want_obs = world.visible(role, "Observation") if _allowed(role, "Observation") else set()
        if found != want_obs:
            problems.append(f"{role.name} batch search: {found ^ want_obs}")
        visible = sorted(world.visible(role))
        got = probe.call(role, "POST", "", json=_bundle("transaction", [*visible, "Observation"]))
        if got.status_code != 200 or len(got.json()["entry"]) != len(visible) + 1:
            problems.append(f"{role.name} transaction of visible reads: {got.status_code} {got.text[:200]}")
        tried: set[str] = set()  # one hidden resource per type (the batch above checked them all)
        for item in items:
            if item.deleted or world.sees(role, item) or not _allowed(role, item.type) or item.type in tried:
                continue
            tried.add(item.type)
            hidden = probe.call(role, "POST", "", json=_bundle("transaction", [*visible[:1], item.key]))
            absent = _bundle("transaction", [*visible[:1], f"{item.type}/zz-absent"])
            status, text = probe.reference(role, "POST", "", absent)
            if (hidden.status_code, hidden.text.replace(item.id, "ID")) != (
                status,
                text.replace("zz-absent", "ID"),
            ):
                problems.append(
                    f"{role.name} transaction GET {item.key}: {hidden.status_code} {hidden.text[:200]}"
                )
    check(problems, probe)


def test_validate_reads_no_stored_data(probe: Probe) -> None:
    problems: Problems = []
    body = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "subject": {"reference": "Patient/pat-b1"},
    }
    for role in ROLE_LIST:
        got = probe.call(role, "POST", "Observation/$validate", json=body)
        if got.status_code != 200 or got.json()["resourceType"] != "OperationOutcome":
            problems.append(f"{role.name} $validate: {got.status_code}")
    check(problems, probe)


# -- writes (each test on a fresh copy of the world) -------------------------------------------------------

# role → (hidden patient, visible patient, visible observation, hidden observation)
WRITERS = {
    "pro-a1": ("pat-b1", "pat-a1", "obs-pat-a1", "obs-pat-b1"),
    "pro-a2": ("pat-a2", "pat-a1", "obs-pat-a1", "obs-pat-a2"),
    "pro-b1": ("pat-old", "pat-btg", "obs-pat-btg", "obs-pat-old"),
    "gp": ("pat-none", "pat-gp", "obs-pat-gp", "obs-pat-none"),
    "patient-a1": ("pat-b1", "pat-a1", "obs-a1-lab", "obs-pat-b1"),
    "mother": ("pat-a1", "pat-kid", "obs-pat-kid", "obs-pat-a1"),
}
SYSTEM = ROLES["system"]


def _obs(tag: str, subject: str, *, performer: str | None = None, oid: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Observation",
        "identifier": [{"system": ID_SYSTEM, "value": tag}],
        "status": "final",
        "code": {"text": tag},
        "subject": {"reference": f"Patient/{subject}"},
    }
    if performer:
        body["performer"] = [{"reference": f"Patient/{performer}"}]
    if oid:
        body["id"] = oid
    return body


def _stored(probe: Probe, tag: str) -> set[str]:
    return set(probe.search(SYSTEM, f"Observation?identifier={ID_SYSTEM}|{tag}"))


def _vid(probe: Probe, key: str) -> str:
    got = probe.call(SYSTEM, "GET", key)
    return str(got.json()["meta"]["versionId"]) if got.status_code == 200 else str(got.status_code)


def test_writes_never_reach_a_hidden_record(fresh: Probe) -> None:
    """Creating in, moving into, adding a hidden patient to, overwriting or deleting a hidden
    record: refused, nothing stored, and what exists stays unseen."""
    probe, problems = fresh, []
    for name, (hidden, shown, obs_v, obs_h) in WRITERS.items():
        role = ROLES[name]
        before = {k: _vid(probe, f"Observation/{k}") for k in (obs_v, obs_h)}
        creates = {
            f"{name}-about-hidden": _obs(f"{name}-about-hidden", hidden),
            f"{name}-hidden-performer": _obs(f"{name}-hidden-performer", shown, performer=hidden),
            f"{name}-hidden-subject": _obs(f"{name}-hidden-subject", hidden, performer=shown),
        }
        for tag, body in creates.items():
            got = probe.call(role, "POST", "Observation", json=body)
            if got.status_code != 403 or _stored(probe, tag):
                problems.append(f"{name} create {tag}: {got.status_code}, stored {_stored(probe, tag)}")
        moves = {
            "PUT subject": ("PUT", _obs("moved", hidden, oid=obs_v)),
            "PUT performer": ("PUT", _obs("moved", shown, performer=hidden, oid=obs_v)),
        }
        for how, (method, body) in moves.items():
            got = probe.call(role, method, f"Observation/{obs_v}", json=body)
            if got.status_code != 403:
                problems.append(f"{name} {how} into {hidden}: {got.status_code} {got.text[:200]}")
        patch = [{"op": "replace", "path": "/subject/reference", "value": f"Patient/{hidden}"}]
        got = probe.call(
            role, "PATCH", f"Observation/{obs_v}", json=patch, content_type="application/json-patch+json"
        )
        if got.status_code != 403:
            problems.append(f"{name} PATCH into {hidden}: {got.status_code}")
        # the hidden resource: a delete answers like one of an absent id and deletes nothing
        deleted, absent = (
            probe.call(role, "DELETE", f"Observation/{obs_h}"),
            probe.call(role, "DELETE", "Observation/zz-absent"),
        )
        if (deleted.status_code, deleted.text) != (absent.status_code, absent.text):
            problems.append(f"{name} DELETE {obs_h}: {deleted.status_code} vs {absent.status_code}")
        patched = probe.call(
            role, "PATCH", f"Observation/{obs_h}", json=patch, content_type="application/json-patch+json"
        )
        patched_absent = probe.call(
            role, "PATCH", "Observation/zz-absent", json=patch, content_type="application/json-patch+json"
        )
        if (patched.status_code, patched.text.replace(obs_h, "ID")) != (
            patched_absent.status_code,
            patched_absent.text.replace("zz-absent", "ID"),
        ):
            problems.append(f"{name} PATCH {obs_h}: {patched.status_code} vs {patched_absent.status_code}")
        # overwriting a hidden id: refused, the hidden resource untouched
        got = probe.call(
            role, "PUT", f"Observation/{obs_h}", json=_obs(f"{name}-overwrite", shown, oid=obs_h)
        )
        if got.status_code < 400:
            problems.append(f"{name} PUT {obs_h}: {got.status_code}")
        # the server's configuration (a SearchParameter could redefine Consent provision-type)
        param = {
            "resourceType": "SearchParameter",
            "url": f"https://example.org/{name}",
            "name": "x",
            "status": "active",
            "description": "x",
            "code": "provision-type",
            "base": ["Consent"],
            "type": "token",
            "expression": "Consent.status",
        }
        got = probe.call(role, "POST", "SearchParameter", json=param)
        if got.status_code != 403 or probe.search(SYSTEM, "SearchParameter"):
            problems.append(f"{name} POST SearchParameter: {got.status_code}")
        # a Group of a visible and a hidden patient: neither edited nor deleted
        group = _vid(probe, "Group/grp-ab")
        member = {"entity": {"reference": f"Patient/{shown}"}}
        body = {"resourceType": "Group", "id": "grp-ab", "type": "person", "actual": True, "member": [member]}
        probe.call(role, "PUT", "Group/grp-ab", json=body)
        probe.call(role, "DELETE", "Group/grp-ab")
        after = {k: _vid(probe, f"Observation/{k}") for k in (obs_v, obs_h)}
        if after != before or _vid(probe, "Group/grp-ab") != group:
            problems.append(f"{name} changed versions: {before} -> {after}, group {group}")
    check(problems, probe)


def test_conditional_and_bundle_writes_ignore_hidden_resources(fresh: Probe) -> None:
    """If-None-Exist, conditional update/delete/patch, batch and transaction entries and
    conditional references never match, return, touch or reveal a hidden resource."""
    probe, problems = fresh, []
    for name, (hidden, shown, obs_v, obs_h) in WRITERS.items():
        role = ROLES[name]
        before = {k: _vid(probe, f"Observation/{k}") for k in (obs_v, obs_h)}
        by_id = f"identifier={ID_SYSTEM}|id-{obs_h}"
        got = probe.call(
            role, "POST", "Observation", json=_obs(f"{name}-c1", shown), headers={"If-None-Exist": by_id}
        )
        if got.status_code != 201 or _stored(probe, f"{name}-c1") == set():
            problems.append(f"{name} If-None-Exist on {obs_h}: {got.status_code} {got.text[:200]}")
        both = f"identifier={ID_SYSTEM}|id-{obs_h},{ID_SYSTEM}|id-{obs_v}"
        got = probe.call(
            role, "POST", "Observation", json=_obs(f"{name}-c2", shown), headers={"If-None-Exist": both}
        )
        if got.status_code != 200 or got.json().get("id") != obs_v:
            problems.append(f"{name} If-None-Exist on {obs_h} or {obs_v}: {got.status_code} {got.text[:200]}")
        got = probe.call(role, "PUT", f"Observation?{by_id}", json=_obs(f"{name}-c3", shown))
        if got.status_code != 201 or got.json().get("id") == obs_h:
            problems.append(f"{name} conditional update on {obs_h}: {got.status_code} {got.text[:200]}")
        got = probe.call(role, "DELETE", f"Observation?{by_id}")
        if got.status_code != 204:
            problems.append(f"{name} conditional delete on {obs_h}: {got.status_code}")
        patch = [{"op": "replace", "path": "/status", "value": "amended"}]
        hidden_patch = probe.call(
            role, "PATCH", f"Observation?{by_id}", json=patch, content_type="application/json-patch+json"
        )
        none_patch = probe.call(
            role,
            "PATCH",
            f"Observation?identifier={ID_SYSTEM}|nothing",
            json=patch,
            content_type="application/json-patch+json",
        )
        if (hidden_patch.status_code, hidden_patch.text) != (none_patch.status_code, none_patch.text):
            problems.append(f"{name} conditional patch on {obs_h}: {hidden_patch.status_code}")
        # batch: each entry on its own; transaction: all or nothing
        entries = [
            {"resource": _obs(f"{name}-b1", hidden), "request": {"method": "POST", "url": "Observation"}},
            {"request": {"method": "DELETE", "url": f"Observation/{obs_h}"}},
            {"request": {"method": "GET", "url": f"Observation/{obs_h}"}},
            {
                "resource": _obs("moved", hidden, oid=obs_v),
                "request": {"method": "PUT", "url": f"Observation/{obs_v}"},
            },
            {"resource": _obs(f"{name}-b2", shown), "request": {"method": "POST", "url": "Observation"}},
        ]
        got = probe.call(role, "POST", "", json={"resourceType": "Bundle", "type": "batch", "entry": entries})
        statuses = [e["response"]["status"].split()[0] for e in got.json().get("entry", [])]
        if statuses != ["403", "204", "404", "403", "201"]:
            problems.append(f"{name} batch: {statuses}")
        if _stored(probe, f"{name}-b1") or not _stored(probe, f"{name}-b2"):
            problems.append(f"{name} batch stored {_stored(probe, f'{name}-b1')}")
        entries = [
            {"resource": _obs(f"{name}-t1", shown), "request": {"method": "POST", "url": "Observation"}},
            {"resource": _obs(f"{name}-t2", hidden), "request": {"method": "POST", "url": "Observation"}},
        ]
        got = probe.call(
            role, "POST", "", json={"resourceType": "Bundle", "type": "transaction", "entry": entries}
        )
        if got.status_code != 403 or _stored(probe, f"{name}-t1") or _stored(probe, f"{name}-t2"):
            problems.append(f"{name} transaction with a hidden entry: {got.status_code}")
        entry = {
            "resource": _obs(f"{name}-t4", shown),
            "request": {"method": "POST", "url": "Observation", "ifNoneExist": by_id},
        }
        got = probe.call(
            role, "POST", "", json={"resourceType": "Bundle", "type": "transaction", "entry": [entry]}
        )
        statuses = [e["response"]["status"] for e in got.json().get("entry", [])]
        if statuses != ["201 Created"] or not _stored(probe, f"{name}-t4"):
            problems.append(f"{name} transaction ifNoneExist on {obs_h}: {got.status_code} {statuses}")
        answers = []
        for value in (f"id-{hidden}", "id-nobody"):
            body = _obs(f"{name}-t3", shown)
            body["focus"] = [{"reference": f"Patient?identifier={ID_SYSTEM}|{value}"}]
            bundle = {
                "resourceType": "Bundle",
                "type": "transaction",
                "entry": [{"resource": body, "request": {"method": "POST", "url": "Observation"}}],
            }
            got = probe.call(role, "POST", "", json=bundle)
            answers.append((got.status_code, got.text.replace(value, "VALUE")))
        if answers[0] != answers[1] or answers[0][0] != 400:
            problems.append(f"{name} conditional reference to {hidden}: {answers}")
        after = {k: _vid(probe, f"Observation/{k}") for k in (obs_v, obs_h)}
        if after != before:
            problems.append(f"{name} changed versions: {before} -> {after}")
    check(problems, probe)
