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
  they carry, a Binary whose ``securityContext`` is them). Types that can carry anybody's data
  with nothing saying whose (:data:`PRIVATE`: Bundle, MessageHeader…), and attached resources
  naming no patient (a Binary without a patient ``securityContext``), are neither reference data
  nor anybody's record: only system scopes without a launch patient reach them. Reference data
  is every other type.
- **professionals**: reference data, plus the compartments of the patients they care for — managed
  by their organisation (``Patient.managingOrganization``), whose GP they are
  (``Patient.generalPractitioner``: them or their organisation), or whose CareTeam they (or their
  organisation) belong to (while the team is active and its period covers now) — minus patients
  who blocked them or their organisation (an active Consent with a ``deny`` provision, root or
  nested, naming them as actor, within the Consent's period), plus patients opened by
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

from collections.abc import Callable, Mapping
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
# Outside the Patient compartment, but their ``patient`` parameter names whose data they are
# (Binary: Hygie's ``patient`` parameter, its ``securityContext``, hygie.search.catalog.BUILTIN).
# Without a patient they are nobody's record: system clients only (Device: reference data).
ATTACHED = ("Binary", "Contract", "Device", "GuidanceResponse", "Task")
ATTACHED_SHARED_WHEN_FREE = ("Device",)  # a device worn by nobody is reference data
# May carry anybody's data with no parameter saying whose: system scopes only.
PRIVATE = (
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
        rows = self.compartment_rows(alias, _equal(patient), every)
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
            rows = self.compartment_rows(alias, _among(ids), every)
            hidden = one_of(f"{alias}.type", HIDDEN_FROM_PATIENTS)
            return Sql(
                f"({shared.clause}) OR (({rows.clause}) AND NOT ({hidden.clause}))",
                (*shared.args, *rows.args, *hidden.args),
            )
        rows = self.compartment_rows(alias, self.cares, every)
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

    def compartment_rows(self, alias: str, allowed: Allowed, every: bool = False) -> Sql:
        """Rows of ``alias`` in the record of a patient that ``allowed`` accepts (``allowed(x)``:
        the condition on the SQL expression ``x`` of a patient id); ``every``: and in no other
        patient's record.

        One correlated test per row: the patients the row names (itself, for a Patient) are
        checked one by one, through indexes, so the cost follows the rows read and not the
        number of patients the caller may see."""
        by_pid = one_of(f"pv_{alias}.pid", self._record_pids())
        local = local_reference(self.base, f"pv_{alias}")
        named = Sql(f"pm_{alias}.pt", ())
        test = allowed(named)
        rows = Sql(
            f"EXISTS (SELECT 1 FROM (SELECT {alias}.id AS pt WHERE {alias}.type = 'Patient' UNION ALL"
            f" SELECT pv_{alias}.target_id FROM idx_reference pv_{alias} WHERE pv_{alias}.rk = {alias}.rk"
            f" AND {by_pid.clause} AND pv_{alias}.target_type = 'Patient' AND {local.clause}) pm_{alias}"
            f" WHERE {test.clause})",
            (*by_pid.args, *local.args, *test.args),
        )
        if not every:
            return rows
        other = one_of(f"po_{alias}.pid", self._record_pids())
        elsewhere = local_reference(self.base, f"po_{alias}")
        outside = allowed(Sql(f"po_{alias}.target_id", ()))
        return Sql(
            f"({rows.clause}) AND NOT EXISTS (SELECT 1 FROM idx_reference po_{alias}"
            f" WHERE po_{alias}.rk = {alias}.rk AND {other.clause} AND po_{alias}.target_type = 'Patient'"
            f" AND {elsewhere.clause} AND NOT ({outside.clause}))",
            (*rows.args, *other.args, *elsewhere.args, *outside.args),
        )

    def cares(self, patient: Sql) -> Sql:
        """The condition that the professional may see the patient whose id is the SQL
        expression ``patient`` (a column, or ``?`` with its value): the rule of the module doc,
        as correlated index lookups. :meth:`cared_for` is the same rule as a set."""
        members = self._members()
        p, pa = patient.clause, patient.args
        related: list[Sql] = []
        if members:
            care = [self._pid("Patient", "organization"), self._pid("Patient", "general-practitioner")]
            by_pid = one_of("cr.pid", tuple(c for c in care if c is not None))
            match = _targets(members, "cr")
            related.append(
                Sql(
                    f"EXISTS (SELECT 1 FROM resource cp WHERE cp.type = 'Patient' AND cp.id = {p}"
                    " AND NOT cp.deleted AND EXISTS (SELECT 1 FROM idx_reference cr WHERE cr.rk = cp.rk"
                    f" AND {by_pid.clause} AND ({match.clause})))",
                    (*pa, *by_pid.args, *match.args),
                )
            )
            team, participant = self._pid("CareTeam", "patient"), self._pid("CareTeam", "participant")
            if team is not None and participant is not None:
                match = _targets(members, "cm")
                current = self._current("ct", self._pid("CareTeam", "status"), self._pid("CareTeam", "date"))
                related.append(
                    Sql(
                        f"EXISTS (SELECT 1 FROM idx_reference ct WHERE ct.pid = ? AND ct.target_id = {p}"
                        " AND ct.target_type = 'Patient' AND EXISTS (SELECT 1 FROM idx_reference cm"
                        f" WHERE cm.rk = ct.rk AND cm.pid = ? AND ({match.clause})){current.clause})",
                        (team, *pa, participant, *match.args, *current.args),
                    )
                )
        parts: list[Sql] = []
        if related:
            either = " OR ".join(r.clause for r in related)
            blocked = self._blocks(patient, members)
            parts.append(
                Sql(
                    f"({either}) AND NOT ({blocked.clause})",
                    (*(a for r in related for a in r.args), *blocked.args),
                )
            )
        if self.account:
            grant = (
                f"EXISTS (SELECT 1 FROM btg_grant g WHERE g.account = ? AND g.patient = {p} AND g.until > ?)"
            )
            parts.append(Sql(grant, (self.account, *pa, self.now_ms)))
        if not parts:
            return NOTHING
        return _or(parts)

    def _members(self) -> list[tuple[str, str]]:
        """The professional and their organisation, as reference targets."""
        members: list[tuple[str, str]] = []
        if self.principal.practitioner:
            members.append(("Practitioner", self.principal.practitioner))
        if self.principal.organization:
            members.append(("Organization", self.principal.organization))
        return members

    def _current(self, alias: str, status: int | None, period: int | None) -> Sql:
        """`` AND …``: the CareTeam ``alias`` is active (or has no status) and its period, when
        given, covers now (https://hl7.org/fhir/R4/careteam.html): a team that ended, has not
        begun, is proposed, suspended, inactive or entered in error grants nothing."""
        clause, args = "", []
        if status is not None:
            clause += (
                f" AND NOT EXISTS (SELECT 1 FROM idx_token {alias}s WHERE {alias}s.rk = {alias}.rk"
                f" AND {alias}s.pid = ? AND {alias}s.code <> 'active')"
            )
            args.append(status)
        if period is not None:
            clause += self._outside(alias, f"{alias}d")
            args.extend((period, self.now_ms, self.now_ms))
        return Sql(clause, tuple(args))

    @staticmethod
    def _outside(alias: str, dates: str) -> str:
        """`` AND NOT EXISTS`` a period of ``alias`` (date index rows, half-open ``[low, high)``
        in epoch ms; args: pid, now, now) that does not cover now."""
        return (
            f" AND NOT EXISTS (SELECT 1 FROM idx_date {dates} WHERE {dates}.rk = {alias}.rk"
            f" AND {dates}.pid = ? AND ({dates}.low > ? OR {dates}.high <= ?))"
        )

    def _blocks(self, patient: Sql, members: list[tuple[str, str]]) -> Sql:
        """An active Consent of ``patient`` with a deny provision naming one of ``members`` —
        the root provision (``provision-type`` deny, ``actor``) or a nested one
        (``denied-actor``, hygie.search.catalog) — whose root period, when given, covers now
        (https://hl7.org/fhir/R4/consent.html). A nested provision's own period is not read: a
        nested deny holds as long as the Consent does (the safe side of a privacy rule)."""
        consent, actor = self._pid("Consent", "patient"), self._pid("Consent", "actor")
        status, kind = self._pid("Consent", "status"), self._pid("Consent", "provision-type")
        if consent is None or actor is None or status is None or kind is None:
            return NOTHING
        match = _targets(members, "ba")
        root = Sql(
            f"EXISTS (SELECT 1 FROM idx_reference ba WHERE ba.rk = bx.rk AND ba.pid = ?"
            f" AND ({match.clause})) AND EXISTS (SELECT 1 FROM idx_token bk"
            " WHERE bk.rk = bx.rk AND bk.pid = ? AND bk.code = 'deny')",
            (actor, *match.args, kind),
        )
        denied = self._pid("Consent", "denied-actor")
        if denied is not None:
            nested = _targets(members, "bn")
            root = Sql(
                f"(({root.clause}) OR EXISTS (SELECT 1 FROM idx_reference bn WHERE bn.rk = bx.rk"
                f" AND bn.pid = ? AND ({nested.clause})))",
                (*root.args, denied, *nested.args),
            )
        period, during = self._pid("Consent", "period"), ""
        during_args: tuple[int, ...] = ()
        if period is not None:
            during, during_args = self._outside("bx", "bp"), (period, self.now_ms, self.now_ms)
        return Sql(
            f"EXISTS (SELECT 1 FROM idx_reference bx WHERE bx.pid = ? AND bx.target_id = {patient.clause}"
            " AND bx.target_type = 'Patient'"
            " AND EXISTS (SELECT 1 FROM idx_token bs WHERE bs.rk = bx.rk"
            f" AND bs.pid = ? AND bs.code = 'active') AND {root.clause}{during})",
            (consent, *patient.args, status, *root.args, *during_args),
        )

    def cared_for(self) -> Sql:
        """A ``SELECT`` of the ids of the (live) patients a professional may see: :meth:`cares`
        as a set. To test one patient, ``policy.cares(Sql("?", (patient_id,)))`` is cheaper."""
        cares = self.cares(Sql("cf.id", ()))
        return Sql(
            "SELECT cf.id FROM resource cf WHERE cf.type = 'Patient' AND NOT cf.deleted"
            f" AND ({cares.clause})",
            cares.args,
        )

    def _pid(self, rtype: str, code: str) -> int | None:
        pid = self.pids.get((rtype, code))
        return int(pid) if pid is not None else None


def _targets(members: list[tuple[str, str]], alias: str = "") -> Sql:
    prefix = f"{alias}." if alias else ""
    clause = " OR ".join(f"({prefix}target_type = ? AND {prefix}target_id = ?)" for _ in members)
    return Sql(clause, tuple(v for pair in members for v in pair))


Allowed = Callable[[Sql], Sql]  # a patient-id SQL expression → "is that patient allowed"


def _equal(patient: str) -> Allowed:
    return lambda x: Sql(f"{x.clause} = ?", (*x.args, patient))


def _among(patients: tuple[str, ...]) -> Allowed:
    return lambda x: Sql(f"{x.clause} IN ({','.join('?' * len(patients))})", (*x.args, *patients))


def _or(parts: list[Sql]) -> Sql:
    if len(parts) == 1:
        return parts[0]
    return Sql(" OR ".join(f"({p.clause})" for p in parts), tuple(a for p in parts for a in p.args))
