"""The Bulk Data ``$export`` kick-off request, parsed and checked before any job is queued.

Bulk Data Access IG 2.0 — https://hl7.org/fhir/uv/bulkdata/STU2/export.html#query-parameters:
``GET`` with query parameters or ``POST`` with a ``Parameters`` body; ``_outputFormat``
(``application/fhir+ndjson``, ``application/ndjson``, ``ndjson``), ``_since`` (instant),
``_type`` (comma lists, repeatable), ``_typeFilter`` (``Type?search``, repeatable: a resource of
that type is exported when it matches ANY of its type's filters), ``_elements`` (comma lists,
repeatable: ``Type.element`` or ``element``, root elements only; see :meth:`ExportRequest.elements_for`)
and ``patient`` (Patient and Group levels, POST: references). ``includeAssociatedData`` is not
supported.

Unsupported or invalid parameters follow the IG's rule
(https://hl7.org/fhir/uv/bulkdata/STU2/export.html#headers): without ``Prefer: handling=lenient``
the kick-off fails with a 4xx OperationOutcome; with it, the parameter is ignored and a warning
goes to the kick-off's OperationOutcome and to the job's error file.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal
from zoneinfo import ZoneInfo

from hygie.api.checks import ID_RE
from hygie.api.compartment import member_types
from hygie.fhir.definitions import RESOURCE_TYPES, is_resource_type
from hygie.fhir.messages import register
from hygie.fhir.outcome import FhirError, Issue
from hygie.fhir.summary import element_names
from hygie.search.query import CONTROL
from hygie.search.ranges import date_range

Level = Literal["system", "patient", "group"]
OUTPUT_FORMATS = frozenset({"application/fhir+ndjson", "application/ndjson", "ndjson"})
SUPPORTED = frozenset({"_elements", "_outputFormat", "_since", "_type", "_typeFilter", "patient"})
IGNORED = frozenset({"_format", "_pretty"})
MAX_PATIENTS = 1000  # ``patient`` references in one kick-off
# ``_typeFilter`` values in one kick-off: each is one more OR-ed branch of the type's query
# (SQLite caps an expression's depth at 1000).
MAX_TYPE_FILTERS = 100

register(
    {
        "bulk_async_required": {
            "fr": "Cette opération est asynchrone : envoyez l'en-tête « Prefer: respond-async ».",
            "en": "This operation is asynchronous: send the header 'Prefer: respond-async'.",
        },
        "bulk_param_unsupported": {
            "fr": "Paramètre {name} de $export non pris en charge.",
            "en": "Parameter {name} of $export is not supported.",
        },
        "bulk_param_ignored": {
            "fr": "Paramètre {name} ignoré (Prefer: handling=lenient) : {reason}",
            "en": "Parameter {name} ignored (Prefer: handling=lenient): {reason}",
        },
        "bulk_type_outside": {
            "fr": "Le type {type} ne fait pas partie du compartiment Patient : il n'est pas exporté "
            "au niveau Patient ou Group.",
            "en": "Type {type} is not in the Patient compartment: it is not exported at Patient or "
            "Group level.",
        },
        "bulk_type_filter": {
            "fr": "_typeFilter invalide « {value} » : attendu Type?critères (ex. "
            "Observation?category=laboratory), le type étant exporté.",
            "en": "Invalid _typeFilter '{value}': expected Type?criteria (e.g. "
            "Observation?category=laboratory), of an exported type.",
        },
        "bulk_body": {
            "fr": "Le corps d'un POST $export doit être une ressource Parameters.",
            "en": "The body of a POST $export must be a Parameters resource.",
        },
        "bulk_patient_level": {
            "fr": "Le paramètre patient ne s'applique qu'aux exports Patient et Group.",
            "en": "The patient parameter only applies to Patient and Group exports.",
        },
    }
)


@dataclass(slots=True)
class ExportRequest:
    """A checked kick-off: what the job exports (stored as JSON with the job)."""

    level: Level
    base: str  # the FHIR base URL of the kick-off
    url: str  # the kick-off URL (the manifest's ``request``)
    group: str | None = None
    types: list[str] | None = None  # explicit ``_type`` (None: every type of the level)
    since: str | None = None
    since_ms: int | None = None
    filters: dict[str, list[list[tuple[str, str]]]] = field(default_factory=dict)
    patients: list[str] | None = None
    elements: dict[str, list[str]] = field(default_factory=dict)  # type (or "*": any) → names
    lenient: bool = False
    lang: str = "fr"
    warnings: list[dict[str, Any]] = field(default_factory=list)  # OperationOutcome issues

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExportRequest:
        filters = {t: [[(k, v) for k, v in f] for f in fs] for t, fs in (data.get("filters") or {}).items()}
        return cls(**{**data, "filters": filters})

    def level_types(self) -> tuple[str, ...]:
        """Every type the level exports before ``_type``: all types, or the Patient compartment's."""
        if self.level == "system":
            return tuple(sorted(RESOURCE_TYPES))
        return member_types("Patient")

    def chosen_types(self) -> list[str]:
        level = self.level_types()
        return [t for t in level if self.types is None or t in self.types]

    def elements_for(self, rtype: str) -> list[str] | None:
        """The ``_elements`` that shape ``rtype``'s resources (None: exported whole). Names
        without a type apply to every type; a type is subsetted when some name applies to it.
        Resources of a type no name applies to are exported whole: the IG leaves it open, and
        a type the client named no element of is taken as wanted in full."""
        names = [*self.elements.get("*", ()), *self.elements.get(rtype, ())]
        return names or None


