"""vread — https://hl7.org/fhir/R4/http.html#vread"""

from __future__ import annotations

from hygie.api.checks import check_vid
from hygie.api.context import Env, FhirRequest, Result
from hygie.fhir.outcome import FhirError


def vread(env: Env, req: FhirRequest) -> Result:
    assert req.type is not None and req.id is not None and req.vid is not None
    vid = check_vid(req.vid)
    version = env.store.vread(req.type, req.id, vid)
    if version is None:
        raise FhirError.of(404, "not-found", "version_not_found", type=req.type, id=req.id, vid=vid)
    if version.deleted:
        raise FhirError.of(410, "deleted", "gone", type=req.type, id=req.id)
    return Result(200, version=version)
