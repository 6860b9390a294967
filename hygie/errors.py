"""The one place where errors become HTTP responses (always an OperationOutcome)."""

from __future__ import annotations

import secrets
from typing import Any

import orjson
from starlette.responses import Response

from hygie.fhir.outcome import FhirError
from hygie.logging import get_logger

FHIR_JSON = "application/fhir+json; charset=utf-8"
log = get_logger("hygie.errors")


def error_response(err: FhirError, lang: str = "fr", *, pretty: bool = False) -> Response:
    return Response(
        _dumps(err.outcome(lang), pretty), status_code=err.status, media_type=FHIR_JSON, headers=err.headers
    )


def unexpected(exc: BaseException, lang: str = "fr") -> Response:
    """Last resort for a bug: logged with a reference, answered as a 500 OperationOutcome."""
    ref = secrets.token_hex(6)
    log.error("unexpected error", error=f"{type(exc).__name__} ref={ref}", exc_info=exc)
    return error_response(FhirError.of(500, "exception", "internal_error", ref=ref), lang)


def _dumps(data: Any, pretty: bool) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_INDENT_2 if pretty else 0)
