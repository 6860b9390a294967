"""Restoring resources exported elsewhere with their own ids, versions and times (imports,
portability: docs/import.md). :meth:`hygie.storage.store.Store.restore` calls :func:`restore`."""

from __future__ import annotations

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
    rid = resource.get("id")
    if not is_valid_id(rid):
        raise FhirError.of(400, "invalid", "restore_bad_id", (f"{rtype}.id",), type=rtype, id=str(rid)[:80])
    assert isinstance(rid, str)
    meta = resource.get("meta")
    meta = meta if isinstance(meta, dict) else {}
    vid = _restored_vid(meta.get("versionId"))
    hidden = visible(store.params, "r") is not None or visible(store.params, "r", "c") is not None
    if not hidden and store._allows(rtype, "c"):
        # One round trip for a new resource, and no flush of the write buffer: a large
        # import sends its version and index rows in bulk.
        row = store.s.one(
            "INSERT INTO resource (type, id, vid, deleted, last_updated) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (type, id) DO NOTHING RETURNING rk",
            (rtype, rid, vid, store._false, ms := _restored_ms(meta.get("lastUpdated"))),
        )
        if row is not None:
            return _restore_new(store, row[0], rtype, rid, vid, ms, resource)
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
            return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
        except ValueError:  # e.g. 2023-02-30 or a leap second, which the pattern lets through
            pass
    return now_ms()


def _content(resource: dict[str, Any]) -> bytes:
    """The resource without id and meta.versionId/lastUpdated, in a canonical form."""
    body = {k: v for k, v in resource.items() if k not in ("id", "meta")}
    meta = {k: v for k, v in (resource.get("meta") or {}).items() if k not in ("versionId", "lastUpdated")}
    if meta:
        body["meta"] = meta
    return jsonio.dumps(body, sort_keys=True)


def _same_content(current: Version, resource: dict[str, Any]) -> bool:
    return _content(current.resource()) == _content(resource)
