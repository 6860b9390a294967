"""FHIR RESTful URL → interaction — https://hl7.org/fhir/R4/http.html

Shared by HTTP requests and batch/transaction entries (whose ``request.url`` is relative).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl, unquote

from hygie.api import audit_search
from hygie.api.checks import check_id, check_type
from hygie.api.compartment import check_compartment, search_all
from hygie.api.context import Env, FhirRequest, Result
from hygie.api.create import create
from hygie.api.delete import delete
from hygie.api.history import history
from hygie.api.operations.break_glass import break_glass, current_grants
from hygie.api.operations.everything import everything
from hygie.api.operations.validate import validate
from hygie.api.patch import patch
from hygie.api.read import read
from hygie.api.search import search
from hygie.api.update import update
from hygie.api.vread import vread
from hygie.fhir.outcome import FhirError

Handler = Callable[[Env, FhirRequest], Result]
READ_ONLY = frozenset({"GET", "HEAD"})


def parse_url(method: str, url: str) -> FhirRequest:
    """A relative FHIR URL (``Patient/1``, ``Patient?name=x``, ``_history``) → request."""
    path, _, query = url.partition("?")
    segments = [unquote(s) for s in path.strip("/").split("/") if s]
    req = FhirRequest(method=method, query=parse_qsl(query, keep_blank_values=True))
    return fill_path(req, segments)


def fill_path(req: FhirRequest, segments: list[str]) -> FhirRequest:
    if not segments:
        return req
    first, rest = segments[0], segments[1:]
    if first.startswith("$"):
        req.operation = first
        return _no_more(req, rest)
    if first == "_history":
        req.operation = "_history"
        return _no_more(req, rest)
    req.type = check_type(first)
    if not rest:
        return req
    second, rest = rest[0], rest[1:]
    if second in ("_history", "_search") or second.startswith("$"):
        req.operation = second
        return _no_more(req, rest)
    req.id = check_id(second)
    if not rest:
        return req
    third, rest = rest[0], rest[1:]
    if third.startswith("$"):
        req.operation = third
        return _no_more(req, rest)
    if third == "*" or third[:1].isupper():
        return _compartment(req, third, rest)
    if third != "_history":
        raise FhirError.of(404, "not-found", "unknown_route")
    req.operation = "_history"
    if rest:
        req.vid = rest[0]
        return _no_more(req, rest[1:])
    return req


def _compartment(req: FhirRequest, target: str, rest: list[str]) -> FhirRequest:
    """``Patient/1/Observation[/_search]`` and ``Patient/1/*``: search in a compartment
    (https://hl7.org/fhir/R4/search.html#compartment); ``req.compartment`` = ``Patient/1``."""
    assert req.type is not None and req.id is not None
    req.compartment = f"{check_compartment(req.type)}/{req.id}"
    req.type = None if target == "*" else check_type(target)
    req.id = None
    if rest and rest[0] == "_search" and req.type is not None:
        req.operation = "_search"
        rest = rest[1:]
    return _no_more(req, rest)


def _no_more(req: FhirRequest, rest: list[str]) -> FhirRequest:
    if rest:
        raise FhirError.of(404, "not-found", "unknown_route")
    return req


def route(req: FhirRequest) -> Handler:
    """Pick the interaction for a parsed request (405 for a method the URL does not allow)."""
    method, op = req.method, req.operation
    if req.compartment is not None:
        return _compartment_search(req)
    if req.type == "AuditEvent":
        return _audit_event(req)
    if req.type is None:
        if op == "_history" and method in READ_ONLY:
            return history
        raise _not_allowed(method)
    if op == "_history":
        if method not in READ_ONLY:
            raise _not_allowed(method)
        return vread if req.vid is not None else history
    if op == "$everything" and req.type == "Patient":
        if method not in READ_ONLY and method != "POST":
            raise _not_allowed(method)
        return everything
    if op == "$validate":
        if method != "POST":
            raise _not_allowed(method)
        return validate
    if op == "$break-glass" and req.type == "Patient":
        if method == "GET":
            return current_grants
        if method != "POST" or req.id is None:
            raise _not_allowed(method)
        return break_glass
    if op == "_search":
        if method != "POST" or req.id is not None:
            raise _not_allowed(method)
        return search
    if op is not None:
        raise FhirError.of(404, "not-supported", "not_implemented", what=op[:64])
    table = _INSTANCE if req.id is not None else _TYPE
    handler = table.get(method)
    if handler is None:
        raise _not_allowed(method)
    return handler


def _audit_event(req: FhirRequest) -> Handler:
    """AuditEvent is the server's audit ledger (hygie.api.audit_search): read and search only."""
    if req.method in READ_ONLY and req.operation is None:
        return audit_search.read if req.id is not None else audit_search.search
    if req.method == "POST" and req.operation == "_search":
        return audit_search.search
    if req.operation == "_history":
        raise FhirError.of(404, "not-supported", "not_implemented", what="AuditEvent/_history")
    return audit_search.refuse_write


def _compartment_search(req: FhirRequest) -> Handler:
    if req.operation == "_search":
        if req.method != "POST":
            raise _not_allowed(req.method)
    elif req.method not in READ_ONLY:
        raise _not_allowed(req.method)
    return search if req.type is not None else search_all


def _not_allowed(method: str) -> FhirError:
    return FhirError.of(405, "not-supported", "method_not_allowed", method=method[:16])


_INSTANCE: dict[str, Handler] = {"GET": read, "HEAD": read, "PUT": update, "PATCH": patch, "DELETE": delete}
_TYPE: dict[str, Handler] = {
    "GET": search,
    "HEAD": search,
    "POST": create,
    "PUT": update,
    "PATCH": patch,
    "DELETE": delete,
}
