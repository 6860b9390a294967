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
- **professionals**: reference data, plus the compartments of the patients they care for — managed
  by their organisation (``Patient.managingOrganization``), whose GP they are
  (``Patient.generalPractitioner``: them or their organisation), or whose CareTeam they (or their
  organisation) belong to — minus patients who blocked them or their organisation (an active
  Consent with a ``deny`` provision naming them as actor), plus patients opened by
  break-the-glass (time-limited grants, which override a block).
- **administrators**: reference data only (account management needs no clinical data).

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


@cache
def patient_compartment_types() -> frozenset[str]:
    """Resource types that are members of the Patient compartment (R4 CompartmentDefinition)."""
    members = default_registry().compartments().get(PATIENT, {})
    return frozenset(t for t, codes in members.items() if codes)


def shared_types() -> frozenset[str]:
    """Types that hold no patient's data: reference data every authenticated user may read."""
    return default_registry().resource_types() - patient_compartment_types()


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
        ``permission``; ``None`` means no restriction at all."""
        parts: list[Sql] = []
        for grant in self._grants(None, permission):
            cond = self._grant_rows(grant, alias)
            if cond is None:
                return None
            parts.append(cond)
        if not parts:
            return NOTHING
        return _or(parts)

    def _grant_rows(self, grant: Grant, alias: str) -> Sql | None:
        conds: list[Sql] = []
        if grant.type != "*":
            conds.append(Sql(f"{alias}.type = ?", (grant.type,)))
        if grant.context == "system":
            pass
        elif grant.context == "patient":
            conds.append(self._launch_rows(alias))
        else:
            conds.append(self._user_rows(alias))
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

    def _launch_rows(self, alias: str) -> Sql:
        """``patient/`` grants: the launch patient's compartment (within what the user may see)."""
        principal = self.principal
        patient = principal.launch_patient
        if patient is None and principal.kind == "patient" and principal.patients:
            patient = principal.patients[0]
        if patient is None or (principal.kind == "patient" and patient not in principal.patients):
            return NOTHING
        rows = self.compartment_rows(alias, Sql("?", (patient,)))
        if principal.kind == "system":
            return rows
        user = self._user_rows(alias)
        return Sql(f"({rows.clause}) AND ({user.clause})", (*rows.args, *user.args))

    def _user_rows(self, alias: str) -> Sql:
        kind = self.principal.kind
        shared = one_of(f"{alias}.type", tuple(sorted(shared_types())))
        if kind in {"admin", "system"}:
            return shared
        if kind == "patient":
            ids = self.principal.patients
            if not ids:
                return shared
            rows = self.compartment_rows(alias, one_of_values(ids))
            hidden = one_of(f"{alias}.type", HIDDEN_FROM_PATIENTS)
            return Sql(
                f"({shared.clause}) OR (({rows.clause}) AND NOT ({hidden.clause}))",
                (*shared.args, *rows.args, *hidden.args),
            )
        rows = self.compartment_rows(alias, self.cared_for())
        return Sql(f"({shared.clause}) OR ({rows.clause})", (*shared.args, *rows.args))

    def compartment_rows(self, alias: str, patients: Sql) -> Sql:
        """Rows of ``alias`` in the compartment of the patients whose ids ``patients`` lists
        (an SQL list of values or a ``SELECT`` of ids)."""
        pids = sorted(
            pid
            for rtype, codes in default_registry().compartments().get(PATIENT, {}).items()
            for code in codes
            if code != "{def}" and (pid := self.pids.get((rtype, code))) is not None
        )
        by_pid = one_of(f"pv_{alias}.pid", tuple(pids))
        local = local_reference(self.base, f"pv_{alias}")
        return Sql(
            f"({alias}.type = 'Patient' AND {alias}.id IN ({patients.clause}))"
            f" OR EXISTS (SELECT 1 FROM idx_reference pv_{alias} WHERE pv_{alias}.rk = {alias}.rk"
            f" AND {by_pid.clause} AND pv_{alias}.target_type = 'Patient'"
            f" AND pv_{alias}.target_id IN ({patients.clause}) AND {local.clause})",
            (*patients.args, *by_pid.args, *patients.args, *local.args),
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
            blocked = self._blocked(members)
            parts.append(
                Sql(
                    "SELECT cp.id FROM resource cp WHERE cp.type = 'Patient' AND NOT cp.deleted AND cp.rk IN"
                    f" (SELECT rk FROM idx_reference WHERE {by_pid.clause} AND ({match.clause}))"
                    f" AND cp.id NOT IN ({blocked.clause})",
                    (*by_pid.args, *match.args, *blocked.args),
                )
            )
            if team is not None and participant is not None:
                parts.append(
                    Sql(
                        "SELECT ct.target_id FROM idx_reference ct"
                        " WHERE ct.pid = ? AND ct.target_type = 'Patient'"
                        f" AND ct.rk IN (SELECT rk FROM idx_reference WHERE pid = ? AND ({match.clause}))"
                        f" AND ct.target_id NOT IN ({blocked.clause})",
                        (team, participant, *match.args, *blocked.args),
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
