"""The search parameters in force: definitions (a :class:`Registry`) and their index keys (pids).

Spec: https://hl7.org/fhir/R4/searchparameter.html. The server starts from the official R4
registry and adds the **active** SearchParameter resources it stores (custom parameters); draft,
retired and unknown ones are stored like any resource but not searchable. A :class:`Catalog` is
what the search compilers receive as ``pids``: a read-only mapping ``(type, code) → pid`` that
also carries the registry, so every module looks definitions up in the same, current set.
Catalogs are immutable: a change of custom parameters builds a new one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from hygie.fhir.messages import register
from hygie.fhir.outcome import FhirError
from hygie.fhir.searchparams import RESOURCE_BASES, Registry, default_registry, params_from_resource
from hygie.search.extract import plan_for

if TYPE_CHECKING:
    from hygie.search.query import Sql


class Guard(Protocol):
    """The access policy of one request, as the search compilers see it (hygie.auth.policy)."""

    def visible(self, alias: str, permission: str = "r") -> Sql | None:
        """Condition on the ``resource`` row ``alias`` for rows the caller may ``permission``
        (``r`` read, ``s`` search); ``None``: no restriction."""
        ...

    def allows(self, rtype: str, permission: str) -> bool:
        """Whether the caller may ``permission`` (c r u d s) resources of ``rtype`` at all."""
        ...


register(
    {
        "searchparam-rejected": {
            "fr": "SearchParameter {name} refusé : {reason}",
            "en": "SearchParameter {name} rejected: {reason}",
        },
    }
)
_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]{0,63}")
# Parameters Hygie adds to the official set, as SearchParameter resources (searchable by anyone).
BUILTIN: tuple[dict[str, Any], ...] = (
    {
        "resourceType": "SearchParameter",
        "url": "https://hygie.health/fhir/SearchParameter/Consent-provision-type",
        "name": "provision-type",
        "status": "active",
        "description": "deny | permit of the Consent's root provision (the access policy reads it: "
        "an active deny Consent naming a professional or organisation as actor blocks them).",
        "code": "provision-type",
        "base": ["Consent"],
        "type": "token",
        "expression": "Consent.provision.type",
    },
    {
        "resourceType": "SearchParameter",
        "url": "https://hygie.health/fhir/SearchParameter/Consent-denied-actor",
        "name": "denied-actor",
        "status": "active",
        "description": "Actors named by a deny provision of the Consent, at the root or nested up to "
        "three levels (the access policy reads it: an active Consent denying a professional or "
        "organisation blocks them, whatever the root provision says).",
        "code": "denied-actor",
        "base": ["Consent"],
        "type": "reference",
        "target": [
            "Practitioner",
            "PractitionerRole",
            "Organization",
            "CareTeam",
            "RelatedPerson",
            "Patient",
            "Device",
            "Group",
        ],
        "expression": "Consent.provision.where(type = 'deny').actor.reference"
        " | Consent.provision.provision.where(type = 'deny').actor.reference"
        " | Consent.provision.provision.provision.where(type = 'deny').actor.reference",
    },
    {
        "resourceType": "SearchParameter",
        "url": "https://hygie.health/fhir/SearchParameter/Binary-patient",
        "name": "patient",
        "status": "active",
        "description": "The patient a Binary's securityContext names (the access policy reads it: "
        "such a Binary is part of that patient's record; a Binary naming no patient is for system "
        "clients only). https://hl7.org/fhir/R4/binary-definitions.html#Binary.securityContext",
        "code": "patient",
        "base": ["Binary"],
        "type": "reference",
        "target": ["Patient"],
        "expression": "Binary.securityContext",
    },
)


class Catalog(Mapping[tuple[str, str], int]):
    """``(resource type, code) → pid`` for every searchable parameter, plus its registry."""

    __slots__ = ("_pids", "dialect", "guard", "registry")

    def __init__(
        self,
        registry: Registry,
        pids: Mapping[tuple[str, str], int],
        guard: Guard | None = None,
        dialect: str = "sqlite",
    ) -> None:
        self.registry = registry
        self._pids = pids if isinstance(pids, dict) else dict(pids)
        self.guard = guard
        self.dialect = dialect  # the SQL is the same; a few plan hints differ (hygie.search.chain)

    def scoped(self, guard: Guard | None) -> Catalog:
        """The same parameters under one request's access policy (shares the pid map)."""
        return Catalog(self.registry, self._pids, guard, self.dialect)

    def __getitem__(self, key: tuple[str, str]) -> int:
        return self._pids[key]

    def get(self, key: tuple[str, str], default: Any = None) -> Any:
        return self._pids.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._pids

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._pids)

    def __len__(self) -> int:
        return len(self._pids)


