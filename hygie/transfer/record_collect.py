"""What a portability export contains: a patient's record, and what it refers to.

A patient's record is what ``Patient/[id]/$everything`` returns
(https://hl7.org/fhir/R4/patient-operation-everything.html): the members of their Patient
compartment (https://hl7.org/fhir/R4/compartmentdefinition-patient.html) and the resources of the
types :data:`hygie.auth.policy.ATTACHED` whose ``patient`` names them (a Task for them, a Device
they carry). Groups and Lists, which gather several patients, are left out: they would carry
other patients' references. Then the resources those refer to are added when they are
reference data the caller may read (Practitioner, Organization, Location, Medication…, followed
transitively: a PractitionerRole's Organization), and the ``Binary`` resources that attachments
point to (``Attachment.url`` = ``Binary/[id]``). Every read goes through the caller's access
policy (:mod:`hygie.auth.policy`): nothing the caller may not read is exported, and a reference
the caller may not follow stays as it is (it is not resolved in the export).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from hygie.api.compartment import guarded, keyset_page, member_rks, member_types, union
from hygie.api.context import Env
from hygie.auth.policy import ATTACHED, shared_types
from hygie.fhir import jsonio
from hygie.fhir.outcome import FhirError
from hygie.search.query import Sql, local_reference, one_of
from hygie.storage.store import Version
from hygie.transfer.record_staging import Staging

GATHERING = frozenset({"Group", "List"})  # several patients' resources: not part of one record
PAGE = 500
# Types followed from a reference besides reference data: a device, an attachment's content.
FOLLOWED_EXTRA = frozenset({"Device", "Binary"})


def patient_version(env: Env, pid: str) -> Version:
    """The patient's current version; 404 when absent or not visible (alike), 410 when deleted."""
    current = env.store.read("Patient", pid)
    if current is None:
        raise FhirError.of(404, "not-found", "not_found", type="Patient", id=pid[:64])
    if current.deleted:
        raise FhirError.of(410, "deleted", "gone", type="Patient", id=pid[:64])
    return current


def record_versions(env: Env, pid: str) -> Iterator[Version]:
    """The live resources of the patient's record the caller may read, by storage key."""
    params = env.store.params
    members = tuple(t for t in member_types("Patient") if t not in GATHERING)
    parts = [member_rks("Patient", pid, members, params, base=env.base)]
    attached = tuple(sorted(p for t in ATTACHED if (p := params.get((t, "patient"))) is not None))
    if attached:
        by_pid = one_of("pid", attached)
        local = local_reference(env.base)
        parts.append(
            Sql(
                f"SELECT rk FROM idx_reference WHERE {by_pid.clause} AND target_id = ? "
                f"AND target_type = 'Patient' AND {local.clause}",
                (*by_pid.args, pid, *local.args),
            )
        )
    rks = union(parts)
    where = guarded(env, Sql(f"r.rk IN ({rks.clause})", rks.args), "r", "r")
    after = 0
    while True:
        page, more = keyset_page(env, where, after=after, size=PAGE)
        yield from page
        if not more or not page:
            return
        after = page[-1].rk


def body_line(version: Version) -> bytes:
    """The stored JSON of a version as one NDJSON line (without the newline)."""
    assert version.body is not None
    body = version.body
    if b"\n" in body or b"\r" in body:  # stored bodies are compact; be safe all the same
        body = jsonio.dumps(jsonio.loads(body))
    return body


class Collector:
    """Gathers resources into a :class:`Staging` and resolves their references."""

    def __init__(self, env: Env, staging: Staging, patients: set[str]) -> None:
        self.env = env
        self.staging = staging
        self.patients = patients  # the exported patients (a Device of another one is not followed)
        self.pending: set[tuple[str, str]] = set()
        self.followed = shared_types() | FOLLOWED_EXTRA
        self._tried: set[tuple[str, str]] = set()

    def add(self, version: Version) -> None:
        if version.body is None:
            return
        body = body_line(version)
        if self.staging.add(version.type, version.id, body):
            self._note_references(jsonio.loads(body))

    def add_patient(self, pid: str) -> int:
        """Add the record of one patient; returns the number of resources read."""
        count = 0
        for version in record_versions(self.env, pid):
            self.add(version)
            count += 1
        return count

    def resolve(self) -> None:
        """Add the reference data the gathered resources point to, transitively."""
        while self.pending:
            batch, self.pending = self.pending, set()
            for rtype, rid in sorted(batch):
                if (rtype, rid) in self._tried or self.staging.has(rtype, rid):
                    continue
                self._tried.add((rtype, rid))
                version = self.env.store.read(rtype, rid)
                if version is None or version.deleted or version.body is None:
                    continue  # absent, deleted or not for this caller: the reference stays unresolved
                if rtype == "Device" and not self._own_device(version):
                    continue
                self.add(version)

    def _own_device(self, version: Version) -> bool:
        patient = version.resource().get("patient")
        ref = patient.get("reference") if isinstance(patient, dict) else None
        if not isinstance(ref, str):
            return True
        target = self._target(ref)
        return target is not None and target[0] == "Patient" and target[1] in self.patients

    def _note_references(self, resource: Any) -> None:
        for ref in references(resource):
            target = self._target(ref)
            if target is not None and target[0] in self.followed:
                self.pending.add(target)

    def _target(self, ref: str) -> tuple[str, str] | None:
        return local_target(ref, self.env.base)


