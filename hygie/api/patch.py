"""patch and conditional patch — https://hl7.org/fhir/R4/http.html#patch

Two formats: JSON Patch (RFC 6902, ``application/json-patch+json``) and FHIRPath Patch
(https://hl7.org/fhir/R4/fhirpatch.html, a Parameters body as ``application/fhir+json``). The
patched resource is validated like an update and stored as a new version.
"""

from __future__ import annotations

from typing import Any

import jsonpatch

from hygie.api.checks import check_resource
from hygie.api.conditional import match_one_or_none
from hygie.api.context import Env, FhirRequest, Result
from hygie.api.update import write
from hygie.fhir.fhirpath_patch import apply_fhirpath_patch
from hygie.fhir.outcome import FhirError

JSON_PATCH = "application/json-patch+json"


def patch(env: Env, req: FhirRequest) -> Result:
    assert req.type is not None
    fhirpath = req.content_type != JSON_PATCH
    if fhirpath and not (isinstance(req.body, dict) and req.body.get("resourceType") == "Parameters"):
        raise FhirError.of(400, "structure", "patch_invalid", detail="a Parameters resource is expected")
    operations = None if fhirpath else _operations(req.body)
    if req.id is None:
        current = match_one_or_none(env, req.type, req.query)
        if current is None:
            raise FhirError.of(404, "not-found", "not_found", type=req.type, id="?")
    else:
        current = env.store.read(req.type, req.id)
        if current is None:
            raise FhirError.of(404, "not-found", "not_found", type=req.type, id=req.id)
    if current.deleted:
        raise FhirError.of(410, "deleted", "gone", type=current.type, id=current.id)
    if operations is None:
        patched = apply_fhirpath_patch(current.resource(), req.body)
    else:
        patched = _json_patch(current.resource(), operations)
    if (
        not isinstance(patched, dict)
        or patched.get("resourceType") != current.type
        or patched.get("id") != current.id
    ):
        raise FhirError.of(422, "processing", "patch_changes_identity")
    resource = check_resource(patched, current.type, current.id)
    return write(env, req, current.type, current.id, resource, "PATCH")


def _json_patch(resource: dict[str, Any], operations: list[dict[str, Any]]) -> Any:
    try:
        return jsonpatch.JsonPatch(operations).apply(resource)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, ValueError) as exc:
        raise FhirError.of(422, "processing", "patch_failed", detail=str(exc)[:200]) from exc


def _operations(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, list) or not all(isinstance(op, dict) for op in body):
        raise FhirError.of(400, "structure", "patch_invalid", detail="a JSON array of operations is expected")
    for op in body:
        if op.get("op") not in {"add", "remove", "replace", "move", "copy", "test"} or not isinstance(
            op.get("path"), str
        ):
            raise FhirError.of(400, "structure", "patch_invalid", detail=f"bad operation {str(op)[:80]}")
    return body
