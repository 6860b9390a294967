"""Loading parsed resources and Bundles into the store, inside the caller's transaction.

Shared by ``hygie import`` (:mod:`hygie.transfer.importer`) and Bulk Data ``$import``.
Semantics (docs/import.md):

- a resource with an ``id`` keeps it, with its ``meta.versionId`` and ``meta.lastUpdated``
  (:meth:`hygie.storage.store.Store.restore`); one without an ``id`` is created with a server id;
- every resource is validated as ``POST``/``PUT`` validate it (:func:`hygie.api.checks.check_resource`);
- a ``transaction`` or ``batch`` Bundle goes through the same code as ``POST /fhir``
  (https://hl7.org/fhir/R4/http.html#transaction); a ``batch`` with any failed entry is an
  error (a file is loaded whole or not at all); a ``collection`` Bundle's entries are loaded
  like NDJSON lines.

Nothing here commits: the caller's transaction makes a file all-or-nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from hygie.api.audit_trail import patients_of
from hygie.api.bundle import process_bundle
from hygie.api.checks import check_resource, check_type
from hygie.api.context import Env
from hygie.fhir.messages import register
from hygie.fhir.outcome import FhirError
from hygie.storage.store import OnConflict, Version
from hygie.storage.versions import now_ms
from hygie.transfer.readers import LineError

register(
    {
        "import_not_a_resource": {
            "fr": "Pas une ressource FHIR : resourceType absent.",
            "en": "Not a FHIR resource: resourceType is missing.",
        },
        "import_bundle_type": {
            "fr": "Bundle de type « {kind} » : seuls transaction, batch et collection sont importés.",
            "en": "Bundle of type '{kind}': only transaction, batch and collection are imported.",
        },
        "import_batch_entry_failed": {
            "fr": "L'entrée {index} du batch a échoué ({http}) : {detail}",
            "en": "Batch entry {index} failed ({http}): {detail}",
        },
    }
)
FLUSH_EVERY = 1000  # resources between two flushes of the store's write buffer (bounded memory)
Progress = Callable[[int], None]  # called with the number of resources loaded since the last call


@dataclass(slots=True)
class Counts:
    """What a load wrote: resources per type (``written``: created or new versions;
    ``unchanged``: already there, identical or skipped) and the patients concerned."""

    written: Counter[str] = field(default_factory=Counter)
    unchanged: Counter[str] = field(default_factory=Counter)
    patients: set[str] = field(default_factory=set)

    @property
    def total(self) -> int:
        return sum(self.written.values()) + sum(self.unchanged.values())

    def add(self, rtype: str, version: Version | None) -> None:
        if version is None:
            self.unchanged[rtype] += 1
            return
        self.written[rtype] += 1
        self.patients |= patients_of(version)


def checked(resource: Any) -> tuple[str, dict[str, Any]]:
    """(type, resource) once validated as the API's create validates a body."""
    rtype = resource.get("resourceType") if isinstance(resource, dict) else None
    if not isinstance(rtype, str):
        if not isinstance(resource, dict):
            raise FhirError.of(400, "structure", "not_an_object")
        raise FhirError.of(400, "structure", "import_not_a_resource")
    check_type(rtype)
    return rtype, check_resource(resource, rtype)


def load_resource(env: Env, resource: Any, on_conflict: OnConflict) -> tuple[str, Version | None]:
    """Validate and store one resource: restored with its id, or created without one."""
    rtype, body = checked(resource)
    if "id" in body:
        return rtype, env.store.restore(rtype, body, on_conflict=on_conflict)
    return rtype, env.store.create(rtype, body)


