"""create and conditional create — https://hl7.org/fhir/R4/http.html#create"""

from __future__ import annotations

from hygie.api.checks import check_resource
from hygie.api.conditional import match_one_or_none, parse_criteria
from hygie.api.context import Env, FhirRequest, Result
from hygie.api.subscriptions.validate import accept_subscription


def create(env: Env, req: FhirRequest, *, rid: str | None = None) -> Result:
    """Create with a server-assigned id (``rid`` is used by transactions that pre-assign one).

    The body's ``id`` is ignored (R4: the server assigns the id). With ``If-None-Exist``, an
    existing single match is returned with 200 and nothing is written; several → 412.
    """
    assert req.type is not None
    resource = check_resource(req.body, req.type)
    criteria = req.header("if-none-exist")
    if criteria is not None:
        existing = match_one_or_none(env, req.type, parse_criteria(criteria))
        if existing is not None:
            return Result(200, version=existing, location=True)
    resource = {k: v for k, v in resource.items() if k != "id"}
    if req.type == "Subscription":  # topic, filters, channel checked; status set (422 otherwise)
        rid = accept_subscription(env, resource, rid)
    version = env.store.create(req.type, resource, rid)
    return Result(201, version=version, location=True)
