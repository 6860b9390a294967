"""Restoring resources exported elsewhere with their own ids, versions and times (imports,
portability: docs/import.md). :meth:`hygie.storage.store.Store.restore` calls :func:`restore`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import suppress
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hygie.fhir import jsonio
from hygie.fhir.outcome import FhirError
from hygie.fhir.primitives import INSTANT_RE, is_valid_id
from hygie.search.catalog import visible
from hygie.storage.versions import Version, now_ms, stamp

if TYPE_CHECKING:
    from hygie.storage.store import OnConflict, Store


def restore(store: Store, rtype: str, resource: dict[str, Any], *, on_conflict: OnConflict) -> Version | None:
    """Store a resource exported elsewhere with its own ``id``, ``meta.versionId`` and
    ``meta.lastUpdated`` (imports, portability: docs/import.md); validation is the caller's.

    A new (type, id) gets exactly that version id (an integer ≥ 1, else 1) and lastUpdated
    (a valid instant, else now): vread of that version works, history shows that one
    version. An existing one with the same version id and the same content (meta's
    versionId/lastUpdated aside) is left alone (None: re-running an import writes nothing);
    any other existing one follows ``on_conflict``: ``version`` writes a new version over it
    (as PUT does, https://hl7.org/fhir/R4/http.html#update), ``error`` raises 409, ``skip``
    returns None. The access policy applies as for create and update; under a row-level
    policy an id the caller cannot see (absent or hidden alike) is refused with 404, as a
    PUT creating it would be.
    """
    rid = _checked_id(rtype, resource)
    meta = resource.get("meta")
    meta = meta if isinstance(meta, dict) else {}
    vid = _restored_vid(meta.get("versionId"))
    if _direct(store, rtype):
        # One round trip for a new resource, and no flush of the write buffer: a large
        # import sends its version and index rows in bulk.
        row = store.s.one(
            "INSERT INTO resource (type, id, vid, deleted, last_updated) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (type, id) DO NOTHING RETURNING rk",
            (rtype, rid, vid, store._false, ms := _restored_ms(meta.get("lastUpdated"))),
        )
        if row is not None:
            return _restore_new(store, row[0], rtype, rid, vid, ms, resource)
    return _restore_existing(store, rtype, rid, vid, resource, on_conflict)


def restore_many(
    store: Store, items: Sequence[tuple[str, dict[str, Any]]], *, on_conflict: OnConflict
) -> Iterator[Version | None]:
    """:func:`restore` of each ``(type, resource)`` in order, the result of each as it is stored.

    The same rows, versions and errors as calling :func:`restore` on each in turn (the first
    failing item raises, after the items before it were stored), but the ``resource`` rows of
    the new ``(type, id)``s are inserted by one statement per batch instead of one round trip
    each (PostgreSQL: the import's main wait). Where the caller's policy hides rows, or a type
    may not be created, each item goes through :func:`restore`. Left half-way — the caller stops
    iterating, or an item raises and the caller goes on — the rows inserted for items not stored
    yet are deleted again: no ``resource`` row is ever left without its version.
    """
    fresh = _insert_new(store, items)
    pending = {new[0] for new in fresh.values() if new is not None}  # rows without a version yet
    try:
        for index, (rtype, resource) in enumerate(items):
            if index not in fresh:
                yield restore(store, rtype, resource, on_conflict=on_conflict)
                continue
            new = fresh[index]
            if new is None:  # the id exists (before this batch, or from an earlier item of it)
                yield _restore_existing(store, rtype, *_known(resource), resource, on_conflict)
                continue
            rk, vid, ms = new
            version = _restore_new(store, rk, rtype, resource["id"], vid, ms, resource)
            pending.discard(rk)
            yield version
    finally:
        if pending:  # left half-way (the caller stopped, or an error): no row without a version
            with suppress(Exception):  # an aborted transaction rolls back whole anyway
                store.s.execute(
                    f"DELETE FROM resource WHERE rk IN ({', '.join('?' * len(pending))})",
                    tuple(sorted(pending)),
                )


# Rows per INSERT statement of :func:`_insert_new` (5 parameters each: within both databases'
# limits on bound parameters).
BATCH_ROWS = 1000


def _insert_new(
    store: Store, items: Sequence[tuple[str, dict[str, Any]]]
) -> dict[int, tuple[int, int, int] | None]:
    """Insert the ``resource`` rows of the items up to the first invalid id (the first that
    :func:`restore` refuses before writing), in one statement per :data:`BATCH_ROWS`. By item
    index: ``(rk, vid, ms)`` when its row was inserted, None when its ``(type, id)`` exists
    (stored before, or by an earlier item). Items left out (a type the caller may not create,
    items from the first invalid id on, any item under a row-level policy) go to
    :func:`restore`."""
    if _hidden(store):
        return {}
    rows: list[tuple[int, str, str, int, int]] = []
    first: dict[tuple[str, str], int] = {}
    later: list[int] = []
    allowed: dict[str, bool] = {}
    for index, (rtype, resource) in enumerate(items):
        rid = resource.get("id")
        if not is_valid_id(rid):
            break
        assert isinstance(rid, str)
        if not allowed.setdefault(rtype, store._allows(rtype, "c")):
            continue
        if (rtype, rid) in first:
            later.append(index)
            continue
        first[(rtype, rid)] = index
        meta = resource.get("meta")
        meta = meta if isinstance(meta, dict) else {}
        vid, ms = _restored_vid(meta.get("versionId")), _restored_ms(meta.get("lastUpdated"))
        rows.append((index, rtype, rid, vid, ms))
    found: dict[int, tuple[int, int, int] | None] = dict.fromkeys(later)
    false = store._false
    for start in range(0, len(rows), BATCH_ROWS):
        chunk = rows[start : start + BATCH_ROWS]
        args: list[Any] = []
        for _, rtype, rid, vid, ms in chunk:
            args += (rtype, rid, vid, false, ms)
        inserted = store.s.all(
            "INSERT INTO resource (type, id, vid, deleted, last_updated) VALUES "
            + ", ".join(["(?, ?, ?, ?, ?)"] * len(chunk))
            + " ON CONFLICT (type, id) DO NOTHING RETURNING rk, type, id",
            args,
        )
        keys = {(rtype, rid): rk for rk, rtype, rid in inserted}
        for index, rtype, rid, vid, ms in chunk:
            rk = keys.get((rtype, rid))
            found[index] = None if rk is None else (rk, vid, ms)
    return found


def _known(resource: dict[str, Any]) -> tuple[str, int]:
    """(id, restored version id) of a resource whose id is known to be valid."""
    meta = resource.get("meta")
    meta = meta if isinstance(meta, dict) else {}
    return resource["id"], _restored_vid(meta.get("versionId"))


def _checked_id(rtype: str, resource: dict[str, Any]) -> str:
    rid = resource.get("id")
    if not is_valid_id(rid):
        raise FhirError.of(400, "invalid", "restore_bad_id", (f"{rtype}.id",), type=rtype, id=str(rid)[:80])
    assert isinstance(rid, str)
    return rid


def _hidden(store: Store) -> bool:
    """A row-level policy applies: an id may exist unseen, so a new one is read for first."""
    return visible(store.params, "r") is not None or visible(store.params, "r", "c") is not None


def _direct(store: Store, rtype: str) -> bool:
    """A new resource may be inserted without reading first: no row-level policy, and the
    caller may create this type."""
    return not _hidden(store) and store._allows(rtype, "c")


def _restore_existing(
    store: Store, rtype: str, rid: str, vid: int, resource: dict[str, Any], on_conflict: OnConflict
) -> Version | None:
    """The part of :func:`restore` for an id that may exist: read it, then leave it, refuse or
    write a new version."""
    current = store.read(rtype, rid, for_update=True)
    if current is None:
        store._may(rtype, "c")
        raise FhirError.of(404, "not-found", "restore_not_visible", type=rtype, id=rid)
    if not current.deleted and current.vid == vid and _same_content(current, resource):
        return None
    if on_conflict == "skip":
        return None
    if on_conflict == "error":
        shown = f"{current.vid} (deleted)" if current.deleted else current.vid
        raise FhirError.of(409, "conflict", "restore_conflict", type=rtype, id=rid, current=shown, vid=vid)
    return store.update(current, resource, "PUT")


def _restore_new(
    store: Store, rk: int, rtype: str, rid: str, vid: int, ms: int, resource: dict[str, Any]
) -> Version:
    stored = stamp(resource, rtype, rid, vid, ms)
    version = store._write_version(rk, rtype, rid, vid, ms, "PUT", stored, reindex=False)
    store._check_written(version.rk, rtype, "c")
    store._check_search_param(rtype, resource)
    return version


def _restored_vid(value: Any) -> int:
    """``meta.versionId`` of a restored resource when it is an integer ≥ 1 (as Hygie writes
    them), else 1."""
    text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if text.isascii() and text.isdigit() and 0 < len(text) <= 9 and int(text) >= 1:
        return int(text)
    return 1


def _restored_ms(value: Any) -> int:
    """``meta.lastUpdated`` of a restored resource in epoch ms when it is a valid instant, else now."""
    if isinstance(value, str) and INSTANT_RE.fullmatch(value):
        try:
            ms = int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
        except ValueError:  # e.g. 2023-02-30 or a leap second, which the pattern lets through
            return now_ms()
        if _FIRST_MS <= ms < _PAST_LAST_MS:  # 9999-12-31T23:59:59.999-14:00 is in year 10000 UTC
            return ms
    return now_ms()


_FIRST_MS = -62_135_596_800_000  # 0001-01-01T00:00:00Z: instants are stored and written in UTC
_PAST_LAST_MS = 253_402_300_800_000  # 10000-01-01T00:00:00Z


def _content(resource: dict[str, Any]) -> bytes:
    """The resource without id and meta.versionId/lastUpdated, in a canonical form."""
    body = {k: v for k, v in resource.items() if k not in ("id", "meta")}
    meta = {k: v for k, v in (resource.get("meta") or {}).items() if k not in ("versionId", "lastUpdated")}
    if meta:
        body["meta"] = meta
    return jsonio.dumps(body, sort_keys=True)


def _same_content(current: Version, resource: dict[str, Any]) -> bool:
    return _content(current.resource()) == _content(resource)
