"""The access policy, compiled into SQL conditions on ``resource`` rows.

ARCHITECTURE principle 5: every path that reads resources — read, vread, search, chains, ``_has``,
``_include``/``_revinclude``, compartments, ``$everything``, history, Bundle entries — adds
:meth:`Policy.visible` for each ``resource`` alias it touches, so a row the caller may not see is
never selected (a denied read is a 404, exactly like an absent resource). Writes are checked twice:
the current version must be visible before an update or delete, and the new version must be
visible after it (:meth:`Policy.check_written`), so nobody can write into a record they cannot see.

Who sees what (docs/security.md):

- **system** clients (backend services, ``hygie token issue``): what their ``system/`` scopes
  name, every row of those types; with a launch patient (``--patient``), only that patient's
  compartment.
- **patients**: their own Patient compartment and those of the patients they act for (proxies),
  plus reference data that belongs to no patient (Practitioner, Organization, Medication…).
  Groups and Lists, which gather several patients, are not shown to patients.
- A patient's record is their Patient compartment (R4 CompartmentDefinition) plus the resources
  of :data:`ATTACHED` types whose ``patient`` parameter names them (a Task for them, a Device
  they carry). Types that can carry anybody's data with nothing saying whose (:data:`PRIVATE`:
  Binary, Bundle, MessageHeader…) are neither reference data nor anybody's record: only system
  scopes without a launch patient reach them. Reference data is every other type.
- **professionals**: reference data, plus the compartments of the patients they care for — managed
  by their organisation (``Patient.managingOrganization``), whose GP they are
  (``Patient.generalPractitioner``: them or their organisation), or whose CareTeam they (or their
  organisation) belong to — minus patients who blocked them or their organisation (an active
  Consent with a ``deny`` provision naming them as actor), plus patients opened by
  break-the-glass (time-limited grants, which override a block).
- **administrators**: reference data only (account management needs no clinical data).

Reads follow the R4 compartment rule: a resource is in a patient's record when ANY of its
compartment references names the patient. Writes are stricter (permissions ``c``, ``u``, ``d``,
checked on the current version before an update or delete and on the new one after a write): the
resource must name no patient outside what the caller sees, so nobody adds to, edits or deletes
from a hidden record by also naming a patient they see; and only system scopes write the
resources that configure the server (:data:`CONFIGURATION`). Past versions (permission :data:`PAST`, used by
vread and history) are vouched for only by grants without criteria, which cannot be checked on
a version that is not indexed; the store also drops past versions that named a patient the
current version does not name (a resource moved between records keeps its past in the first).

SMART scopes narrow all of this: a type needs a grant with the permission (``r`` read, ``s``
search…), ``patient/`` grants restrict to the launch patient's compartment, and grant criteria
(``patient/Observation.rs?category=laboratory``) are compiled like search criteria.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from zoneinfo import ZoneInfo

from hygie.auth.scopes import Grant
from hygie.auth.tokens import Principal
from hygie.fhir.searchparams import default_registry
from hygie.search.query import Sql, Target, compile_criterion, local_reference, one_of

NOTHING = Sql("1 = 0", ())
HIDDEN_FROM_PATIENTS = ("Group", "List")
PATIENT = "Patient"
PAST = "v"  # pseudo-permission: read versions that are not the current one
WRITES = frozenset({"c", "u", "d"})
# Resources that configure the server (a SearchParameter changes what the policy reads, e.g.
# Consent ``provision-type``): written through system scopes only.
CONFIGURATION = (
    "CapabilityStatement",
    "CompartmentDefinition",
    "ImplementationGuide",
    "OperationDefinition",
    "SearchParameter",
    "StructureDefinition",
)
# Outside the Patient compartment, but their ``patient`` parameter names whose data they are.
ATTACHED = ("Contract", "Device", "GuidanceResponse", "Task")
ATTACHED_SHARED_WHEN_FREE = ("Device",)  # a device worn by nobody is reference data
# May carry anybody's data with no parameter saying whose: system scopes only.
PRIVATE = (
    "Binary",
    "Bundle",
    "EnrollmentResponse",
    "Linkage",
    "MessageHeader",
    "OperationOutcome",
    "Parameters",
    "PaymentNotice",
    "PaymentReconciliation",
    "Subscription",
    "TestReport",
    "VerificationResult",
)


@cache
def patient_compartment_types() -> frozenset[str]:
    """Resource types that are members of the Patient compartment (R4 CompartmentDefinition)."""
    members = default_registry().compartments().get(PATIENT, {})
    return frozenset(t for t, codes in members.items() if codes)


@cache
def shared_types() -> frozenset[str]:
    """Types that hold no patient's data: reference data every authenticated user may read."""
    others = patient_compartment_types() | set(ATTACHED) | set(PRIVATE)
    return default_registry().resource_types() - others


