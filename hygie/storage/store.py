"""Versioned resource storage on a :class:`~hygie.storage.database.Session`.

One code path for both backends. Every write keeps the previous versions; index rows for
search are rebuilt from the new current version by shared code (:mod:`hygie.search.extract`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import nullcontext
from datetime import UTC, tzinfo
from typing import Any, Literal

import structlog

from hygie.fhir import jsonio
from hygie.fhir.messages import register
from hygie.fhir.outcome import FhirError
from hygie.search import fulltext
from hygie.search.catalog import (
    Catalog,
    check_custom,
    index_keys,
    is_active,
    registry_of,
    visible,
    with_custom,
)
from hygie.search.composite import COLUMNS as COMPOSITE_COLUMNS
from hygie.search.extract import IndexRows, extract
from hygie.storage.codec import pack, unpack
from hygie.storage.database import COPY_THRESHOLD, Session
from hygie.storage.index_rows import Pids, stored_rows
from hygie.storage.migrations import INDEX_TABLES
from hygie.storage.restore import restore, restore_many
from hygie.storage.versions import Version, instant, new_id, now_ms, stamp

_COLUMNS = {
    "token": ("rk", "pid", "system", "code"),
    "token_text": ("rk", "pid", "folded"),
    "string": ("rk", "pid", "folded", "exact"),
    "reference": ("rk", "pid", "target_type", "target_id", "url"),
    "date": ("rk", "pid", "low", "high"),
    "number": ("rk", "pid", "value", "low", "high"),
    "quantity": ("rk", "pid", "system", "code", "value", "low", "high"),
    "uri": ("rk", "pid", "uri"),
    "composite": ("rk", "pid", *COMPOSITE_COLUMNS),
}
_VERSION_COLUMNS = ("rk", "vid", "method", "last_updated", "deleted", "body")
_SET_CURRENT = "UPDATE resource SET vid = ?, deleted = ?, last_updated = ? WHERE rk = ?"
_DELETE = {t: f"DELETE FROM idx_{t} WHERE rk = ?" for t in INDEX_TABLES}
_DELETE_ALL_PG = (
    "WITH "
    + ", ".join(f"d{i} AS (DELETE FROM idx_{t} WHERE rk = ?)" for i, t in enumerate(INDEX_TABLES[:-1]))
    + f" DELETE FROM idx_{INDEX_TABLES[-1]} WHERE rk = ?"
)
# Full-text rows (https://hl7.org/fhir/R4/search.html#text, hygie/search/fulltext.py; schema:
# migration 3). PostgreSQL builds the tsvector itself, with its ``french`` configuration.
_FULLTEXT_INSERT = {
    "sqlite": "INSERT INTO fulltext (rowid, narrative, content) VALUES (?, ?, ?)",
    "postgresql": "INSERT INTO fulltext_doc (rk, doc) SELECT t.rk, "
    "setweight(to_tsvector('french'::regconfig, t.n), 'A') || to_tsvector('french'::regconfig, t.c) "
    "FROM unnest(?::bigint[], ?::text[], ?::text[]) AS t(rk, n, c)",
}
_FULLTEXT_DELETE = {
    "sqlite": "DELETE FROM fulltext WHERE rowid = ?",
    "postgresql": "DELETE FROM fulltext_doc WHERE rk = ?",
}
_log = structlog.get_logger("hygie.storage")
register(
    {
        "forbidden_interaction": {
            "fr": "Accès refusé : vos autorisations ne permettent pas cette action "
            "({permission}) sur {type}.",
            "en": "Access denied: your authorisations do not allow this action ({permission}) on {type}.",
        },
        "forbidden_write": {
            "fr": "Accès refusé : la ressource {type} écrite serait hors des dossiers "
            "auxquels vous avez accès.",
            "en": "Access denied: the {type} written would fall outside the records you may access.",
        },
        "restore_bad_id": {
            "fr": "Ressource {type} à restaurer : id absent ou invalide ({id}) ; attendu "
            "[A-Za-z0-9-.]{{1,64}}.",
            "en": "{type} to restore: missing or invalid id ({id}); expected [A-Za-z0-9-.]{{1,64}}.",
        },
        "restore_conflict": {
            "fr": "{type}/{id} existe déjà avec un autre contenu ou une autre version "
            "(version actuelle {current}, restaurée {vid}).",
            "en": "{type}/{id} already exists with another content or version "
            "(current version {current}, restored {vid}).",
        },
        "restore_not_visible": {
            "fr": "{type}/{id} ne peut être restauré : cet id n'est pas dans les dossiers auxquels "
            "vous avez accès.",
            "en": "{type}/{id} cannot be restored: this id is not in the records you may access.",
        },
    }
)
OnConflict = Literal["version", "error", "skip"]


class Store:
    """Resource operations inside one transaction. Not thread-safe; one per unit of work."""

    def __init__(self, session: Session, params: Mapping[tuple[str, str], int], tz: tzinfo = UTC) -> None:
        self.s = session
        self.params = params
        self.registry = registry_of(params)
        self.tz = tz
        # True once this unit of work wrote a SearchParameter: the caller reloads the catalog
        # after commit (https://hl7.org/fhir/R4/searchparameter.html).
        self.catalog_changed = False
        # Writes are buffered and sent in bulk (executemany, one pipeline on PostgreSQL) before
        # any read and before commit: a transaction Bundle of 1,000 entries costs a handful of
        # statements per table, an update one round trip besides its locking read.
        self._statements: list[tuple[str, tuple[Any, ...]]] = []
        self._versions: list[tuple[Any, ...]] = []
        self._rows: dict[int, list[tuple[str, list[tuple[Any, ...]]]]] = {}
        self._texts: dict[int, tuple[str, str]] = {}  # full-text rows by rk
        self._pids = Pids(params)
        session.before_commit.append(self.flush)

    def flush(self) -> None:
        """Send buffered writes to the database: one round trip on PostgreSQL, or COPY in bulk."""
        if not self._versions and not self._rows and not self._statements and not self._texts:
            return
        tables: dict[str, list[tuple[Any, ...]]] = {}
        for items in self._rows.values():
            for table, rows in items:
                tables.setdefault(table, []).extend(rows)
        statements, versions, texts = self._statements, self._versions, self._texts
        self._statements, self._versions, self._rows, self._texts = [], [], {}, {}
        bulk = len(versions) >= COPY_THRESHOLD or any(len(r) >= COPY_THRESHOLD for r in tables.values())
        with nullcontext() if bulk else self.s.pipeline():  # a pipeline cannot carry COPY
            for sql, args in statements:  # first: they clear index rows the inserts below replace
                self.s.execute(sql, args)
            if versions:
                self.s.insert_many("resource_version", _VERSION_COLUMNS, versions)
            for table, rows in tables.items():
                self.s.insert_many(f"idx_{table}", _COLUMNS[table], rows)
            if texts:
                self._insert_texts(texts)

    def _insert_texts(self, texts: dict[int, tuple[str, str]]) -> None:
        if self.s.dialect == "sqlite":
            self.s.executemany(_FULLTEXT_INSERT["sqlite"], [(rk, n, c) for rk, (n, c) in texts.items()])
            return
        narratives = [n for n, _ in texts.values()]
        contents = [c for _, c in texts.values()]
        self.s.execute(_FULLTEXT_INSERT["postgresql"], (list(texts), narratives, contents))

    def discard(self) -> None:
        """Forget buffered writes (the caller rolls back to a savepoint)."""
        self._statements = []
        self._versions = []
        self._rows = {}
        self._texts = {}

    def select(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a query over stored data (buffered writes are flushed first)."""
        self.flush()
        return self.s.all(sql, fulltext.bind(args, self.s.dialect))

    def lock(self, key: str) -> None:
        """Serialise concurrent conditional writes on ``key`` until the transaction ends.

        SQLite already serialises writers (BEGIN IMMEDIATE); PostgreSQL takes an advisory lock.
        """
        if self.s.dialect == "postgresql":
            self.s.execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", (key,))

    # -- reads -----------------------------------------------------------------------------
    def read(self, rtype: str, rid: str, *, for_update: bool = False) -> Version | None:
        """The current version, or None when absent *or not visible to the caller* (a denied read
        looks exactly like an absent resource)."""
        self.flush()
        lock = " FOR UPDATE OF r" if for_update and self.s.dialect == "postgresql" else ""
        policy, policy_args = self._policy()
        row = self.s.one(
            "SELECT r.rk, r.vid, r.deleted, r.last_updated, v.method, v.body, v.seq "
            "FROM resource r JOIN resource_version v ON v.rk = r.rk AND v.vid = r.vid "
            f"WHERE r.type = ? AND r.id = ?{policy}{lock}",
            (rtype, rid, *policy_args),
        )
        if row is None:
            return None
        rk, vid, deleted, ms, method, body, seq = row
        return Version(rtype, rid, vid, ms, bool(deleted), method, None if deleted else unpack(body), rk, seq)

    def vread(self, rtype: str, rid: str, vid: int) -> Version | None:
        self.flush()
        policy, policy_args = self._policy()
        past, past_args = self._past()
        row = self.s.one(
            "SELECT r.rk, v.deleted, v.last_updated, v.method, v.body, v.seq, r.vid "
            "FROM resource r JOIN resource_version v ON v.rk = r.rk "
            f"WHERE r.type = ? AND r.id = ? AND v.vid = ?{policy}{past}",
            (rtype, rid, vid, *policy_args, *past_args),
        )
        if row is None:
            return None
        rk, deleted, ms, method, body, seq, current = row
        if past and vid != current and not self._same_record(rk, rtype, None if deleted else body):
            return None
        return Version(rtype, rid, vid, ms, bool(deleted), method, None if deleted else unpack(body), rk, seq)

    def read_many(self, rks: Sequence[int]) -> list[Version]:
        """Current versions for resource keys, in the given order (missing ones dropped)."""
        if not rks:
            return []
        self.flush()
        found: dict[int, Version] = {}
        policy, policy_args = self._policy()  # defence in depth: callers' queries filter already
        for start in range(0, len(rks), 500):
            chunk = list(rks[start : start + 500])
            marks = ",".join("?" * len(chunk))
            for rk, rtype, rid, vid, deleted, ms, method, body, seq in self.s.all(
                "SELECT r.rk, r.type, r.id, r.vid, r.deleted, r.last_updated, v.method, v.body, v.seq "
                "FROM resource r JOIN resource_version v ON v.rk = r.rk AND v.vid = r.vid "
                f"WHERE r.rk IN ({marks}){policy}",
                (*chunk, *policy_args),
            ):
                found[rk] = Version(
                    rtype, rid, vid, ms, bool(deleted), method, None if deleted else unpack(body), rk, seq
                )
        return [found[rk] for rk in rks if rk in found]

    # -- writes ----------------------------------------------------------------------------
    def create(self, rtype: str, resource: dict[str, Any], rid: str | None = None) -> Version:
        """Store a new resource (server id unless ``rid``); the caller checks ``rid`` is free."""
        self._may(rtype, "c")
        rid = rid or new_id()
        ms = now_ms()
        stored = stamp(resource, rtype, rid, 1, ms)
        row = self.s.one(
            "INSERT INTO resource (type, id, vid, deleted, last_updated) VALUES (?, ?, 1, ?, ?) RETURNING rk",
            (rtype, rid, self._false, ms),
        )
        assert row is not None
        version = self._write_version(row[0], rtype, rid, 1, ms, "POST", stored, reindex=False)
        self._check_written(version.rk, rtype, "c")
        self._check_search_param(rtype, resource)  # after the access check: 403 before 422
        return version

    def update(self, current: Version, resource: dict[str, Any], method: str = "PUT") -> Version:
        """Store a new version over ``current`` (which may be a deletion)."""
        self._may(current.type, "u")
        if not current.deleted:
            self._check_written(current.rk, current.type, "u")  # as it is, before the change
        vid = current.vid + 1
        ms = max(now_ms(), current.last_updated)
        stored = stamp(resource, current.type, current.id, vid, ms)
        self._statements.append((_SET_CURRENT, (vid, self._false, ms, current.rk)))
        version = self._write_version(
            current.rk, current.type, current.id, vid, ms, method, stored, reindex=not current.deleted
        )
        self._check_written(version.rk, current.type, "u")
        self._check_search_param(current.type, resource)  # after the access check: 403 before 422
        return version

    def delete(self, current: Version) -> Version:
        """Record a deletion version over a live ``current`` version."""
        self._may(current.type, "d")
        self._check_written(current.rk, current.type, "d")
        vid = current.vid + 1
        ms = max(now_ms(), current.last_updated)
        self._statements.append((_SET_CURRENT, (vid, self._true, ms, current.rk)))
        self._insert_version(current.rk, vid, "DELETE", ms, True, b"")
        self._clear_index(current.rk)
        self.catalog_changed |= current.type == "SearchParameter"
        return Version(current.type, current.id, vid, ms, True, "DELETE", None, current.rk)

    def restore(self, rtype: str, resource: dict[str, Any], *, on_conflict: OnConflict) -> Version | None:
        """Store a resource exported elsewhere with its own id, version and time
        (:func:`hygie.storage.restore.restore`, docs/import.md)."""
        return restore(self, rtype, resource, on_conflict=on_conflict)

    def restore_many(
        self, items: Sequence[tuple[str, dict[str, Any]]], *, on_conflict: OnConflict
    ) -> Iterator[Version | None]:
        """:meth:`restore` of each ``(type, resource)`` in order, yielding each result; new ids
        are inserted in bulk (:func:`hygie.storage.restore.restore_many`)."""
        return restore_many(self, items, on_conflict=on_conflict)

    # -- access policy (hygie.auth.policy, carried by the catalog) -------------------------------
    def _policy(self, alias: str = "r", permission: str = "r") -> tuple[str, tuple[Any, ...]]:
        """`` AND <condition>`` on ``alias`` for the caller's visible rows ('' when unrestricted)."""
        cond = visible(self.params, alias, permission)
        return ("", ()) if cond is None else (f" AND ({cond.clause})", cond.args)

    def _past(self) -> tuple[str, tuple[Any, ...]]:
        """`` AND …`` keeping past versions (not ``r``'s current one) only where the caller's
        grants vouch for them (hygie.auth.policy, permission ``v``); '' when unrestricted."""
        cond = visible(self.params, "r", "v")
        if cond is None:
            return "", ()
        if cond == visible(self.params, "r"):  # no grant with criteria: the read policy suffices
            return " AND 1 = 1", ()
        return f" AND (v.vid = r.vid OR ({cond.clause}))", cond.args

    def _same_record(self, rk: int, rtype: str, body: Any) -> bool:
        """A past version names no patient (by the compartment or ``patient`` references) that
        the current version does not: a resource moved from one record to another keeps its
        past in the first record only."""
        if body is None:
            return True
        codes = {*self.registry.compartment_params("Patient", rtype), "patient"} - {"{def}"}
        old = extract(jsonio.loads(unpack(body)), self.registry, default_tz=self.tz).reference
        named = {row[2] for row in old if row[0] in codes and row[1] == "Patient"}
        pids = tuple(pid for code in sorted(codes) if (pid := self.params.get((rtype, code))) is not None)
        if not named:
            return True
        if not pids:
            return False
        current = self.select(
            f"SELECT target_id FROM idx_reference WHERE rk = ? AND pid IN ({','.join('?' * len(pids))})"
            " AND target_type = 'Patient'",
            (rk, *pids),
        )
        return named <= {row[0] for row in current}

    def _allows(self, rtype: str, permission: str) -> bool:
        guard = self.params.guard if isinstance(self.params, Catalog) else None
        return guard is None or guard.allows(rtype, permission)

    def _may(self, rtype: str, permission: str) -> None:
        if not self._allows(rtype, permission):
            raise FhirError.of(403, "forbidden", "forbidden_interaction", type=rtype, permission=permission)

    def _check_written(self, rk: int, rtype: str, permission: str) -> None:
        """The current version of ``rk`` must be one the caller may write (``permission`` c, u,
        d): nobody writes into a record (a patient's compartment) they have no access to, or
        moves a resource out of theirs (checked before an update or delete and after a write)."""
        policy, policy_args = self._policy("r", permission)
        if not policy:
            return
        if not self.select(f"SELECT 1 FROM resource r WHERE r.rk = ?{policy}", (rk, *policy_args)):
            raise FhirError.of(403, "forbidden", "forbidden_write", type=rtype)

    def _check_search_param(self, rtype: str, resource: dict[str, Any]) -> None:
        """An active SearchParameter must be usable before it is stored (422 otherwise)."""
        if rtype != "SearchParameter":
            return
        if is_active(resource):
            check_custom(resource, self.registry)
        self.catalog_changed = True

    @property
    def _true(self) -> Any:
        return True if self.s.dialect == "postgresql" else 1

    @property
    def _false(self) -> Any:
        return False if self.s.dialect == "postgresql" else 0

    def _insert_version(self, rk: int, vid: int, method: str, ms: int, deleted: bool, body: bytes) -> None:
        self._versions.append((rk, vid, method, ms, self._true if deleted else self._false, pack(body)))

    def _write_version(
        self,
        rk: int,
        rtype: str,
        rid: str,
        vid: int,
        ms: int,
        method: str,
        stored: dict[str, Any],
        *,
        reindex: bool,
    ) -> Version:
        body = jsonio.dumps(stored)
        self._insert_version(rk, vid, method, ms, False, body)
        self._reindex(rk, rtype, stored, clear=reindex)
        return Version(rtype, rid, vid, ms, False, method, body, rk)

    def _reindex(self, rk: int, rtype: str, resource: dict[str, Any], *, clear: bool) -> None:
        """(Re)build the search-index and full-text rows of one resource's current version."""
        if clear:
            self._clear_index(rk)
        self._index(rk, rtype, extract(resource, self.registry, default_tz=self.tz))
        text = fulltext.index_row(resource, self.s.dialect)
        if text is not None:
            self._texts[rk] = text

    def reindex(self, after_rk: int, limit: int, rtype: str | None = None) -> tuple[int, int]:
        """Rebuild the index rows of up to ``limit`` live resources with ``rk > after_rk``.

        Returns (resources reindexed, last rk seen; 0 when done). Used by ``hygie db reindex``
        after the search-parameter set or the extraction changed.
        """
        where = "r.rk > ? AND r.deleted = ?" + (" AND r.type = ?" if rtype else "")
        args: list[Any] = [after_rk, self._false, *([rtype] if rtype else [])]
        rows = self.select(
            "SELECT r.rk, r.type, v.body FROM resource r JOIN resource_version v "
            f"ON v.rk = r.rk AND v.vid = r.vid WHERE {where} ORDER BY r.rk LIMIT ?",
            (*args, limit),
        )
        for rk, rt, body in rows:
            self._reindex(rk, rt, jsonio.loads(unpack(body)), clear=True)
        self.flush()
        return len(rows), (rows[-1][0] if rows else 0)

    def _clear_index(self, rk: int) -> None:
        self._rows.pop(rk, None)
        self._texts.pop(rk, None)
        self._statements.append((_FULLTEXT_DELETE[self.s.dialect], (rk,)))
        if self.s.dialect == "postgresql":  # one statement instead of one per table
            self._statements.append((_DELETE_ALL_PG, (rk,) * len(INDEX_TABLES)))
            return
        self._statements.extend((_DELETE[table], (rk,)) for table in INDEX_TABLES)

    def _index(self, rk: int, rtype: str, rows: IndexRows) -> None:
        stored = stored_rows(rk, self._pids.of(rtype), rows)
        if stored:
            self._rows.setdefault(rk, []).extend(stored)

    # -- history ---------------------------------------------------------------------------
    def history(
        self,
        rtype: str | None,
        rid: str | None,
        *,
        since: int | None,
        before_seq: int | None,
        limit: int,
    ) -> list[Version]:
        """Versions newest first; ``before_seq`` pages backwards through the global sequence.

        Versions the caller may not see are left out (hygie.auth.policy); when some past
        versions are dropped after the query, further rows are read to fill the page."""
        where: list[str] = []
        args: list[Any] = []
        if rtype is not None:
            where.append("r.type = ?")
            args.append(rtype)
        if rid is not None:
            where.append("r.id = ?")
            args.append(rid)
        if since is not None:
            where.append("v.last_updated >= ?")
            args.append(since)
        policy, policy_args = self._policy()
        past, past_args = self._past()
        if policy or past:
            where.append(f"1 = 1{policy}{past}")
            args.extend((*policy_args, *past_args))
        found: list[Version] = []
        while True:
            bound = [] if before_seq is None else ["v.seq < ?"]
            clause = f"WHERE {' AND '.join([*where, *bound])}" if where or bound else ""
            rows = self.select(
                "SELECT r.rk, r.type, r.id, v.vid, v.deleted, v.last_updated, v.method, v.body, v.seq, r.vid "
                f"FROM resource_version v JOIN resource r ON r.rk = v.rk {clause} "
                "ORDER BY v.seq DESC LIMIT ?",
                (*args, *([] if before_seq is None else [before_seq]), limit),
            )
            for rk, rt, ri, vid, d, ms, method, body, seq, current in rows:
                if past and vid != current and not self._same_record(rk, rt, None if d else body):
                    continue
                found.append(Version(rt, ri, vid, ms, bool(d), method, None if d else unpack(body), rk, seq))
            if len(rows) < limit or len(found) >= limit:
                return found[:limit]
            before_seq = rows[-1][8]