def visible(pids: Mapping[tuple[str, str], int], alias: str, permission: str = "r") -> Sql | None:
    """The access-policy condition on ``resource`` alias ``alias`` (None: unrestricted).

    Every query over ``resource`` rows adds it: ARCHITECTURE principle 5."""
    guard = pids.guard if isinstance(pids, Catalog) else None
    return guard.visible(alias, permission) if guard is not None else None


def dialect_of(pids: Mapping[tuple[str, str], int]) -> str:
    """``sqlite`` or ``postgresql`` (``sqlite`` for a plain mapping)."""
    return pids.dialect if isinstance(pids, Catalog) else "sqlite"


def registry_of(pids: Mapping[tuple[str, str], int]) -> Registry:
    """The registry that goes with ``pids`` (the official one for a plain mapping)."""
    return pids.registry if isinstance(pids, Catalog) else default_registry()


def index_keys(registry: Registry) -> list[tuple[str, str]]:
    """Every ``(type, code)`` that needs a pid (reference parameters also get ``code:identifier``
    for the rows of ``Reference.identifier``, searched with ``:identifier``)."""
    wanted = []
    for rtype in sorted(registry.resource_types()):
        for code, param in registry.params_for(rtype).items():
            wanted.append((rtype, code))
            if param.type == "reference":
                wanted.append((rtype, f"{code}:identifier"))
    return wanted


def is_active(resource: Mapping[str, Any]) -> bool:
    """Only ``status = active`` parameters are honoured (draft/retired/unknown are just stored)."""
    return resource.get("resourceType") == "SearchParameter" and resource.get("status") == "active"


def check_custom(resource: Mapping[str, Any], registry: Registry) -> Registry:
    """The registry with one active SearchParameter added, or a 422 saying why it cannot be.

    Refused: a code that is not a plain name or starts with ``_`` (reserved for the spec), a base
    that is not a concrete resource type, a code that an official parameter of that base already
    uses (unless it *is* that parameter: same canonical URL), an unsupported type (``special``), an
    expression the extraction cannot compile, and composite components that resolve to nothing.
    """
    code = str(resource.get("code") or "")
    if not _CODE.fullmatch(code):
        raise _rejected(code, "code")
    official = default_registry()
    for base in resource.get("base") or ():
        if base in RESOURCE_BASES or base not in registry.resource_types():
            raise _rejected(code, f"base {str(base)[:64]}")
        known = official.search_param(base, code)
        if known is not None and known.url != resource.get("url"):
            raise _rejected(code, f"{base}.{code} is an official parameter")
        if any(base in b["base"] and code == b["code"] and resource.get("url") != b["url"] for b in BUILTIN):
            raise _rejected(code, f"{base}.{code} is a Hygie parameter the access policy relies on")
    if resource.get("type") == "special":
        raise _rejected(code, "type special")
    if resource.get("type") != "composite" and not resource.get("expression"):
        raise _rejected(code, "expression")
    try:
        params_from_resource(resource, {})
        updated = registry.with_custom([_with_url(resource)])
    except FhirError as error:
        reason = error.issues[0].params.get("reason", "invalid") if error.issues else "invalid"
        raise _rejected(code, str(reason)) from None
    for base in resource.get("base") or ():
        failed = [entry for entry in plan_for(base, updated).uncompiled if entry[0] == code]
        if failed:
            raise _rejected(code, f"expression: {failed[0][2][:200]}")
    return updated


def with_custom(resources: Iterable[Mapping[str, Any]]) -> tuple[Registry, list[tuple[str, str]]]:
    """The official registry plus every acceptable active parameter of ``resources``.

    Returns the registry and, for each refused one, its id and reason (refused parameters are
    skipped, never fatal: one bad stored parameter must not stop the server).
    """
    registry = default_registry()
    refused: list[tuple[str, str]] = []
    for resource in (*BUILTIN, *resources):
        if not is_active(resource):
            continue
        try:
            registry = check_custom(resource, registry)
        except FhirError as error:
            reason = error.issues[0].params.get("reason", "") if error.issues else ""
            refused.append((str(resource.get("id", "")), str(reason)))
    return registry, refused


def _with_url(resource: Mapping[str, Any]) -> Mapping[str, Any]:
    """Give a parameter without a canonical URL one, so ``by_url`` lookups stay unambiguous."""
    if resource.get("url"):
        return resource
    return {**resource, "url": f"urn:hygie:searchparameter:{resource.get('code')}"}


def _rejected(code: str, reason: str) -> FhirError:
    return FhirError.of(422, "invalid", "searchparam-rejected", name=code[:64] or "-", reason=reason)