def prefers_async(prefer: str | None) -> bool:
    return any(p.strip().lower() == "respond-async" for p in (prefer or "").replace(";", ",").split(","))


def is_lenient(prefer: str | None) -> bool:
    for token in (prefer or "").replace(";", ",").split(","):
        key, _, value = token.strip().partition("=")
        if key.strip().lower() == "handling" and value.strip().strip('"').lower() == "lenient":
            return True
    return False


def body_params(body: Any) -> list[tuple[str, str]]:
    """The parts of a POSTed ``Parameters`` as (name, text) pairs; ``valueReference`` gives its
    reference (``patient``)."""
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise FhirError.of(400, "invalid", "bulk_body")
    parts = body.get("parameter") or []
    if not isinstance(parts, list):
        raise FhirError.of(400, "structure", "bulk_body")
    out: list[tuple[str, str]] = []
    for part in parts:
        if not isinstance(part, dict) or not isinstance(part.get("name"), str):
            raise FhirError.of(400, "structure", "bulk_body")
        values = [v for k, v in part.items() if k.startswith("value")]
        if len(values) != 1:
            raise FhirError.of(400, "invalid", "bad_param", name=part["name"][:64], value="")
        value = values[0]
        if isinstance(value, dict) and isinstance(value.get("reference"), str):
            value = value["reference"]
        if isinstance(value, (dict, list, bool)) or value is None:
            raise FhirError.of(400, "invalid", "bad_param", name=part["name"][:64], value="")
        out.append((part["name"], str(value)))
    return out


class _Checker:
    """Collects strict errors (raised at once) or lenient warnings."""

    def __init__(self, req: ExportRequest) -> None:
        self.req = req

    def refuse(self, status: int, issue: Issue, name: str) -> None:
        if not self.req.lenient:
            raise FhirError(status, issue)
        from hygie.fhir.messages import render

        reason = render(issue.key, self.req.lang, issue.params)
        warning = Issue(
            issue.code, "bulk_param_ignored", {"name": name[:64], "reason": reason}, severity="warning"
        )
        self.req.warnings.append(warning.to_json(self.req.lang))


