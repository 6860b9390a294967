"""Micro-benchmark of resource validation (:func:`hygie.fhir.validation.validate_resource`), in µs.

Spec of what is checked: https://hl7.org/fhir/R4/validation.html. Validation runs on every write,
so its cost bounds the FHIR import rate (corpora and method: ``bench/microbench.py``)::

    .venv/bin/python bench/validate_speed.py [--repeat 3] [--top 8]
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.microbench import main
from hygie.fhir.validation import validate_resource

if __name__ == "__main__":
    main(validate_resource, "resource validation, µs per resource")
