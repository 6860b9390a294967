"""CSV files → samples, through a small JSON mapping that says which column holds what.

Example (a French cuff export: ``;``-separated, decimal comma, local times)::

    {"delimiter": ";", "decimal": ",", "timezone": "Europe/Paris",
     "time": {"column": "Date", "format": "%d/%m/%Y %H:%M"},
     "kind": {"value": "blood-pressure"}, "unit": {"value": "mmHg"},
     "components": {"systolic": "Systolique", "diastolic": "Diastolique"},
     "device": {"manufacturer": {"value": "Omron"}, "identifier": "N° série"}}

A field is a column name (or a 0-based index when ``"header": false``), ``{"column": …}``
(optionally with ``"format"`` for strptime, or ``"values"`` translating the cell, e.g.
``{"FC": "heart-rate"}``), or a constant ``{"value": …}``. Keys: ``time`` (required), ``end``
(an empty cell: a point in time), ``kind`` (a catalogue key), ``value`` or ``components``,
``unit``, ``device`` (``manufacturer``, ``model``, ``name``, ``identifier``, ``source``),
``source_id``; options ``delimiter`` (``,``),
``decimal`` (``.`` or ``,``), ``header`` (true), ``timezone`` (IANA name, applied to times
without an offset — without it such times are refused). Each bad row is an error naming its
line; the other rows go on.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import datetime, tzinfo
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jsonschema import Draft7Validator  # type: ignore[import-untyped]  # no stubs shipped
from jsonschema.exceptions import best_match  # type: ignore[import-untyped]

from hygie.fhir.messages import register
from hygie.fhir.outcome import FhirError
from hygie.monitoring.ingest import times
from hygie.monitoring.ingest.samples import (
    Conversion,
    DeviceInfo,
    RecordError,
    Sample,
    Where,
    make_sample,
    number,
)

register(
    {
        "ingest_mapping": {
            "fr": "Correspondance CSV invalide en « {field} » : {detail}.",
            "en": "Invalid CSV mapping at '{field}': {detail}.",
        },
    }
)

_COLUMN = {"type": ["string", "integer"], "minimum": 0}
_FIELD = {
    "oneOf": [
        {"type": "string", "minLength": 1},
        {"type": "integer", "minimum": 0},
        {
            "type": "object",
            "properties": {
                "column": _COLUMN,
                "value": {"type": ["string", "number"]},
                "format": {"type": "string", "minLength": 1},
                "values": {"type": "object", "additionalProperties": {"type": "string"}},
            },
            "additionalProperties": False,
            "oneOf": [{"required": ["column"]}, {"required": ["value"]}],
        },
    ]
}
MAPPING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "delimiter": {"type": "string", "minLength": 1, "maxLength": 1},
        "decimal": {"enum": [".", ","]},
        "header": {"type": "boolean"},
        "timezone": {"type": "string", "minLength": 1},
        "time": _FIELD,
        "end": _FIELD,
        "kind": _FIELD,
        "value": _FIELD,
        "unit": _FIELD,
        "source_id": _FIELD,
        "components": {"type": "object", "additionalProperties": _FIELD, "minProperties": 1},
        "device": {
            "type": "object",
            "properties": dict.fromkeys(("manufacturer", "model", "name", "identifier", "source"), _FIELD),
            "additionalProperties": False,
        },
    },
    "required": ["time", "kind", "unit"],
    "oneOf": [{"required": ["value"]}, {"required": ["components"]}],
    "additionalProperties": False,
}


@cache
def _validator() -> Draft7Validator:
    return Draft7Validator(MAPPING_SCHEMA)


def _bad(fld: str, detail: str) -> FhirError:
    return FhirError.of(400, "invalid", "ingest_mapping", field=fld, detail=detail[:200])


def check_mapping(mapping: Any) -> tuple[str, str, bool, tzinfo | None]:
    """Validate a mapping; return its delimiter, decimal mark, header flag and timezone."""
    error = best_match(_validator().iter_errors(mapping))
    if error is not None:
        raise _bad(".".join(str(p) for p in error.absolute_path) or "$", error.message)
    delimiter, decimal = mapping.get("delimiter", ","), mapping.get("decimal", ".")
    if delimiter == decimal:
        raise _bad("decimal", "the decimal mark cannot be the delimiter")
    tz: tzinfo | None = None
    if "timezone" in mapping:
        try:
            tz = ZoneInfo(mapping["timezone"])
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise _bad("timezone", f"unknown timezone {mapping['timezone']!r}") from exc
    return delimiter, decimal, mapping.get("header", True), tz


class _Row:
    def __init__(self, cells: list[str], columns: dict[str, int], where: Where) -> None:
        self.cells, self.columns, self.where = cells, columns, where

    def get(self, fld: str, spec: Any) -> str | RecordError:
        """The text of a mapped field in this row (missing or empty cell → an error)."""
        if isinstance(spec, dict) and "value" in spec:
            return str(spec["value"])
        column = spec.get("column") if isinstance(spec, dict) else spec
        index = self.columns.get(column) if isinstance(column, str) else column
        if index is None or index >= len(self.cells) or not self.cells[index].strip():
            return self.where.error(fld, "ingest_missing")
        text = self.cells[index].strip()
        if isinstance(spec, dict) and "values" in spec:
            return str(spec["values"].get(text, text))
        return text


def _number(row: _Row, fld: str, spec: Any, decimal: str) -> float | RecordError:
    text = row.get(fld, spec)
    if isinstance(text, RecordError):
        return text
    cleaned = text.replace("\u202f", "").replace("\u00a0", "").replace(" ", "")
    if decimal == ",":
        cleaned = cleaned.replace(".", "") if "," in cleaned else cleaned
        cleaned = cleaned.replace(",", ".")
    value = number(cleaned)  # finite, and no Python-only spelling ("7_0")
    return row.where.error(fld, "ingest_number", value=text[:40]) if value is None else value


def _time(row: _Row, fld: str, spec: Any, tz: tzinfo | None) -> datetime | RecordError:
    text = row.get(fld, spec)
    if isinstance(text, RecordError):
        return text
    fmt = spec.get("format") if isinstance(spec, dict) else None
    if fmt is None:
        return times.iso(row.where, fld, text, tz)
    try:
        moment = datetime.strptime(text, fmt)
    except ValueError:
        return row.where.error(fld, "ingest_time", value=text[:60])
    if moment.utcoffset() is None:
        if tz is None:
            return row.where.error(fld, "ingest_naive_time", value=text[:60])
        moment = moment.replace(tzinfo=tz)
    return moment


def _convert(row: _Row, mapping: dict[str, Any], decimal: str, tz: tzinfo | None) -> Sample | RecordError:
    start = _time(row, "time", mapping["time"], tz)
    if isinstance(start, RecordError):
        return start
    end: datetime | RecordError | None = None
    if "end" in mapping and not isinstance(row.get("end", mapping["end"]), RecordError):
        end = _time(row, "end", mapping["end"], tz)  # an empty end cell: a point in time
    if isinstance(end, RecordError):
        return end
    kind, unit = row.get("kind", mapping["kind"]), row.get("unit", mapping["unit"])
    if isinstance(kind, RecordError):
        return kind
    if isinstance(unit, RecordError):
        return unit
    value: float | None = None
    components: dict[str, float] = {}
    if "value" in mapping:
        got = _number(row, "value", mapping["value"], decimal)
        if isinstance(got, RecordError):
            return got
        value = got
    for name, spec in mapping.get("components", {}).items():
        got = _number(row, name, spec, decimal)
        if isinstance(got, RecordError):
            return got
        components[name] = got
    fields: dict[str, str | None] = {}
    for name, spec in mapping.get("device", {}).items():
        text = row.get(f"device.{name}", spec)
        fields[name] = None if isinstance(text, RecordError) else text
    device = DeviceInfo(**fields) if any(fields.values()) else None
    source_id = row.get("source_id", mapping["source_id"]) if "source_id" in mapping else None
    if isinstance(source_id, RecordError):
        return source_id
    return make_sample(
        row.where,
        kind,
        start,
        end,
        value,
        unit,
        components=components or None,
        device=device,
        source_id=source_id,
    )


def read_csv(lines: str | Iterable[str], mapping: Any) -> Conversion:
    """Convert CSV text (or an iterable of lines, e.g. an open text file) with ``mapping``."""
    delimiter, decimal, header, tz = check_mapping(mapping)
    reader = csv.reader(lines.splitlines() if isinstance(lines, str) else lines, delimiter=delimiter)
    columns: dict[str, int] = {}
    result = Conversion()
    index = 0
    for cells in reader:
        if not any(c.strip() for c in cells):
            continue
        if header and not columns:
            columns = {name.strip().lstrip("\ufeff"): i for i, name in enumerate(cells)}
            continue
        row = _Row(cells, columns, Where(index, f"line {reader.line_num}"))
        result.add(_convert(row, mapping, decimal, tz))
        index += 1
    return result
