"""delete and conditional delete — https://hl7.org/fhir/R4/http.html#delete

Deletion is soft: a deletion version is recorded, reads then answer 410 Gone, history keeps
every version. Deleting an absent or already deleted resource succeeds (204, idempotent).
Conditional delete with several matches answers 412 (single-match conditional delete).
"""

from __future__ import annotations

from hygie.api.conditional import match_one_or_none
from hygie.api.context import Env, FhirRequest, Result


def delete(env: Env, req: FhirRequest) -> Result:
    assert req.type is not None
    if req.id is None:
        current = match_one_or_none(env, req.type, req.query)
    else:
        current = env.store.read(req.type, req.id, for_update=True)
    if current is None or current.deleted:
        return Result(204, version=current if current is not None else None)
    env.touched.append(current)  # the audit trail: whose record it was (the deletion has no body)
    return Result(204, version=env.store.delete(current))
