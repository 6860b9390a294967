"""Patient $everything — https://hl7.org/fhir/R4/patient-operation-everything.html

``GET|POST [base]/Patient/[id]/$everything`` returns a ``searchset`` Bundle with the patient, every
resource of its Patient compartment (https://hl7.org/fhir/R4/compartmentdefinition-patient.html)
and the supporting resources those reference through their search parameters (practitioners,
organizations, locations, medications, devices, substances). Every entry is a ``match`` and
``total`` counts them all (each resource appears once, even when several members reference it).

Parameters: ``_since`` (instant: resources last updated at or after it), ``_type`` (comma list of
resource types to return, repeatable) and ``_count`` (page size). Pages follow the storage key
with an opaque ``_cursor`` in the ``next`` link, which also carries ``_since``, ``_type`` and
``_count``: no resource is repeated or skipped across pages. ``start``/``end`` (care dates) and
type-level ``Patient/$everything`` are not supported (400). Unknown patient → 404, deleted → 410.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from hygie.api.compartment import guarded, member_rks, member_types, paged_bundle, parse_types, union
from hygie.api.context import Env, FhirRequest, Result
from hygie.fhir.messages import register
from hygie.fhir.outcome import FhirError
from hygie.search.query import Sql, local_reference, one_of
from hygie.search.ranges import date_range

OPERATION_DEFINITION = "http://hl7.org/fhir/OperationDefinition/Patient-everything"
# Resource types returned because a compartment member references them.
SUPPORTING = (
    "Device",
    "Location",
    "Medication",
    "Organization",
    "Practitioner",
    "PractitionerRole",
    "Substance",
)
ALLOWED = frozenset({"_since", "_type", "_count", "_cursor", "_format", "_pretty", "_summary", "_elements"})
UNSUPPORTED = frozenset({"start", "end"})

register(
    {
        "everything_type_level": {
            "fr": "Patient/$everything sur tous les patients n'est pas pris en charge : "
            "utilisez Patient/[id]/$everything.",
            "en": "Patient/$everything over all patients is not supported: use Patient/[id]/$everything.",
        },
        "everything_body": {
            "fr": "Le corps de POST $everything doit être une ressource Parameters.",
            "en": "The body of POST $everything must be a Parameters resource.",
        },
        "everything_param": {
            "fr": "Paramètre {name} de $everything inconnu ou non pris en charge "
            "(pris en charge : _since, _type, _count).",
            "en": "Parameter {name} of $everything is unknown or not supported "
            "(supported: _since, _type, _count).",
        },
    }
)


def everything(env: Env, req: FhirRequest) -> Result:
    assert req.type == "Patient"
    if req.id is None:
        raise FhirError.of(400, "not-supported", "everything_type_level")
    query = [*req.query, *_body_params(req)] if req.method == "POST" else list(req.query)
    for name, _ in query:
        if name not in ALLOWED:
            code = "not-supported" if name in UNSUPPORTED else "invalid"
            raise FhirError.of(400, code, "everything_param", name=name[:64])
    current = env.store.read("Patient", req.id)
    if current is None:
        raise FhirError.of(404, "not-found", "not_found", type="Patient", id=req.id)
    if current.deleted:
        raise FhirError.of(410, "deleted", "gone", type="Patient", id=req.id)
    where = _where(env, req.id, query)
    return paged_bundle(env, f"Patient/{req.id}/$everything", where, query)


def _where(env: Env, pid: str, query: list[tuple[str, str]]) -> Sql:
    members = member_types("Patient")
    chosen = parse_types([v for k, v in query if k == "_type"])
    params = env.store.params
    parts: list[Sql] = []
    selected = [t for t in members if chosen is None or t in chosen]
    if selected:
        parts.append(member_rks("Patient", pid, selected, params, base=env.base))
    supporting = tuple(t for t in SUPPORTING if chosen is None or t in chosen)
    if supporting:
        # supporting resources of the members the caller may see only: a hidden member's
        # references say something about it
        everyone = guarded_rks(env, member_rks("Patient", pid, members, params, base=env.base))
        kinds = one_of("x.target_type", supporting)
        local = local_reference(env.base, "x")
        parts.append(
            Sql(
                # CROSS JOIN: SQLite keeps idx_reference outer, driven by the members' keys
                "SELECT t.rk FROM idx_reference x CROSS JOIN resource t "
                f"WHERE x.rk IN ({everyone.clause}) AND {kinds.clause} "
                f"AND t.type = x.target_type AND t.id = x.target_id AND {local.clause}",
                (*everyone.args, *kinds.args, *local.args),
            )
        )
    if not parts:
        return Sql("1 = 0", ())
    rks = union(parts)
    where = Sql(f"r.rk IN ({rks.clause})", rks.args)
    since_values = [v for k, v in query if k == "_since"]
    for value in since_values:
        rng = date_range(value, ZoneInfo(env.settings.timezone))
        if rng is None:
            raise FhirError.of(400, "invalid", "bad_param", name="_since", value=value[:40])
        where = Sql(f"{where.clause} AND r.last_updated >= ?", (*where.args, rng[0]))
    return where


def guarded_rks(env: Env, rks: Sql) -> Sql:
    """A ``SELECT rk`` of the rows of ``rks`` the caller may search (hygie.auth.policy)."""
    where = guarded(env, Sql(f"m.rk IN ({rks.clause})", rks.args), "m")
    return Sql(f"SELECT m.rk FROM resource m WHERE {where.clause}", where.args)


def _body_params(req: FhirRequest) -> list[tuple[str, str]]:
    """The parts of a POSTed Parameters resource as query pairs (``valueInteger`` 5 → ``"5"``)."""
    body: Any = req.body
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise FhirError.of(400, "invalid", "everything_body")
    out: list[tuple[str, str]] = []
    for part in body.get("parameter") or []:
        if not isinstance(part, dict) or not isinstance(part.get("name"), str):
            raise FhirError.of(400, "structure", "not_an_object")
        values = [v for k, v in part.items() if k.startswith("value")]
        if len(values) != 1 or isinstance(values[0], (dict, list)):
            raise FhirError.of(400, "invalid", "bad_param", name=part["name"][:64], value="")
        value = values[0]
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        out.append((part["name"], text))
    return out
