"""The leak suite (tests/security/test_leaks.py): ``_include``, ``_revinclude`` (with
``:iterate`` and ``*``), chained parameters and ``_has``, for every role.

Lessons from other servers: compartments leaking through ``_include`` (Microsoft FHIR server PR
#5683), chained searches skipping the policy (Medplum #9973), ``_has`` revealing values the
caller may not read (HAPI #6065): a probe through a hidden resource must answer exactly like a
value that is nowhere. Specs: https://hl7.org/fhir/R4/search.html#include,
https://hl7.org/fhir/R4/search.html#chaining, https://hl7.org/fhir/R4/search.html#has
"""

from __future__ import annotations

import re
from collections.abc import Callable

from tests.security.leak_probe import (
    ROLE_LIST,
    Probe,
    allowed,
    check,
    ids,
    leak_database,  # noqa: F401 (fixture)
    leak_probe,  # noqa: F401 (fixture)
    matches,
)
from tests.security.leak_roles import Role
from tests.security.leak_world import CODE_SYSTEM, ID_SYSTEM, Item, World

Problems = list[str]


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
            if not allowed(role, rtype):
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
            if not allowed(role, rtype):
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
