"""The leak suite: every query feature, for every role, answers exactly what the role may see.

The rules: hygie/auth/policy.py. The world, the roles and the model of who sees what:
tests/security/leak_world.py and leak_roles.py; the harness: leak_probe.py. The matrix of roles ×
features and how to run it: docs/security-leaks.md. This module: read, vread, history at every
level, search (GET and POST, counts, ``_sort``, paging, identifier and ``_id`` probes),
compartments, ``$everything``, batch and transaction reads, ``$validate``. Includes, chains and
``_has``: test_leaks_queries.py; writes: test_leaks_writes.py.

Lessons from other servers: cross-tenant reads through ``_history``/vread, batch entries skipping
rules (HAPI #727), bulk export returning other groups' data (HAPI #3394: ``$export`` does not
exist yet). Every test runs its whole table for every role and reports every mismatch at once;
besides the exact expected answer, every response body (2xx or 4xx) is scanned for the markers of
the versions the role may not see (:meth:`~tests.security.leak_probe.Probe.call`). The world is
loaded once per backend and module.
"""

from __future__ import annotations

import re
import time
from typing import Any

import orjson

from hygie.auth.policy import Policy
from hygie.auth.scopes import parse_scopes
from hygie.auth.tokens import Principal
from hygie.search.query import Sql
from hygie.storage.database import open_database
from hygie.storage.store import load_catalog
from tests.security.leak_probe import (
    ROLE_LIST,
    Probe,
    absent_like,
    allowed,
    check,
    fresh_world,  # noqa: F401 (fixture)
    get_bundle,
    leak_database,  # noqa: F401 (fixture)
    leak_probe,  # noqa: F401 (fixture)
    matches,
    ordered,
)
from tests.security.leak_roles import Role
from tests.security.leak_world import ID_SYSTEM, MEMBERS, PATIENTS, SUPPORTING, Item, World

Problems = list[str]


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
        batch = probe.call(role, "POST", "", json=get_bundle("batch", urls + absent))
        if batch.status_code != 200:
            problems.append(f"{role.name} batch of vreads: {batch.status_code} {batch.text[:200]}")
            continue
        answers = batch.json()["entry"]
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


def test_search_get_post_counts_sort_and_paging(probe: Probe) -> None:
    world, problems = probe.world, []
    for role in ROLE_LIST:
        for rtype in SEARCHED:
            want = world.visible(role, rtype)
            if not allowed(role, rtype):
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
        if allowed(role, "Observation"):
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
            if not items or not allowed(role, rtype):
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
                if path.endswith("Observation") and not allowed(role, "Observation"):
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
        if allowed(role, "Observation"):
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
        got = probe.call(role, "POST", "", json=get_bundle("batch", [*(i.key for i in items), "Observation"]))
        answers = got.json()["entry"]
        for item, answer in zip(items, answers, strict=False):
            status = answer["response"]["status"].split()[0]
            if world.sees(role, item):
                want = "410" if item.deleted else "200"
            else:
                want = "403" if not allowed(role, item.type) else "404"
            if status != want:
                problems.append(f"{role.name} batch GET {item.key}: {status}, expected {want}")
        search = answers[-1]
        found = matches(search["resource"]) if "resource" in search else set()
        want_obs = world.visible(role, "Observation") if allowed(role, "Observation") else set()
        if found != want_obs:
            problems.append(f"{role.name} batch search: {found ^ want_obs}")
        visible = sorted(world.visible(role))
        got = probe.call(role, "POST", "", json=get_bundle("transaction", [*visible, "Observation"]))
        if got.status_code != 200 or len(got.json()["entry"]) != len(visible) + 1:
            problems.append(f"{role.name} transaction of visible reads: {got.status_code} {got.text[:200]}")
        tried: set[str] = set()  # one hidden resource per type (the batch above checked them all)
        for item in items:
            if item.deleted or world.sees(role, item) or not allowed(role, item.type) or item.type in tried:
                continue
            tried.add(item.type)
            hidden = probe.call(role, "POST", "", json=get_bundle("transaction", [*visible[:1], item.key]))
            absent = get_bundle("transaction", [*visible[:1], f"{item.type}/zz-absent"])
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


def test_cared_for_set_and_per_row_rule_agree(probe: Probe) -> None:
    """The professional rule as a set (``Policy.cared_for``, used to check a SMART launch
    patient) and as the per-row test of every query (``Policy.cares``) name the same patients,
    those of the model."""
    db = open_database(probe.settings.database_url)
    problems: Problems = []
    try:
        catalog = db.run_sync(load_catalog)
        for role in ROLE_LIST:
            if role.kind != "professional" or role.launch is not None:
                continue
            principal = Principal(
                kind="professional",
                subject=role.subject,
                scopes=parse_scopes(role.scope),
                fhir_user=f"Practitioner/{role.practitioner}",
                organization=role.organization,
            )
            policy = Policy(principal, catalog, None, int(time.time() * 1000), role.subject)
            as_set = policy.cared_for()
            ids = db.run_sync(lambda s, q=as_set: {r[0] for r in s.all(q.clause, q.args)})
            one_by_one = set()
            for patient in PATIENTS:
                test = policy.cares(Sql("?", (patient,)))
                if db.run_sync(lambda s, q=test: s.one(f"SELECT 1 WHERE {q.clause}", q.args)):
                    one_by_one.add(patient)
            if not ids == one_by_one == role.patients:
                problems.append(f"{role.name}: set {sorted(ids)}, per row {sorted(one_by_one)}")
    finally:
        db.close()
    assert not problems, problems
