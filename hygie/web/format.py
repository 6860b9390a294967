"""Small formatters of FHIR values for pages (names, dates), shared by every page."""

from __future__ import annotations

from typing import Any


def human_name(resource: dict[str, Any]) -> str:
    """ "Given Family" of the first usable ``name`` of a Patient/Practitioner ('' when none):
    the ``official`` one first, then ``usual``, then any (https://hl7.org/fhir/R4/datatypes.html#HumanName)."""
    names = [n for n in resource.get("name", []) if isinstance(n, dict)]
    for use in ("official", "usual", None):
        for name in names:
            if use is None or name.get("use") == use:
                if name.get("text"):
                    return str(name["text"])
                parts = [*name.get("given", []), name.get("family", "")]
                text = " ".join(str(p) for p in parts if p)
                if text:
                    return text
    return ""