def load_resources(
    env: Env,
    resources: Iterable[tuple[int, Any]],
    on_conflict: OnConflict = "version",
    *,
    counts: Counts | None = None,
    where: str = "line",
    progress: Progress | None = None,
) -> Counts:
    """Load ``(position, resource)`` pairs (NDJSON line numbers, Bundle entry indexes) in the
    current transaction. The first bad one raises :class:`LineError` naming its position.

    Resources are validated as they are read and stored by batches of :data:`FLUSH_EVERY`
    (:meth:`~hygie.storage.store.Store.restore_many`: new ids in one statement); a bad line, or
    an unreadable one, first stores the lines before it, so that the error reported is the
    first in the file's order, whatever its kind.
    """
    counts = counts if counts is not None else Counts()
    batch: list[tuple[int, str, dict[str, Any]]] = []
    source = iter(resources)
    while True:
        try:
            item = next(source)
        except StopIteration:
            break
        except Exception:  # an unreadable line (or file): the lines before it come first
            _store(env, batch, on_conflict, counts, where)
            raise
        position, resource = item
        try:
            rtype, body = checked(resource)
        except FhirError as error:
            _store(env, batch, on_conflict, counts, where)
            raise LineError(position, error, where) from error
        batch.append((position, rtype, body))
        if len(batch) >= FLUSH_EVERY:
            _store(env, batch, on_conflict, counts, where)
            env.store.flush()
            if progress is not None:
                progress(len(batch))
            batch = []
    _store(env, batch, on_conflict, counts, where)
    if progress is not None and batch:
        progress(len(batch))
    return counts


def _store(
    env: Env,
    batch: list[tuple[int, str, dict[str, Any]]],
    on_conflict: OnConflict,
    counts: Counts,
    where: str,
) -> None:
    """Store validated resources in order: runs of resources with an id restored together, the
    others created with a server id."""
    start = 0
    while start < len(batch):
        position, rtype, body = batch[start]
        if "id" not in body:
            try:
                version: Version | None = env.store.create(rtype, body)
            except FhirError as error:
                raise LineError(position, error, where) from error
            counts.add(rtype, version)
            start += 1
            continue
        end = start + 1
        while end < len(batch) and "id" in batch[end][2]:
            end += 1
        run = batch[start:end]
        done = 0
        try:
            for version in env.store.restore_many([(t, b) for _, t, b in run], on_conflict=on_conflict):
                counts.add(run[done][1], version)
                done += 1
        except FhirError as error:
            raise LineError(run[done][0], error, where) from error
        start = end


def load_bundle(
    env: Env, bundle: Any, on_conflict: OnConflict = "version", *, progress: Progress | None = None
) -> Counts:
    """Load a transaction, batch or collection Bundle in the current transaction."""
    kind = bundle.get("type") if isinstance(bundle, dict) else None
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise FhirError.of(400, "invalid", "bundle_expected")
    if kind == "collection":
        entries = bundle.get("entry", [])
        if not isinstance(entries, list):  # an object or "" is no empty Bundle
            raise FhirError.of(400, "structure", "bundle_entry_not_list", ("Bundle.entry",))
        items = ((i, e.get("resource") if isinstance(e, dict) else None) for i, e in enumerate(entries))
        return load_resources(env, items, on_conflict, where="entry", progress=progress)
    if kind not in ("transaction", "batch"):
        raise FhirError.of(400, "invalid", "import_bundle_type", kind=str(kind)[:40])
    first, started_ms = len(env.touched), now_ms()
    result = process_bundle(env, bundle, minimal=True)
    if kind == "batch":
        _check_batch(result.resource)
    counts = Counts()
    # Written: the versions stamped by this Bundle. The others are what its GET entries read,
    # or what a conditional create found (once each: a GET may read a version the Bundle wrote).
    seen: set[tuple[str, str, int]] = set()
    for version in env.touched[first:]:
        key = (version.type, version.id, version.vid)
        if version.last_updated >= started_ms and key not in seen:
            seen.add(key)
            counts.add(version.type, version)
    del env.touched[first:]
    if progress is not None:
        progress(len(bundle.get("entry") or []))
    return counts


def _check_batch(response: dict[str, Any] | None) -> None:
    """A batch's failed entry fails the whole file (the caller rolls back)."""
    for index, entry in enumerate((response or {}).get("entry") or []):
        answer = entry.get("response") or {}
        status = str(answer.get("status", ""))
        if status[:1] in ("4", "5"):
            issues = (answer.get("outcome") or {}).get("issue") or []
            detail = "; ".join(str(i.get("diagnostics", "")) for i in issues)
            raise FhirError.of(
                int(status[:3]),
                "processing",
                "import_batch_entry_failed",
                (f"Bundle.entry[{index}]",),
                index=index,
                http=status,
                detail=detail[:500],
            )
