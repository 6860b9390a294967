"""$validate — https://hl7.org/fhir/R4/resource-operation-validate.html

Accepts the resource itself or a Parameters resource with a ``resource`` part (and optional
``mode``: create, update, delete). Always answers 200 with an OperationOutcome listing the
issues (an empty outcome says the resource is valid); nothing is stored.
"""

from __future__ import annotations

from typing import Any

from hygie.api.context import Env, FhirRequest, Result
from hygie.fhir.outcome import FhirError, Issue, outcome
from hygie.fhir.validation import validate_resource

OPERATION_DEFINITION = "http://hl7.org/fhir/OperationDefinition/Resource-validate"


def validate(env: Env, req: FhirRequest) -> Result:
    assert req.type is not None
    body = req.body
    resource: Any = body
    if isinstance(body, dict) and body.get("resourceType") == "Parameters" and req.type != "Parameters":
        resource = _part(body, "resource")
    if not isinstance(resource, dict):
        raise FhirError.of(400, "structure", "not_an_object")
    issues: list[Issue] = []
    if resource.get("resourceType") != req.type:
        issues.append(
            Issue(
                "invalid",
                "type_mismatch",
                {"found": str(resource.get("resourceType"))[:64], "expected": req.type},
                ("resourceType",),
            )
        )
    issues.extend(validate_resource(resource))
    if not issues:
        issues.append(Issue("informational", "valid", severity="information"))
    return Result(200, resource=outcome(issues, env.lang))


def _part(parameters: dict[str, Any], name: str) -> Any:
    for part in parameters.get("parameter") or []:
        if isinstance(part, dict) and part.get("name") == name:
            return part.get("resource")
    return None
