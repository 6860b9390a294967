"""read and conditional read — https://hl7.org/fhir/R4/http.html#read"""

from __future__ import annotations

from email.utils import parsedate_to_datetime

from hygie.api.context import Env, FhirRequest, Result
from hygie.fhir.outcome import FhirError, Issue
from hygie.storage.store import Version


def read(env: Env, req: FhirRequest) -> Result:
    assert req.type is not None and req.id is not None
    version = env.store.read(req.type, req.id)
    if version is None:
        raise FhirError.of(404, "not-found", "not_found", type=req.type, id=req.id)
    if version.deleted:
        gone = Issue(code="deleted", key="gone", params={"type": req.type, "id": req.id})
        raise FhirError(410, gone, headers={"ETag": version.etag})
    if not_modified(req, version):
        return Result(304, version=version)
    return Result(200, version=version)


def not_modified(req: FhirRequest, version: Version) -> bool:
    """If-None-Match / If-Modified-Since (https://hl7.org/fhir/R4/http.html#cread)."""
    none_match = req.header("if-none-match")
    if none_match is not None:
        tags = {t.strip().removeprefix("W/") for t in none_match.split(",")}
        return "*" in tags or f'"{version.vid}"' in tags
    since = req.header("if-modified-since")
    if since is not None:
        try:
            when = parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
        if when.tzinfo is None:
            return False
        return version.last_updated // 1000 <= int(when.timestamp())
    return False