def load_params(session: Session, wanted: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Ensure every (type, code) has a ``pid``; return the full map."""
    known = {(t, c): pid for pid, t, c in session.all("SELECT pid, type, code FROM search_param")}
    missing = [key for key in wanted if key not in known]
    if missing:
        session.executemany(
            "INSERT INTO search_param (type, code) VALUES (?, ?) ON CONFLICT DO NOTHING", missing
        )
        known = {(t, c): pid for pid, t, c in session.all("SELECT pid, type, code FROM search_param")}
    return known


def load_catalog(session: Session) -> Catalog:
    """The search parameters in force: the official ones plus the active SearchParameter
    resources stored (refused ones are logged and skipped), with a pid for each."""
    false = False if session.dialect == "postgresql" else 0
    rows = session.all(
        "SELECT v.body FROM resource r JOIN resource_version v ON v.rk = r.rk AND v.vid = r.vid "
        "WHERE r.type = ? AND r.deleted = ? ORDER BY r.rk",
        ("SearchParameter", false),
    )
    registry, refused = with_custom(jsonio.loads(unpack(body)) for (body,) in rows)
    for rid, reason in refused:
        _log.warning("search_parameter_refused", id=rid, reason=reason)
    return Catalog(registry, load_params(session, index_keys(registry)), dialect=session.dialect)


# re-exported: the versions' helpers lived here first (hygie/storage/versions.py)
__all__ = [
    "OnConflict",
    "Store",
    "Version",
    "instant",
    "load_catalog",
    "load_params",
    "new_id",
    "now_ms",
    "pack",
    "stamp",
    "unpack",
]
