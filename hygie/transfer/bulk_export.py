"""The Bulk Data export itself: NDJSON files per resource type, read in chunks under a policy.

Bulk Data Access IG 2.0 — https://hl7.org/fhir/uv/bulkdata/STU2/export.html. Levels:

- **system** (``[base]/$export``): every resource type;
- **Patient** (``[base]/Patient/$export``): the types of the Patient compartment
  (https://hl7.org/fhir/R4/compartmentdefinition-patient.html), resources in the compartment
  of some patient (all patients, or those of the ``patient`` parameter);
- **Group** (``[base]/Group/[id]/$export``): the same, for the patients that are active members
  of the Group (``Group.member.entity``, ``inactive`` members left out).

What the caller may see is decided by the caller's access policy inside every query, exactly as
for a search (:func:`hygie.api.search.compile_where` adds ``Policy.visible`` with permission
``s``; :meth:`hygie.storage.store.Store.read_many` checks ``r`` again): nothing is filtered after
the fact, so a Group naming patients the caller may not see cannot widen what it gets.

Each type is read in keyset pages of ``HYGIE_BULK_CHUNK_SIZE`` resource keys, one short
transaction per page (:class:`Chunk`), so memory stays flat and writers are never blocked
long. ``transactionTime`` is the export's start: resources updated later are left out (they
belong to the next ``_since`` export), so consecutive ``_since`` exports neither miss nor repeat.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hygie.api.context import Env
from hygie.api.search import compile_where
from hygie.fhir.searchparams import compartment_params
from hygie.search.catalog import visible
from hygie.search.fulltext import bind
from hygie.search.query import Sql, local_reference, one_of
from hygie.transfer.bulk_files import PageWriter
from hygie.transfer.bulk_request import ExportRequest

NDJSON = "application/fhir+ndjson"


@dataclass(slots=True)
class Output:
    """One NDJSON file of the manifest."""

    type: str
    file: str
    count: int = 0


@dataclass(slots=True)
class Progress:
    """Where an export is: the type being read, its last key, the files written so far."""

    types: list[str]
    index: int = 0
    after: int = 0
    outputs: list[Output] = field(default_factory=list)
    patients: set[str] = field(default_factory=set)  # audited: one record per patient
    total: int = 0

    @property
    def done(self) -> bool:
        return self.index >= len(self.types)

    def text(self) -> str:
        if self.done:
            return f"{self.total} resources exported"
        return f"{self.index}/{len(self.types)} types, {self.total} resources ({self.types[self.index]})"


def members_condition(env: Env, req: ExportRequest, rtype: str, group_rk: int | None) -> Sql | None:
    """The Patient/Group level condition on ``r`` for ``rtype`` (None at system level)."""
    if req.level == "system":
        return None
    sets = _patient_sets(env, req, group_rk)
    if rtype == "Patient":
        if not sets:
            return None
        return _and([Sql(f"r.id IN ({s.clause})", s.args) for s in sets])
    pids = tuple(
        sorted(
            pid
            for code in compartment_params("Patient", rtype)
            if code != "{def}" and (pid := env.store.params.get((rtype, code))) is not None
        )
    )
    if not pids:
        return Sql("1 = 0", ())
    by_pid = one_of("bx.pid", pids)
    local = local_reference(env.base, "bx")
    conds = [
        Sql(f"{by_pid.clause} AND bx.target_type = 'Patient' AND {local.clause}", (*by_pid.args, *local.args))
    ]
    conds.extend(Sql(f"bx.target_id IN ({s.clause})", s.args) for s in sets)
    inner = _and(conds)
    return Sql(f"EXISTS (SELECT 1 FROM idx_reference bx WHERE bx.rk = r.rk AND {inner.clause})", inner.args)


def _and(parts: list[Sql]) -> Sql:
    return Sql(" AND ".join(f"({p.clause})" for p in parts), tuple(a for p in parts for a in p.args))


def _patient_sets(env: Env, req: ExportRequest, group_rk: int | None) -> list[Sql]:
    """The sets of patient ids (``?`` lists or ``SELECT``s) the export is limited to: the
    ``patient`` parameter's, the Group's active members; none: any patient."""
    sets: list[Sql] = []
    if req.patients is not None:
        sets.append(Sql(",".join("?" * len(req.patients)) or "NULL", tuple(req.patients)))
    if req.level == "group":
        member = env.store.params.get(("Group", "member"))
        if group_rk is None or member is None:
            return [Sql("NULL", ())]
        local = local_reference(env.base, "gm")
        select = Sql(
            "SELECT gm.target_id FROM idx_reference gm WHERE gm.rk = ? AND gm.pid = ?"
            f" AND gm.target_type = 'Patient' AND {local.clause}",
            (group_rk, member, *local.args),
        )
        inactive = inactive_members(env, group_rk)
        if inactive:
            select = Sql(
                f"{select.clause} AND gm.target_id NOT IN ({','.join('?' * len(inactive))})",
                (*select.args, *inactive),
            )
        sets.append(select)
    return sets


def inactive_members(env: Env, group_rk: int) -> tuple[str, ...]:
    """Patients listed with ``inactive: true`` in the Group (R4 Group.member.inactive)."""
    found = env.store.read_many([group_rk])
    if not found or found[0].deleted:
        return ()
    out: list[str] = []
    for member in found[0].resource().get("member") or []:
        if isinstance(member, dict) and member.get("inactive") is True:
            ref = (member.get("entity") or {}).get("reference")
            if isinstance(ref, str) and "Patient/" in ref:
                out.append(ref.rsplit("Patient/", 1)[1].split("/")[0])
    return tuple(out)


def type_where(env: Env, req: ExportRequest, rtype: str, tx_ms: int, group_rk: int | None) -> Sql:
    """Everything a resource of ``rtype`` must satisfy to be exported (policy included)."""
    restrict = [Sql("r.last_updated <= ?", (tx_ms,))]
    if req.since_ms is not None:
        restrict.append(Sql("r.last_updated > ?", (req.since_ms,)))
    if (members := members_condition(env, req, rtype, group_rk)) is not None:
        restrict.append(members)
    extra = Sql(" AND ".join(f"({p.clause})" for p in restrict), tuple(a for p in restrict for a in p.args))
    filters = req.filters.get(rtype) or [[]]
    wheres = [compile_where(env, rtype, list(f), extra, lenient=req.lenient) for f in filters]
    if len(wheres) == 1:
        return Sql(wheres[0].clause, wheres[0].args)
    return Sql(" OR ".join(f"({w.clause})" for w in wheres), tuple(a for w in wheres for a in w.args))


def group_key(env: Env, req: ExportRequest) -> int | None:
    """The storage key of the exported Group if the caller may read it (None otherwise)."""
    if req.level != "group" or req.group is None:
        return None
    group = env.store.read("Group", req.group)
    return group.rk if group is not None and not group.deleted else None


class Chunk:
    """One step of an export: read the next page of the current type and append it to its file.

    ``run(env)`` is meant to run inside one read transaction; it returns False once every type
    is done. Files are opened in append mode, so a process can resume a page at a time.

    A page costs one query: its keys (an index range scan in key order), then their bodies,
    fetched in binary on PostgreSQL (:meth:`Session.all_binary`). The stored bodies already hold
    ``id`` and ``meta`` (``versionId``, ``lastUpdated``), so each is written as it was stored,
    once decompressed: no parsing, no re-serialising (but with ``_elements``). The
    decompression, the writes and the patients' scan run in :class:`PageWriter`'s thread while
    the next page is read."""

    def __init__(self, req: ExportRequest, out: Path, tx_ms: int, size: int, progress: Progress) -> None:
        self.req = req
        self.out = out
        self.tx_ms = tx_ms
        self.size = size
        self.progress = progress
        self._sources: dict[str, str] = {}  # type → how its page keys are read (SQLite)
        self._files = PageWriter(progress.patients)

    def __enter__(self) -> Chunk:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is None:
            self.close()
            return
        with suppress(Exception):  # the error that stopped the export is the one to report
            self.close()

    def close(self) -> None:
        """Wait until every page read is written (a write error is raised here); the files,
        counts and patients of :attr:`progress` are then complete. Use the chunk as a context
        manager: the writer's thread ends with it."""
        self._files.close()

    def run(self, env: Env) -> bool:
        p = self.progress
        if p.done:
            return False
        rtype = p.types[p.index]
        where = type_where(env, self.req, rtype, self.tx_ms, group_key(env, self.req))
        # and readable, as read_many checks it — inside the page's keys: a page short of rows the
        # caller may not read must not end the type early
        readable = visible(env.store.params, "r", "r")
        also = f" AND ({readable.clause})" if readable is not None else ""
        source = self._source(env, rtype)
        # the page's keys first (an index range scan in key order), then their bodies
        env.store.flush()
        rows = env.store.s.all_binary(
            "SELECT r.rk, r.id, v.body FROM resource r"
            " JOIN resource_version v ON v.rk = r.rk AND v.vid = r.vid WHERE r.rk IN"
            f" (SELECT r.rk FROM {source} WHERE ({where.clause}) AND r.rk > ?{also} ORDER BY r.rk LIMIT ?)"
            " ORDER BY r.rk",
            bind(
                (*where.args, p.after, *(readable.args if readable is not None else ()), self.size),
                env.store.s.dialect,
            ),
        )
        if rows:
            output = self._output(rtype)
            patients = {str(rid) for _, rid, _ in rows} if rtype == "Patient" else None
            bodies = [body for _, _, body in rows]
            self._files.add(self.out / output.file, bodies, patients, self.req.elements_for(rtype))
            output.count += len(rows)
            p.total += len(rows)
        if len(rows) < self.size:
            p.index, p.after = p.index + 1, 0
        else:
            p.after = int(rows[-1][0])
        return not p.done

    def _source(self, env: Env, rtype: str) -> str:
        """The ``FROM`` of the page's keys. PostgreSQL reads a type in key order from its index
        (``resource (type, deleted, rk)``). SQLite's only index by type is ``(type, id)``: a page
        read through it visits every resource of the type and sorts the rest by key, so a large
        type costs its size at every page (quadratic). For a type that makes up a large share of
        the table, walking the table in key order from the page's first key (``NOT INDEXED``:
        the rowid range only) visits ``size / share`` rows instead. Not with a ``_typeFilter``
        (which may drive the page from its own index) nor for Patients limited to some ids
        (``patient``, Group members: found by id). Same rows, same order: only the plan differs."""
        by_id = rtype == "Patient" and (self.req.patients is not None or self.req.level == "group")
        if env.store.s.dialect != "sqlite" or self.req.filters.get(rtype) or by_id:
            return "resource r"
        source = self._sources.get(rtype)
        if source is None:
            row = env.store.s.one(
                "SELECT (SELECT count(*) FROM resource WHERE type = ?), (SELECT max(rk) FROM resource)",
                (rtype,),
            )
            count, span = (int(row[0] or 0), int(row[1] or 0)) if row else (0, 0)
            walk = count > self.size and count * count >= self.size * span
            source = "resource r NOT INDEXED" if walk else "resource r"
            self._sources[rtype] = source
        return source

    def _output(self, rtype: str) -> Output:
        p = self.progress
        if p.outputs and p.outputs[-1].type == rtype:
            return p.outputs[-1]
        output = Output(rtype, f"{rtype}.ndjson")
        p.outputs.append(output)
        return output


def run_all(run: Callable[[Callable[[Any], bool]], bool], chunk: Chunk) -> None:
    """Drive ``chunk`` to the end, ``run`` giving each step its own transaction; then close it."""
    with chunk:
        while run(chunk.run):
            pass
