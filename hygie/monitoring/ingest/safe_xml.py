"""A hardened, streaming XML reader on expat (the standard library's parser) — no tree is ever
built: the caller's handlers see each element as it starts and ends, and the input is fed in
chunks, so memory does not grow with the file.

Defences (the threats of https://docs.python.org/3/library/xml.html#xml-vulnerabilities):
an entity declaration of any kind (billion laughs, quadratic blow-up, external entities) is
refused, as is a DOCTYPE pointing at an external DTD; external entity references are never
resolved; the document is bounded in bytes, in elements and in depth. An internal DTD subset
without entities (Apple Health's export starts with one) is accepted.
"""

from __future__ import annotations

import xml.parsers.expat
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO

from hygie.fhir.messages import register
from hygie.fhir.outcome import FhirError

register(
    {
        "ingest_xml_forbidden": {
            "fr": "XML refusé : {what} (déclarations d'entités et DTD externes interdites).",
            "en": "XML refused: {what} (entity declarations and external DTDs are forbidden).",
        },
        "ingest_xml_malformed": {
            "fr": "XML mal formé ligne {line} : {detail}.",
            "en": "Malformed XML at line {line}: {detail}.",
        },
        "ingest_xml_unreadable": {
            "fr": "XML illisible : {detail}.",
            "en": "Unreadable XML: {detail}.",
        },
        "ingest_too_large": {
            "fr": "Fichier trop volumineux : {what} dépasse la limite de {limit}.",
            "en": "File too large: {what} exceeds the limit of {limit}.",
        },
    }
)

CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds of one document (defaults sized for a decade of Apple Watch data)."""

    max_bytes: int = 8 << 30
    max_elements: int = 200_000_000
    max_depth: int = 32


StartHandler = Callable[[str, dict[str, str], int], None]
EndHandler = Callable[[str], None]


def _forbid(what: str) -> FhirError:
    return FhirError.of(400, "security", "ingest_xml_forbidden", what=what)


def parse(
    stream: IO[bytes],
    start: StartHandler,
    end: EndHandler,
    drain: Callable[[], Iterator[object]],
    limits: Limits | None = None,
) -> Iterator[object]:
    """Feed ``stream`` to expat chunk by chunk, calling ``start(name, attributes, line)`` and
    ``end(name)``; after each chunk, yield what ``drain()`` gives (the caller's buffered
    results). Raises :class:`FhirError` (400 / 413) when the document is unsafe, malformed or
    too large."""
    limits = limits or Limits()
    parser = xml.parsers.expat.ParserCreate()
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
    depth = 0
    elements = 0

    def on_doctype(name: str, system_id: str | None, public_id: str | None, _internal: int) -> None:
        if system_id or public_id:
            raise _forbid(f"external DTD for <{name}>")

    def on_entity(name: str, *_args: object) -> None:
        raise _forbid(f"entity declaration '{name}'")

    def on_unparsed(name: str, *_args: object) -> None:
        raise _forbid(f"unparsed entity '{name}'")

    def on_external(*_args: object) -> int:
        raise _forbid("external entity reference")

    def on_start(name: str, attributes: dict[str, str]) -> None:
        nonlocal depth, elements
        depth += 1
        elements += 1
        if depth > limits.max_depth:
            raise FhirError.of(
                413, "too-costly", "ingest_too_large", what="nesting depth", limit=limits.max_depth
            )
        if elements > limits.max_elements:
            raise FhirError.of(
                413, "too-costly", "ingest_too_large", what="element count", limit=limits.max_elements
            )
        start(name, attributes, parser.CurrentLineNumber)

    def on_end(name: str) -> None:
        nonlocal depth
        depth -= 1
        end(name)

    parser.StartDoctypeDeclHandler = on_doctype
    parser.EntityDeclHandler = on_entity
    parser.UnparsedEntityDeclHandler = on_unparsed
    parser.ExternalEntityRefHandler = on_external
    parser.StartElementHandler = on_start
    parser.EndElementHandler = on_end
    parser.buffer_text = False
    read = 0
    while True:
        try:
            chunk = stream.read(CHUNK)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError) as exc:
            # a ZIP member that does not inflate or fails its CRC, encrypted, of an unknown method
            raise FhirError.of(400, "invalid", "ingest_xml_unreadable", detail=str(exc)[:120]) from exc
        read += len(chunk)
        if read > limits.max_bytes:
            raise FhirError.of(
                413, "too-costly", "ingest_too_large", what="size", limit=f"{limits.max_bytes} bytes"
            )
        try:
            parser.Parse(chunk, not chunk)
        except xml.parsers.expat.ExpatError as exc:
            raise FhirError.of(
                400,
                "invalid",
                "ingest_xml_malformed",
                line=exc.lineno,
                detail=xml.parsers.expat.ErrorString(exc.code),
            ) from exc
        except (LookupError, ValueError) as exc:  # an encoding expat does not know, or multi-byte
            raise FhirError.of(400, "invalid", "ingest_xml_unreadable", detail=str(exc)[:120]) from exc
        yield from drain()
        if not chunk:
            return