def parse(
    req: ExportRequest, params: list[tuple[str, str]], *, timezone: str, allowed: Any = None
) -> ExportRequest:
    """Fill ``req`` from the kick-off parameters; ``allowed(type)``: whether the caller may
    search that type at all (a named type it may not → 403, or a warning when lenient)."""
    check = _Checker(req)
    types: set[str] | None = None
    for name, value in params:
        if name in IGNORED:
            continue
        if name not in SUPPORTED:
            check.refuse(400, Issue("not-supported", "bulk_param_unsupported", {"name": name[:64]}), name)
        elif name == "_outputFormat" and value not in OUTPUT_FORMATS:
            check.refuse(400, Issue("invalid", "bad_param", {"name": name, "value": value[:64]}), name)
        elif name == "_since":
            rng = date_range(value, ZoneInfo(timezone))
            if rng is None:
                raise FhirError.of(400, "invalid", "bad_param", name="_since", value=value[:40])
            if req.since_ms is None or rng[0] > req.since_ms:
                req.since, req.since_ms = value, rng[0]
        elif name == "_type":
            types = _types(check, req, value, types, allowed)
        elif name == "patient":
            _patient(check, req, value)
    req.types = sorted(types) if types is not None else None
    for name, value in params:
        if name == "_typeFilter":
            _type_filter(check, req, value)
        elif name == "_elements":
            _elements(check, req, value)
    return req


def _types(check: _Checker, req: ExportRequest, value: str, types: set[str] | None, allowed: Any) -> set[str]:
    out = set(types or ())
    level = set(req.level_types())
    for raw in value.split(","):
        name = raw.strip()
        if not is_resource_type(name):
            check.refuse(400, Issue("invalid", "bad_param", {"name": "_type", "value": name[:64]}), "_type")
        elif name not in level:
            check.refuse(400, Issue("invalid", "bulk_type_outside", {"type": name}), "_type")
        elif allowed is not None and not allowed(name):
            issue = Issue("forbidden", "forbidden_interaction", {"type": name, "permission": "s"})
            check.refuse(403, issue, "_type")
        else:
            out.add(name)
    return out


def _patient(check: _Checker, req: ExportRequest, value: str) -> None:
    if req.level == "system":
        check.refuse(400, Issue("invalid", "bulk_patient_level"), "patient")
        return
    ref = value.removeprefix(req.base + "/")
    kind, _, pid = ref.partition("/")
    if kind != "Patient" or not ID_RE.fullmatch(pid):
        check.refuse(400, Issue("invalid", "bad_param", {"name": "patient", "value": value[:64]}), "patient")
        return
    req.patients = [*(req.patients or []), pid]
    if len(req.patients) > MAX_PATIENTS:
        raise FhirError.of(400, "too-costly", "bad_param", name="patient", value=f"> {MAX_PATIENTS}")


def _type_filter(check: _Checker, req: ExportRequest, value: str) -> None:
    from urllib.parse import parse_qsl

    rtype, sep, query = value.partition("?")
    chosen = req.chosen_types()
    bad = Issue("invalid", "bulk_type_filter", {"value": value[:120]})
    if not sep or rtype not in chosen:
        check.refuse(400, bad, "_typeFilter")
        return
    if sum(len(filters) for filters in req.filters.values()) >= MAX_TYPE_FILTERS:
        raise FhirError.of(400, "too-costly", "bad_param", name="_typeFilter", value=f"> {MAX_TYPE_FILTERS}")
    criteria = parse_qsl(query, keep_blank_values=True)
    if not criteria or any(name in CONTROL for name, _ in criteria):
        check.refuse(400, bad, "_typeFilter")
        return
    req.filters.setdefault(rtype, []).append(criteria)


def _elements(check: _Checker, req: ExportRequest, value: str) -> None:
    """``Type.element`` or ``element`` items: a root element (no path) of the type, or of some
    exported type when untyped; anything else is refused (or ignored when lenient)."""
    chosen = req.chosen_types()
    for raw in value.split(","):
        item = raw.strip()
        rtype, dot, name = item.rpartition(".")
        bad = Issue("invalid", "bad_param", {"name": "_elements", "value": item[:64]})
        if not dot:
            known = any(name in element_names(t) for t in chosen)
        else:
            known = rtype in chosen and name in element_names(rtype)
        if not known:  # a path ("name.given"), an unknown name or type, a type not exported
            check.refuse(400, bad, "_elements")
            continue
        names = req.elements.setdefault(rtype if dot else "*", [])
        if name not in names:
            names.append(name)
