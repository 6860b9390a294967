"""update, update-as-create and conditional update — https://hl7.org/fhir/R4/http.html#update"""

from __future__ import annotations

from typing import Any

from hygie.api.checks import check_id, check_resource, parse_etag
from hygie.api.conditional import match_one_or_none
from hygie.api.context import Env, FhirRequest, Result
from hygie.api.subscriptions.validate import accept_subscription
from hygie.fhir.outcome import FhirError
from hygie.search.catalog import visible
from hygie.storage.store import Version


def update(env: Env, req: FhirRequest) -> Result:
    assert req.type is not None
    if req.id is None:
        return conditional_update(env, req)
    resource = check_resource(req.body, req.type, req.id)
    return write(env, req, req.type, req.id, resource, "PUT")


def conditional_update(env: Env, req: FhirRequest) -> Result:
    """PUT [type]?criteria: 0 → create, 1 → update it, more → 412."""
    assert req.type is not None
    body_id = req.body.get("id") if isinstance(req.body, dict) else None
    existing = match_one_or_none(env, req.type, req.query)
    if existing is None:
        resource = (
            check_resource(req.body, req.type, body_id) if body_id else check_resource(req.body, req.type)
        )
        if body_id is None:
            rid = accept_subscription(env, resource, None) if req.type == "Subscription" else None
            version = env.store.create(req.type, resource, rid)
            return Result(201, version=version, location=True)
        return write(env, req, req.type, check_id(str(body_id)), resource, "PUT")
    if body_id is not None and body_id != existing.id:
        raise FhirError.of(
            400, "invalid", "conditional_id_mismatch", found=existing.id, given=str(body_id)[:64]
        )
    resource = check_resource({**req.body, "id": existing.id}, req.type, existing.id)
    return write(env, req, req.type, existing.id, resource, "PUT")


def write(env: Env, req: FhirRequest, rtype: str, rid: str, resource: dict[str, Any], method: str) -> Result:
    """Store ``resource`` as the next version of rtype/rid, honouring If-Match."""
    check_id(rid)
    if rtype == "Subscription":  # topic, filters, channel checked; status set (422 otherwise)
        accept_subscription(env, resource, rid)
    current = env.store.read(rtype, rid, for_update=True)
    if_match = req.header("if-match")
    if if_match is not None:
        expected = parse_etag(if_match)
        if current is None or current.deleted or current.vid != expected:
            raise FhirError.of(412, "conflict", "version_conflict", expected=expected, current=_vid(current))
    if current is None:
        if visible(env.store.params, "r", "c") is not None:
            # Under a row-level access policy an id may be taken by a resource the caller cannot
            # see: creating it would answer 409 and reveal that it exists. Such callers create
            # with POST; a PUT to an id they cannot see is a 404, hidden or absent alike.
            raise FhirError.of(404, "not-found", "not_found", type=rtype, id=rid)
        return Result(201, version=env.store.create(rtype, resource, rid), location=True)
    if current.deleted:
        return Result(201, version=env.store.update(current, resource, method), location=True)
    return Result(200, version=env.store.update(current, resource, method), location=True)


def _vid(version: Version | None) -> str:
    if version is None:
        return "-"
    return f"{version.vid} (deleted)" if version.deleted else str(version.vid)
