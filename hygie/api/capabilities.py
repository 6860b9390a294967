"""capabilities — https://hl7.org/fhir/R4/http.html#capabilities

The CapabilityStatement is generated from what the server really implements: the resource
types of the R4 definitions, the interactions routed in :mod:`hygie.api.routes`, the search
parameters the query compiler supports, and the operations declared by their modules.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from hygie import __version__
from hygie.api.compartment import compartments
from hygie.api.operations import everything as everything_op
from hygie.api.operations import validate as validate_op
from hygie.api.subscriptions import topics as subscription_topics
from hygie.fhir.definitions import RESOURCE_TYPES
from hygie.fhir.searchparams import Registry, default_registry
from hygie.settings import Settings

INTERACTIONS = [
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
]
SUPPORTED_SEARCH_TYPES = frozenset(
    {"string", "token", "reference", "date", "number", "quantity", "uri", "composite"}
)
_STARTED = datetime.now(UTC).isoformat(timespec="seconds")
# Bulk Data Access IG 2.0 (https://hl7.org/fhir/uv/bulkdata/STU2/) and the Bulk Import draft
BULK_EXPORT = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"
BULK_PATIENT_EXPORT = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export"
BULK_GROUP_EXPORT = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export"
BULK_IMPORT = "https://hygie.health/fhir/OperationDefinition/import"
OPERATION_BASE = "https://hygie.health/fhir/OperationDefinition/"


def capability_statement(
    settings: Settings, base: str, registry: Registry | None = None, plugged: Iterable[str] = ()
) -> dict[str, Any]:
    """The server's CapabilityStatement; ``registry``: the search parameters in force (custom
    SearchParameter resources included), the official ones by default; ``plugged``: the keys of
    the operations the composition root plugged in (``instance:Task:$escalate``…), each declared
    on its resource type (or at the system level) with its OperationDefinition's canonical URL."""
    statement = dict(_statement(registry or default_registry()))
    statement["implementation"] = {"description": "Hygie FHIR R4 server", "url": base}
    rest = dict(statement["rest"][0])
    rest["security"] = _security(base.removesuffix("/fhir"), bool(settings.cors_origins.strip()))
    by_type: dict[str | None, list[str]] = {}
    for key in sorted(set(plugged)):
        level, _, rest_key = key.partition(":")
        rtype, _, name = rest_key.rpartition(":") if level != "system" else ("", "", rest_key)
        by_type.setdefault(rtype or None, []).append(name.removeprefix("$"))
    rest["operation"] = _declare(rest["operation"], by_type.get(None, []), "")
    rest["resource"] = [
        {**r, "operation": _declare(r.get("operation", []), by_type[r["type"]], r["type"])}
        if r["type"] in by_type
        else r
        for r in rest["resource"]
    ]
    statement["rest"] = [rest]
    return statement


def _declare(declared: list[dict[str, str]], names: list[str], rtype: str) -> list[dict[str, str]]:
    """``declared`` plus each of ``names`` not declared yet (a Hygie OperationDefinition URL)."""
    known = {o["name"] for o in declared}
    prefix = f"{rtype}-" if rtype else ""
    extra = [{"name": n, "definition": f"{OPERATION_BASE}{prefix}{n}"} for n in names if n not in known]
    return [*declared, *extra]


def _security(root: str, cors: bool) -> dict[str, Any]:
    """SMART on FHIR declaration (https://hl7.org/fhir/smart-app-launch/conformance.html): the
    service code and the OAuth endpoints (discovery proper is /.well-known/smart-configuration)."""
    uris = [
        ("authorize", "authorize"),
        ("token", "token"),
        ("revoke", "revoke"),
        ("introspect", "introspect"),
    ]
    return {
        "cors": cors,
        "service": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                        "code": "SMART-on-FHIR",
                    }
                ]
            }
        ],
        "extension": [
            {
                "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                "extension": [{"url": name, "valueUri": f"{root}/oauth/{path}"} for name, path in uris],
            }
        ],
        "description": "OAuth2 bearer tokens (SMART App Launch 2.2); see /.well-known/smart-configuration.",
    }


@lru_cache(maxsize=4)
def _statement(registry: Registry) -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": _STARTED,
        "publisher": "Hygie",
        "kind": "instance",
        "software": {"name": "Hygie", "version": __version__},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json", "application/fhir+json"],
        "rest": [
            {
                "mode": "server",
                "resource": [_resource(t, registry) for t in sorted(RESOURCE_TYPES)],
                "interaction": [{"code": "transaction"}, {"code": "batch"}, {"code": "history-system"}],
                "searchParam": [
                    {"name": "_id", "type": "token"},
                    {"name": "_lastUpdated", "type": "date"},
                ],
                # Bulk Data Access IG 2.0 (hygie/transfer/bulk_http.py, docs/bulk-data.md)
                "operation": [
                    {"name": "export", "definition": BULK_EXPORT},
                    {"name": "import", "definition": BULK_IMPORT},
                ],
                # Compartment search: https://hl7.org/fhir/R4/search.html#compartment
                "compartment": [
                    f"http://hl7.org/fhir/CompartmentDefinition/{name[0].lower()}{name[1:]}"
                    for name in sorted(compartments())
                ],
            }
        ],
    }


def _resource(rtype: str, registry: Registry) -> dict[str, Any]:
    params = [
        {"name": code, "type": p.type, **({"definition": p.url} if p.url else {})}
        for code, p in sorted(registry.params_for(rtype).items())
        if p.type in SUPPORTED_SEARCH_TYPES and not code.startswith("_")
    ]
    return {
        # Subscriptions R5 Backport IG: topic canonicals, profile (hygie/api/subscriptions/topics.py)
        **(subscription_topics.capability() if rtype == "Subscription" else {}),
        "type": rtype,
        "interaction": [{"code": code} for code in INTERACTIONS],
        "versioning": "versioned-update",
        "readHistory": True,
        "updateCreate": True,
        "conditionalCreate": True,
        "conditionalRead": "full-support",
        "conditionalUpdate": True,
        "conditionalDelete": "single",
        "searchParam": [{"name": "_id", "type": "token"}, {"name": "_lastUpdated", "type": "date"}, *params],
        "operation": [
            {"name": "validate", "definition": validate_op.OPERATION_DEFINITION},
            *_operations(rtype),
        ],
    }


def _operations(rtype: str) -> list[dict[str, str]]:
    """Type-specific operations (``$everything`` on Patient)."""
    if rtype == "Group":
        return [{"name": "export", "definition": BULK_GROUP_EXPORT}]
    if rtype == "Subscription":  # $status, $get-ws-binding-token, $topics (docs/subscriptions.md)
        return subscription_topics.operations()
    if rtype == "Patient":
        return [
            {"name": "export", "definition": BULK_PATIENT_EXPORT},
            {"name": "everything", "definition": everything_op.OPERATION_DEFINITION},
            {
                "name": "break-glass",
                "definition": "https://hygie.health/fhir/OperationDefinition/Patient-break-glass",
            },
        ]
    return []
