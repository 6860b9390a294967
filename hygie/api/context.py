"""The internal shape of a FHIR interaction, shared by HTTP requests and Bundle entries.

An HTTP request and a batch/transaction entry both become a :class:`FhirRequest`; every
interaction handler is a synchronous function ``(Env, FhirRequest) -> Result`` running inside
one database transaction, so a transaction Bundle simply runs its entries on the same session.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hygie.search.catalog import Catalog
from hygie.settings import Settings
from hygie.storage.database import Database, open_database
from hygie.storage.store import Store, Version, load_catalog


@dataclass(slots=True)
class FhirRequest:
    method: str
    type: str | None = None
    id: str | None = None
    vid: str | None = None
    operation: str | None = None
    compartment: str | None = None  # reserved for compartment search (Patient/1/Observation)
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: Any = None  # parsed JSON (resource, JSON Patch list, Parameters)
    content_type: str = "application/fhir+json"

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def param(self, name: str) -> str | None:
        for key, value in self.query:
            if key == name:
                return value
        return None


@dataclass(slots=True)
class Result:
    """What an interaction produced; the HTTP layer or the Bundle builder renders it."""

    status: int
    version: Version | None = None  # the affected version (ETag, Last-Modified, Location)
    resource: dict[str, Any] | None = None  # a computed resource (Bundle, OperationOutcome…)
    location: bool = False  # send a Location header for ``version``
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Env:
    """What handlers need besides the request: the transaction's store and the settings."""

    store: Store
    settings: Settings
    base: str  # absolute FHIR base URL, without trailing slash
    lang: str = "fr"
    # Resources the request returned or wrote, for the audit trail (hygie.api.audit_trail).
    touched: list[Version] = field(default_factory=list)
    # Patients whose audit entries the request read (reading the audit log is audited too).
    audited_patients: set[str] = field(default_factory=set)
    # A special audit action for this request: (action, purpose of use, reason), e.g. break-glass.
    audit: tuple[str, str, str] | None = None


def open_storage(settings: Settings) -> tuple[Database, Catalog]:
    """The configured database, migrated, with its search catalog: how the server, the CLI, the
    demo loader and the importer all open it."""
    db = open_database(
        settings.database_url,
        sqlite_synchronous=settings.sqlite_synchronous,
        pool_size=settings.postgres_pool_size,
        postgres_options=settings.postgres_options,
    )
    db.upgrade()
    return db, db.run_sync(load_catalog)