def references(node: Any) -> Iterator[str]:
    """Every ``Reference.reference`` and ``Attachment.url`` string inside a resource."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key in ("reference", "url") and isinstance(value, str):
                    yield value
                elif isinstance(value, (dict, list)):
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, (dict, list)))


def local_target(ref: str, base: str) -> tuple[str, str] | None:
    """``Type/id`` (relative, or absolute under this server's ``base``, ``/_history/n`` allowed)
    → (type, id); None for anything else (contained ``#x``, URNs, other servers)."""
    prefix = base.rstrip("/") + "/"
    if ref.startswith(prefix):
        ref = ref[len(prefix) :]
    elif "://" in ref or ref.startswith(("#", "urn:")):
        return None
    parts = ref.split("/")
    if len(parts) not in (2, 4) or (len(parts) == 4 and parts[2] != "_history"):
        return None
    rtype, rid = parts[0], parts[1]
    if not rtype[:1].isupper() or not rtype.isalpha() or not rid or len(rid) > 64:
        return None
    return rtype, rid


# The organisation's own resources in a practice export: its staff, places and services.
ORGANIZATION_PARTS = (
    ("PractitionerRole", "organization"),
    ("Location", "organization"),
    ("HealthcareService", "organization"),
)


def organization_versions(env: Env, org: str) -> Iterator[Version]:
    """The live PractitionerRoles, Locations and HealthcareServices of ``org`` the caller may read."""
    params = env.store.params
    pids = tuple(sorted(p for key in ORGANIZATION_PARTS if (p := params.get(key)) is not None))
    if not pids:
        return
    by_pid = one_of("x.pid", pids)
    local = local_reference(env.base, "x")
    rks = Sql(
        f"SELECT x.rk FROM idx_reference x WHERE {by_pid.clause} AND x.target_type = 'Organization' "
        f"AND x.target_id = ? AND {local.clause}",
        (*by_pid.args, org, *local.args),
    )
    where = guarded(env, Sql(f"r.rk IN ({rks.clause})", rks.args), "r", "r")
    after = 0
    while True:
        page, more = keyset_page(env, where, after=after, size=PAGE)
        yield from page
        if not more or not page:
            return
        after = page[-1].rk


def practice_patients(env: Env, org: str) -> list[str]:
    """Ids of the live patients of an organisation the caller may read: managed by it
    (``Patient.managingOrganization``) or whose general practitioner is it or one of its
    practitioners (a PractitionerRole of the organisation), sorted."""
    params = env.store.params
    managing, gp = params.get(("Patient", "organization")), params.get(("Patient", "general-practitioner"))
    role_org = params.get(("PractitionerRole", "organization"))
    role_pr = params.get(("PractitionerRole", "practitioner"))
    local = local_reference(env.base, "x")
    parts: list[Sql] = []
    for pid in (managing, gp):
        if pid is not None:
            parts.append(
                Sql(
                    "SELECT x.rk FROM idx_reference x WHERE x.pid = ? AND x.target_type = 'Organization' "
                    f"AND x.target_id = ? AND {local.clause}",
                    (pid, org, *local.args),
                )
            )
    if gp is not None and role_org is not None and role_pr is not None:
        local_o = local_reference(env.base, "o")
        local_p = local_reference(env.base, "p")
        parts.append(
            Sql(
                "SELECT x.rk FROM idx_reference x WHERE x.pid = ? AND x.target_type = 'Practitioner' "
                "AND x.target_id IN (SELECT p.target_id FROM idx_reference o JOIN idx_reference p "
                "ON p.rk = o.rk AND p.pid = ? AND p.target_type = 'Practitioner' "
                f"WHERE o.pid = ? AND o.target_type = 'Organization' AND o.target_id = ? "
                f"AND {local_o.clause} AND {local_p.clause}) AND {local.clause}",
                (gp, role_pr, role_org, org, *local_o.args, *local_p.args, *local.args),
            )
        )
    if not parts:
        return []
    rks = union(parts)
    where = guarded(env, Sql(f"r.rk IN ({rks.clause}) AND r.type = 'Patient'", rks.args), "r", "r")
    false = False if env.store.s.dialect == "postgresql" else 0
    rows = env.store.select(
        f"SELECT r.id FROM resource r WHERE {where.clause} AND r.deleted = ? ORDER BY r.id",
        (*where.args, false),
    )
    return [str(row[0]) for row in rows]
