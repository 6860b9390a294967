"""Bundle entries for history, search and batch/transaction responses.

Stored resources are embedded as pre-serialised JSON (``orjson.Fragment``): a page of results
is written out without parsing and re-encoding each resource.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import orjson

from hygie.api.context import Env, Result
from hygie.storage.store import Version, instant


def status_line(status: int) -> str:
    return f"{status} {HTTPStatus(status).phrase}"


def full_url(env: Env, version: Version) -> str:
    return f"{env.base}/{version.type}/{version.id}"


def history_entry(env: Env, v: Version) -> dict[str, Any]:
    env.touched.append(v)
    method = "DELETE" if v.deleted else v.method
    url = f"{v.type}/{v.id}" if method != "POST" else v.type
    entry: dict[str, Any] = {"fullUrl": full_url(env, v)}
    if v.body is not None:
        entry["resource"] = orjson.Fragment(v.body)
    entry["request"] = {"method": method, "url": url}
    status = 201 if v.method == "POST" and not v.deleted else (204 if v.deleted else 200)
    entry["response"] = {
        "status": status_line(status),
        "etag": v.etag,
        "lastModified": instant(v.last_updated),
    }
    return entry


def search_entry(env: Env, v: Version, mode: str = "match") -> dict[str, Any]:
    assert v.body is not None
    env.touched.append(v)
    return {"fullUrl": full_url(env, v), "resource": orjson.Fragment(v.body), "search": {"mode": mode}}


def response_entry(env: Env, result: Result, representation: bool = True) -> dict[str, Any]:
    """An entry of a batch-response / transaction-response."""
    response: dict[str, Any] = {"status": status_line(result.status)}
    entry: dict[str, Any] = {}
    v = result.version
    if v is not None:
        env.touched.append(v)
        if result.location and not v.deleted:
            response["location"] = f"{v.type}/{v.id}/_history/{v.vid}"
        response["etag"] = v.etag
        response["lastModified"] = instant(v.last_updated)
        if not v.deleted:
            entry["fullUrl"] = full_url(env, v)
            if representation and v.body is not None and result.status != 304:
                entry["resource"] = orjson.Fragment(v.body)
    elif result.resource is not None and representation:
        entry["resource"] = result.resource
    entry["response"] = response
    return entry
