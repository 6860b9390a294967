"""Micro-benchmark of search-index extraction (:func:`hygie.search.extract.extract`), in µs per resource.

Spec of what is extracted: https://hl7.org/fhir/R4/search.html. Extraction runs on every write, so
its cost bounds the FHIR import rate (corpora and method: ``bench/microbench.py``)::

    .venv/bin/python bench/extract_speed.py [--repeat 3] [--top 10]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.microbench import main
from hygie.search.extract import extract

TZ = ZoneInfo("Europe/Paris")


def run(resource: dict[str, Any]) -> object:
    return extract(resource, default_tz=TZ)


if __name__ == "__main__":
    main(run, "search-index extraction, µs per resource")