@dataclass(frozen=True, slots=True)
class Policy:
    """What one principal may see and do, for one request."""

    principal: Principal
    pids: Mapping[tuple[str, str], int]
    base: str | None
    now_ms: int
    account: str | None = None  # the account id, for break-the-glass grants
    timezone: str = "Europe/Paris"

    # -- type level ---------------------------------------------------------------------------
    def allows(self, rtype: str, permission: str) -> bool:
        """Some usable grant gives ``permission`` (c r u d s) on ``rtype``."""
        return bool(self._grants(rtype, permission))

    def _grants(self, rtype: str | None, permission: str) -> list[Grant]:
        usable = self._contexts()
        return [
            g
            for g in self.principal.scopes.grants
            if g.context in usable
            and permission in g.permissions
            and (rtype is None or g.type in ("*", rtype))
        ]

    def _contexts(self) -> frozenset[str]:
        # A backend service acts under system/ scopes (and patient/ with a launch patient);
        # people act under user/ and patient/ scopes, never system/.
        if self.principal.kind == "system":
            return frozenset({"system", "patient"})
        return frozenset({"user", "patient"})

    # -- row level ----------------------------------------------------------------------------
    def visible(self, alias: str, permission: str = "r") -> Sql | None:
        """The condition on ``{alias}`` (a ``resource`` row) for rows the principal may
        ``permission`` (c r u d s, or :data:`PAST`); ``None`` means no restriction at all."""
        past = permission == PAST
        every = permission in WRITES
        parts: list[Sql] = []
        for grant in self._grants(None, "r" if past else permission):
            if past and grant.criteria:
                continue
            cond = self._grant_rows(grant, alias, every)
            if cond is None:
                return None
            parts.append(cond)
        if not parts:
            return NOTHING
        return _or(parts)

    def _grant_rows(self, grant: Grant, alias: str, every: bool = False) -> Sql | None:
        conds: list[Sql] = []
        if grant.type != "*":
            conds.append(Sql(f"{alias}.type = ?", (grant.type,)))
        if grant.context == "system":
            pass
        elif grant.context == "patient":
            conds.append(self._launch_rows(alias, every))
        else:
            conds.append(self._user_rows(alias, every))
        if grant.criteria:
            conds.append(self._criteria(grant, alias))
        if not conds:
            return None
        return Sql(" AND ".join(f"({c.clause})" for c in conds), tuple(a for c in conds for a in c.args))

    def _criteria(self, grant: Grant, alias: str) -> Sql:
        types = (grant.type,) if grant.type != "*" else tuple(sorted(default_registry().resource_types()))
        tz = ZoneInfo(self.timezone)
        parts = [
            compile_criterion(Target(types, alias), name, raw, self.pids, tz, base=self.base)
            for name, raw in grant.criteria
        ]
        return Sql(" AND ".join(f"({p.clause})" for p in parts), tuple(a for p in parts for a in p.args))

    def _launch_rows(self, alias: str, every: bool = False) -> Sql:
        """``patient/`` grants: the launch patient's compartment (within what the user may see)."""
        principal = self.principal
        patient = principal.launch_patient
        if patient is None and principal.kind == "patient" and principal.patients:
            patient = principal.patients[0]
        if patient is None or (principal.kind == "patient" and patient not in principal.patients):
            return NOTHING
        rows = self.compartment_rows(alias, Sql("?", (patient,)), every)
        if principal.kind == "system":
            return rows
        user = self._user_rows(alias, every)
        return Sql(f"({rows.clause}) AND ({user.clause})", (*rows.args, *user.args))

    def _user_rows(self, alias: str, every: bool = False) -> Sql:
        kind = self.principal.kind
        shared = self._shared_rows(alias, every)
        if kind in {"admin", "system"}:
            return shared
        if kind == "patient":
            ids = self.principal.patients
            if not ids:
                return shared
            rows = self.compartment_rows(alias, one_of_values(ids), every)
            hidden = one_of(f"{alias}.type", HIDDEN_FROM_PATIENTS)
            return Sql(
                f"({shared.clause}) OR (({rows.clause}) AND NOT ({hidden.clause}))",
                (*shared.args, *rows.args, *hidden.args),
            )
        rows = self.compartment_rows(alias, self.cared_for(), every)
        return Sql(f"({shared.clause}) OR ({rows.clause})", (*shared.args, *rows.args))

    def _shared_rows(self, alias: str, write: bool = False) -> Sql:
        """Reference data: shared types, and devices worn by nobody (for a ``write``: not the
        server's configuration)."""
        types = shared_types() - set(CONFIGURATION) if write else shared_types()
        shared = one_of(f"{alias}.type", tuple(sorted(types)))
        free = one_of(f"{alias}.type", ATTACHED_SHARED_WHEN_FREE)
        by_pid = one_of(f"pf_{alias}.pid", self._record_pids(ATTACHED_SHARED_WHEN_FREE))
        return Sql(
            f"{shared.clause} OR ({free.clause} AND NOT EXISTS (SELECT 1 FROM idx_reference pf_{alias}"
            f" WHERE pf_{alias}.rk = {alias}.rk AND {by_pid.clause} AND pf_{alias}.target_type = 'Patient'))",
            (*shared.args, *free.args, *by_pid.args),
        )

    def _record_pids(self, types: tuple[str, ...] | None = None) -> tuple[int, ...]:
        """Keys of the reference parameters that put a resource in a patient's record: the R4
        Patient compartment's, and ``patient`` of the :data:`ATTACHED` types (of ``types``)."""
        links = [
            (rtype, code)
            for rtype, codes in default_registry().compartments().get(PATIENT, {}).items()
            for code in codes
            if code != "{def}"
        ]
        links.extend((rtype, "patient") for rtype in ATTACHED)
        chosen = [(t, c) for t, c in links if types is None or t in types]
        return tuple(sorted(pid for key in chosen if (pid := self.pids.get(key)) is not None))

    def compartment_rows(self, alias: str, patients: Sql, every: bool = False) -> Sql:
        """Rows of ``alias`` in the record of the patients whose ids ``patients`` lists (an SQL
        list of values or a ``SELECT`` of ids); ``every``: and in no other patient's record."""
        by_pid = one_of(f"pv_{alias}.pid", self._record_pids())
        local = local_reference(self.base, f"pv_{alias}")
        rows = Sql(
            f"({alias}.type = 'Patient' AND {alias}.id IN ({patients.clause}))"
            f" OR EXISTS (SELECT 1 FROM idx_reference pv_{alias} WHERE pv_{alias}.rk = {alias}.rk"
            f" AND {by_pid.clause} AND pv_{alias}.target_type = 'Patient'"
            f" AND pv_{alias}.target_id IN ({patients.clause}) AND {local.clause})",
            (*patients.args, *by_pid.args, *patients.args, *local.args),
        )
        if not every:
            return rows
        other = one_of(f"po_{alias}.pid", self._record_pids())
        elsewhere = local_reference(self.base, f"po_{alias}")
        return Sql(
            f"({rows.clause}) AND NOT EXISTS (SELECT 1 FROM idx_reference po_{alias}"
            f" WHERE po_{alias}.rk = {alias}.rk AND {other.clause} AND po_{alias}.target_type = 'Patient'"
            f" AND po_{alias}.target_id NOT IN ({patients.clause}) AND {elsewhere.clause})",
            (*rows.args, *other.args, *patients.args, *elsewhere.args),
        )

    def cared_for(self) -> Sql:
        """A ``SELECT`` of the ids of the patients a professional may see (see module doc)."""
        principal = self.principal
        practitioner, org = principal.practitioner, principal.organization
        members: list[tuple[str, str]] = []
        if practitioner:
            members.append(("Practitioner", practitioner))
        if org:
            members.append(("Organization", org))
        parts: list[Sql] = []
        if members:
            match = _targets(members)
            care = [self._pid("Patient", "organization"), self._pid("Patient", "general-practitioner")]
            by_pid = one_of("pid", tuple(p for p in care if p is not None))
            team = self._pid("CareTeam", "patient")
            participant = self._pid("CareTeam", "participant")
            related = [
                Sql(
                    "SELECT cp.id FROM resource cp WHERE cp.type = 'Patient' AND NOT cp.deleted AND cp.rk IN"
                    f" (SELECT rk FROM idx_reference WHERE {by_pid.clause} AND ({match.clause}))",
                    (*by_pid.args, *match.args),
                )
            ]
            if team is not None and participant is not None:
                related.append(
                    Sql(
                        "SELECT ct.target_id FROM idx_reference ct"
                        " WHERE ct.pid = ? AND ct.target_type = 'Patient'"
                        f" AND ct.rk IN (SELECT rk FROM idx_reference WHERE pid = ? AND ({match.clause}))",
                        (team, participant, *match.args),
                    )
                )
            blocked = self._blocked(members)  # one test for both relations: a smaller query to plan
            parts.append(
                Sql(
                    f"SELECT cr.id FROM ({' UNION '.join(r.clause for r in related)}) cr"
                    f" WHERE cr.id NOT IN ({blocked.clause})",
                    (*(a for r in related for a in r.args), *blocked.args),
                )
            )
        if self.account:
            grant = "SELECT patient FROM btg_grant WHERE account = ? AND until > ?"
            parts.append(Sql(grant, (self.account, self.now_ms)))
        if not parts:
            return Sql("SELECT NULL WHERE 1 = 0", ())
        return Sql(" UNION ".join(p.clause for p in parts), tuple(a for p in parts for a in p.args))

    def _blocked(self, members: list[tuple[str, str]]) -> Sql:
        """Patients with an active Consent whose ``deny`` provision names one of ``members``."""
        patient, actor = self._pid("Consent", "patient"), self._pid("Consent", "actor")
        status, kind = self._pid("Consent", "status"), self._pid("Consent", "provision-type")
        if patient is None or actor is None or status is None or kind is None:
            return Sql("SELECT NULL WHERE 1 = 0", ())
        match = _targets(members)
        return Sql(
            "SELECT bx.target_id FROM idx_reference bx WHERE bx.pid = ? AND bx.target_type = 'Patient'"
            f" AND bx.rk IN (SELECT rk FROM idx_reference WHERE pid = ? AND ({match.clause}))"
            " AND bx.rk IN (SELECT rk FROM idx_token WHERE pid = ? AND code = 'active')"
            " AND bx.rk IN (SELECT rk FROM idx_token WHERE pid = ? AND code = 'deny')",
            (patient, actor, *match.args, status, kind),
        )

    def _pid(self, rtype: str, code: str) -> int | None:
        pid = self.pids.get((rtype, code))
        return int(pid) if pid is not None else None


def _targets(members: list[tuple[str, str]]) -> Sql:
    clause = " OR ".join("(target_type = ? AND target_id = ?)" for _ in members)
    return Sql(clause, tuple(v for pair in members for v in pair))


def one_of_values(values: tuple[str, ...]) -> Sql:
    return Sql(",".join("?" * len(values)), values)


def _or(parts: list[Sql]) -> Sql:
    if len(parts) == 1:
        return parts[0]
    return Sql(" OR ".join(f"({p.clause})" for p in parts), tuple(a for p in parts for a in p.args))
