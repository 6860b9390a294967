"""capabilities — https://hl7.org/fhir/R4/http.html#capabilities

The CapabilityStatement is generated from what the server really implements: the resource
types of the R4 definitions, the interactions routed in :mod:`hygie.api.routes`, the search
parameters the query compiler supports, and the operations declared by their modules.
"""

from __future__ import annotations

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


def capability_statement(settings: Settings, base: str, registry: Registry | None = None) -> dict[str, Any]:
    """The server's CapabilityStatement; ``registry``: the search parameters in force (custom
    SearchParameter resources included), the official ones by default."""
    statement = dict(_statement(registry or default_registry()))
    statement["implementation"] = {"description": "Hygie FHIR R4 server", "url": base}
    rest = dict(statement["rest"][0])
    rest["security"] = _security(base.removesuffix("/fhir"), bool(settings.cors_origins.strip()))
    statement["rest"] = [rest]
    return statement


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
