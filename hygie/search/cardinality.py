"""Whether a search parameter yields at most one value per resource.

When it does, several criteria on it (``date=ge2024&date=lt2025``) are satisfied by the same
index row, so they can be tested together on one row — one bounded index range scan instead of
intersecting two half-tables. Only plain element paths (``Observation.effective``,
``Encounter.period``) whose every step has max cardinality 1 qualify
(https://hl7.org/fhir/R4/elementdefinition.html#cardinality); anything else is not claimed.
"""

from __future__ import annotations

import re
from functools import lru_cache

from hygie.fhir.definitions import resource_node

_PATH = re.compile(r"[A-Z][A-Za-z]+(?:\.[a-z][A-Za-z]*)+")


@lru_cache(maxsize=4096)
def single_valued(rtype: str, expression: str | None) -> bool:
    """True when ``expression`` (a parameter's expression for ``rtype``) has ≤ 1 value."""
    if expression is None or not _PATH.fullmatch(expression.strip()):
        return False
    first, *steps = expression.strip().split(".")
    node = resource_node(rtype) if first == rtype else None
    for index, step in enumerate(steps):
        if node is None:
            return False
        elements = [e for e in node.elements.values() if e.name in (step, f"{step}[x]")]
        if not elements or any(e.many for e in elements):
            return False
        last = index == len(steps) - 1
        if not last and (len(elements) > 1 or elements[0].node is None):
            return False
        node = elements[0].node
    return True
