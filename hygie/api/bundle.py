"""batch and transaction — https://hl7.org/fhir/R4/http.html#transaction

A transaction runs every entry in one database transaction: any failure raises and the whole
unit rolls back (nothing written). Processing order is DELETE → POST → PUT/PATCH → GET/HEAD;
ids of created resources are assigned up front so ``urn:uuid:`` (and other) fullUrls can be
rewritten to ``Type/id`` everywhere in the Bundle, and conditional references
(``Patient?identifier=…``) are resolved to the single match. A batch runs each entry in its
own savepoint: a failed entry gets an OperationOutcome and the others still apply.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import orjson

from hygie.api.authorize import check
from hygie.api.bundle_entries import response_entry
from hygie.api.checks import check_id
from hygie.api.conditional import match, parse_criteria
from hygie.api.context import Env, FhirRequest, Result
from hygie.api.create import create
from hygie.api.patch import JSON_PATCH
from hygie.api.routes import parse_url, route
from hygie.fhir.outcome import FhirError, Issue, outcome
from hygie.storage.store import new_id

METHODS = ("DELETE", "POST", "PUT", "PATCH", "GET", "HEAD")
_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
_HEADERS = {
    "ifMatch": "if-match",
    "ifNoneMatch": "if-none-match",
    "ifNoneExist": "if-none-exist",
    "ifModifiedSince": "if-modified-since",
}


@dataclass(slots=True)
class Entry:
    index: int
    req: FhirRequest
    url: str
    full_url: str | None
    rid: str | None = None  # pre-assigned id for POST


def process_bundle(env: Env, bundle: Any, *, minimal: bool = False) -> Result:
    kind = bundle.get("type") if isinstance(bundle, dict) else None
    if kind not in ("batch", "transaction") or bundle.get("resourceType") != "Bundle":
        raise FhirError.of(400, "invalid", "bundle_expected")
    raw_entries = bundle.get("entry", [])
    if not isinstance(raw_entries, list):  # an object or "" is no empty Bundle
        raise FhirError.of(400, "structure", "bundle_entry_not_list", ("Bundle.entry",))
    if len(raw_entries) > env.settings.max_bundle_entries:
        raise FhirError.of(
            413,
            "too-costly",
            "bundle_too_large",
            count=len(raw_entries),
            limit=env.settings.max_bundle_entries,
        )
    if kind == "transaction":
        return _transaction(env, raw_entries, minimal)
    return _batch(env, raw_entries, minimal)


def _entry(index: int, raw: Any) -> Entry:
    if not isinstance(raw, dict):
        raise _entry_error(index, "entry is not an object")
    request = raw.get("request")
    if not isinstance(request, dict):
        raise _entry_error(index, "request is missing")
    method, url = request.get("method"), request.get("url")
    if method not in METHODS or not isinstance(url, str) or not url:
        raise _entry_error(index, "request.method and request.url are required")
    req = parse_url(method, url)
    for key, header in _HEADERS.items():
        value = request.get(key)
        if isinstance(value, str):
            req.headers[header] = value
    resource = raw.get("resource")
    if method in ("POST", "PUT"):
        req.body = resource
    elif method == "PATCH":
        req.body, req.content_type = _patch_body(index, resource)
    full_url = raw.get("fullUrl")
    return Entry(index, req, url, full_url if isinstance(full_url, str) and full_url else None)


def _patch_body(index: int, resource: Any) -> tuple[Any, str]:
    """A PATCH entry carries a Binary (JSON Patch, base64) or Parameters (FHIRPath Patch)."""
    if isinstance(resource, dict) and resource.get("resourceType") == "Binary":
        if resource.get("contentType") != JSON_PATCH:
            raise _entry_error(index, "Binary.contentType must be application/json-patch+json")
        try:
            return orjson.loads(base64.b64decode(str(resource.get("data", "")), validate=True)), JSON_PATCH
        except (binascii.Error, orjson.JSONDecodeError) as exc:
            raise _entry_error(index, "Binary.data is not base64 JSON") from exc
    return resource, "application/fhir+json"


def _entry_error(index: int, detail: str) -> FhirError:
    return FhirError.of(
        400,
        "invalid",
        "entry_request_invalid",
        (f"Bundle.entry[{index}].request",),
        index=index,
        detail=detail,
    )


def _run(env: Env, entry: Entry) -> Result:
    if (
        entry.req.method == "POST"
        and entry.req.type is not None
        and entry.req.id is None
        and entry.req.operation is None
    ):
        check(env, entry.req)
        return create(env, entry.req, rid=entry.rid)
    handler = route(entry.req)
    check(env, entry.req)
    return handler(env, entry.req)


# -- transaction ---------------------------------------------------------------------------------
def _transaction(env: Env, raw_entries: list[Any], minimal: bool) -> Result:
    entries = []
    for index, raw in enumerate(raw_entries):
        try:
            entries.append(_entry(index, raw))
        except FhirError as err:
            raise _failed(err, Entry(index, FhirRequest("?"), "?", None)) from err
    mapping = _assign_ids(env, entries)
    targets: set[str] = set()
    for entry in entries:
        _check_target(entry, targets)
        if entry.req.body is not None:
            entry.req.body = _rewrite(entry.req.body, mapping, env, entry.index)
    results: dict[int, Result] = {}
    for entry in sorted(entries, key=lambda e: (_ORDER[e.req.method], e.index)):
        try:
            results[entry.index] = _run(env, entry)
        except FhirError as err:
            raise _failed(err, entry) from err
    return _response(env, "transaction-response", [results[e.index] for e in entries], minimal)


def _assign_ids(env: Env, entries: list[Entry]) -> dict[str, str]:
    """fullUrl → ``Type/id`` for entries whose target is known before processing."""
    mapping: dict[str, str] = {}
    seen: set[str] = set()
    for entry in entries:
        req, full = entry.req, entry.full_url
        if full is not None:
            if full in seen:
                raise FhirError.of(
                    400,
                    "invalid",
                    "duplicate_full_url",
                    (f"Bundle.entry[{entry.index}].fullUrl",),
                    url=full[:200],
                )
            seen.add(full)
        if req.method == "POST" and req.type is not None and req.id is None and req.operation is None:
            existing = None
            if "if-none-exist" in req.headers:
                found = match(env, req.type, parse_criteria(req.headers["if-none-exist"]))
                if len(found) > 1:
                    raise _failed(
                        FhirError.of(412, "multiple-matches", "multiple_matches", count="2+"), entry
                    )
                existing = found[0] if found else None
            if existing is None:
                entry.rid = new_id()
                target = f"{req.type}/{entry.rid}"
            else:
                target = f"{req.type}/{existing.id}"
            if full is not None:
                mapping[full] = target
        elif req.method == "PUT" and req.type is not None and full is not None:
            if req.id is not None:
                mapping[full] = f"{req.type}/{req.id}"
            else:
                found = match(env, req.type, req.query)
                if len(found) == 1:
                    mapping[full] = f"{req.type}/{found[0].id}"
                elif not found and isinstance(req.body, dict) and isinstance(req.body.get("id"), str):
                    mapping[full] = f"{req.type}/{check_id(req.body['id'])}"
    return mapping


def _check_target(entry: Entry, targets: set[str]) -> None:
    req = entry.req
    if req.method in ("GET", "HEAD") or req.type is None:
        return
    key = f"{req.type}/{req.id}" if req.id is not None else None
    if key is None:
        return
    if key in targets:
        raise FhirError.of(400, "invalid", "duplicate_target", (f"Bundle.entry[{entry.index}]",), url=key)
    targets.add(key)


def _rewrite(resource: Any, mapping: dict[str, str], env: Env, index: int) -> Any:
    """Replace references to fullUrls (and conditional references) throughout a resource.

    Works in place on the entry's parsed body (owned by this request) and returns it. Only
    ``reference`` strings and narrative ``div``s can change, so each object is checked for those
    two keys and only its container values are visited.
    """
    stack = [resource]
    containers = (dict, list)
    while stack:
        node = stack.pop()
        if type(node) is dict:
            ref = node.get("reference")
            if type(ref) is str:
                node["reference"] = _resolve(ref, mapping, env, index)
            div = node.get("div")
            if type(div) is str and "urn:uuid:" in div:
                node["div"] = _rewrite_narrative(div, mapping)
            stack.extend(v for v in node.values() if type(v) in containers)
        else:
            stack.extend(v for v in node if type(v) in containers)
    return resource


def _rewrite_narrative(div: str, mapping: dict[str, str]) -> str:
    """Links in the narrative (``href``/``src``) to ``urn:uuid:`` fullUrls."""
    for full, target in mapping.items():
        if full.startswith("urn:uuid:") and full in div:
            div = div.replace(full, target)
    return div


def _resolve(ref: str, mapping: dict[str, str], env: Env, index: int) -> str:
    target = mapping.get(ref)
    if target is not None:
        return target
    if "?" in ref and "/" not in ref.partition("?")[0] and not ref.startswith(("http:", "https:", "urn:")):
        rtype, _, criteria = ref.partition("?")
        try:
            found = match(env, rtype, parse_criteria(criteria)) if rtype else []
        except FhirError as err:  # bad criteria (unknown parameter...): located in the Bundle
            where = (f"Bundle.entry[{index}].resource",)
            raise FhirError(
                err.status, *(Issue(i.code, i.key, i.params, where, i.severity) for i in err.issues)
            ) from err
        if len(found) != 1:
            raise FhirError.of(
                412 if found else 400,
                "not-found",
                "unresolved_reference",
                (f"Bundle.entry[{index}].resource",),
                ref=ref[:200],
                count=len(found),
            )
        return f"{rtype}/{found[0].id}"
    return ref


def _failed(err: FhirError, entry: Entry) -> FhirError:
    """Wrap an entry's error: same status, issues located in the Bundle."""
    where = f"Bundle.entry[{entry.index}]"
    issues = [
        Issue(
            i.code,
            i.key,
            i.params,
            tuple(f"{where}.resource.{e.split('.', 1)[1]}" if "." in e else where for e in i.expression)
            or (where,),
            i.severity,
        )
        for i in err.issues
    ]
    head = Issue(
        "processing",
        "entry_failed",
        {"index": entry.index, "method": entry.req.method, "url": entry.url[:200], "detail": ""},
        (where,),
    )
    return FhirError(err.status, head, *issues, headers=err.headers)


# -- batch ---------------------------------------------------------------------------------------
def _batch(env: Env, raw_entries: list[Any], minimal: bool) -> Result:
    results: list[Result] = []
    for index, raw in enumerate(raw_entries):
        name = f"entry_{index}"
        env.store.s.savepoint(name)
        try:
            entry = _entry(index, raw)
            result = _run(env, entry)
            env.store.flush()
        except FhirError as err:
            env.store.discard()
            env.store.s.rollback_to(name)
            result = Result(err.status, resource=outcome(err.issues, env.lang), headers=err.headers)
        env.store.s.release(name)
        results.append(result)
    return _response(env, "batch-response", results, minimal)


def _response(env: Env, kind: str, results: list[Result], minimal: bool) -> Result:
    entries = []
    for result in results:
        entry = response_entry(env, result, representation=not minimal)
        if result.status >= 400 and result.resource is not None:
            entry.pop("resource", None)
            entry["response"]["outcome"] = result.resource
        entries.append(entry)
    return Result(200, resource={"resourceType": "Bundle", "type": kind, "entry": entries})
