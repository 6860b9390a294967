"""Bulk Data ``$export`` in the leak suite: every role exports exactly what it may read.

The world, the roles and the model of who sees what are the leak suite's
(tests/security/leak_world.py, leak_roles.py, leak_probe.py; docs/security-leaks.md). Bulk
export returning other groups' data is a known side door of other servers (HAPI #3394): here the
system, Patient and Group levels are run for every role and compared with the model, and every
answer (kick-off, status, manifest, NDJSON files) is scanned for the markers of versions the role
may not read. https://hl7.org/fhir/uv/bulkdata/STU2/export.html
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from hygie.api.compartment import member_types
from tests.security.leak_probe import (
    ROLE_LIST,
    Probe,
    check,
    leak_database,  # noqa: F401 (fixture: database_url)
    open_world,
)
from tests.security.leak_roles import ROLES, Role
from tests.security.leak_world import World

ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}
GROUP = "Group/grp-ab"
DEADLINE_S = 60.0


@pytest.fixture(scope="module", name="probe")
def bulk_probe(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Probe]:
    """The leak world, with the Bulk Data files in a directory of the test run."""
    patch = pytest.MonkeyPatch()
    patch.setenv("HYGIE_BULK_DIR", str(tmp_path_factory.mktemp("bulk")))
    try:
        with open_world(database_url, tmp_path_factory.mktemp("keys")) as opened:
            yield opened
    finally:
        patch.undo()


def _relative(url: str) -> str:
    return url.split("/fhir/", 1)[1]


def run_export(probe: Probe, role: Role, path: str) -> tuple[int, set[str]]:
    """Kick off as ``role``; (kick-off status, exported ``Type/id``). Every answer is scanned."""
    answer = probe.call(role, "GET", path, headers=ASYNC)
    if answer.status_code != 202:
        return answer.status_code, set()
    status_url = _relative(answer.headers["content-location"])
    deadline = time.monotonic() + DEADLINE_S
    while (status := probe.call(role, "GET", status_url)).status_code == 202:
        assert time.monotonic() < deadline, f"{role.name} {path}: still running"
        time.sleep(0.02)
    assert status.status_code == 200, f"{role.name} {path}: {status.status_code} {status.text[:300]}"
    found: set[str] = set()
    for output in status.json()["output"]:
        got = probe.call(role, "GET", _relative(output["url"]))
        assert got.status_code == 200
        for line in got.content.splitlines():
            resource: dict[str, Any] = orjson.loads(line)
            found.add(f"{resource['resourceType']}/{resource['id']}")
    probe.call(role, "DELETE", status_url)
    return 202, found


def _in_world(world: World, found: set[str]) -> set[str]:
    return {k for k in found if k in world.items}


def _compartment(world: World, role: Role, patients: set[str] | None = None) -> set[str]:
    """What a Patient-level (or, with ``patients``, a Group-level) export must give ``role``."""
    members = set(member_types("Patient"))
    return {
        key
        for key in world.visible(role)
        if (item := world.item(key)).type in members
        and item.current.patients
        and (patients is None or item.current.patients & patients)
    }


def test_system_export_gives_exactly_what_each_role_may_read(probe: Probe) -> None:
    world, problems = probe.world, []
    for role in ROLE_LIST:
        status, found = run_export(probe, role, "$export")
        want = world.visible(role)
        if status != 202 or _in_world(world, found) != want:
            problems.append(f"{role.name} $export: {status} extra {found - want} missing {want - found}")
    check(problems, probe)


def test_patient_export_gives_the_visible_records_only(probe: Probe) -> None:
    world, problems = probe.world, []
    for role in ROLE_LIST:
        status, found = run_export(probe, role, "Patient/$export")
        want = _compartment(world, role)
        if status != 202 or _in_world(world, found) != want:
            problems.append(
                f"{role.name} Patient/$export: {status} extra {found - want} missing {want - found}"
            )
    check(problems, probe)


def test_group_export_cannot_widen_access(probe: Probe) -> None:
    """grp-ab names pat-a1 (CHU) and pat-b1 (clinic): each role gets the members it may see."""
    world, problems = probe.world, []
    group = world.item(GROUP)
    for role in ROLE_LIST:
        status, found = run_export(probe, role, f"{GROUP}/$export")
        if not world.sees(role, group):
            if status != 404:
                problems.append(f"{role.name} {GROUP}/$export: {status}, expected 404 (group hidden)")
            continue
        want = _compartment(world, role, {"pat-a1", "pat-b1"})
        if status != 202 or _in_world(world, found) != want:
            problems.append(
                f"{role.name} {GROUP}/$export: {status} extra {found - want} missing {want - found}"
            )
    check(problems, probe)


def test_a_professional_exports_nothing_of_the_other_organisation(probe: Probe) -> None:
    role = ROLES["pro-a1"]
    _, found = run_export(probe, role, "$export")
    clinic_only = {"pat-b1", "pat-mom", "pat-kid"}
    world = probe.world
    # nothing that belongs only to the clinic's patients (grp-ab, which also names pat-a1, may be seen)
    leaked = {
        k
        for k in found
        if k in world.items
        and world.item(k).current.patients
        and world.item(k).current.patients <= clinic_only
    }
    assert leaked == set()
    assert "Patient/pat-a1" in found
    launched = ROLES["system-launch-b1"]  # a patient-launch token: that patient's record only
    _, found = run_export(probe, launched, "Patient/$export")
    assert found and all("pat-b1" in probe.world.item(k).current.patients for k in found)
    check([], probe)
