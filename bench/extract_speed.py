"""Micro-benchmark of search-index extraction (:func:`hygie.search.extract.extract`), in µs per resource.

Spec of what is extracted: https://hl7.org/fhir/R4/search.html. Extraction runs on every write, so
its cost bounds the FHIR import rate (corpora and method: ``bench/microbench.py``)::

    .venv/bin/python bench/extract_speed.py [--repeat 3] [--top 10]
    .venv/bin/python bench/extract_speed.py --compare [--rounds 3]

``--compare`` times, in CPU time (``time.process_time``, so that other work on the machine counts
less), the generated extractors (what :func:`extract` runs) and the plans they are compiled from
(entry by entry, what it ran before: :mod:`hygie.search.extract_codegen`) alternately over the
Synthea corpus, in corpus order, and prints the best round of each: mean and per-type means.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.microbench import main, synthea_resources
from hygie.search.extract import _run, extract, plan_for

TZ = ZoneInfo("Europe/Paris")
TYPES = ("Observation", "Encounter", "ExplanationOfBenefit", "Claim", "Procedure", "DiagnosticReport")


def run(resource: dict[str, Any]) -> object:
    return extract(resource, default_tz=TZ)


def run_plan(resource: dict[str, Any]) -> object:
    return _run(plan_for(resource["resourceType"]), resource, TZ)


def cpu_times(fn: Callable[[dict[str, Any]], object], resources: list[dict[str, Any]]) -> dict[str, float]:
    """CPU µs per resource: ``all`` over the corpus in its order, then each of :data:`TYPES` alone."""
    clock = time.process_time_ns
    start = clock()
    for resource in resources:
        fn(resource)
    out = {"all": (clock() - start) / 1000 / len(resources)}
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for resource in resources:
        by_type[resource["resourceType"]].append(resource)
    for rtype in TYPES:
        start = clock()
        for resource in by_type[rtype]:
            fn(resource)
        out[rtype] = (clock() - start) / 1000 / max(len(by_type[rtype]), 1)
    return out


def compare(rounds: int) -> None:
    resources = list(synthea_resources())
    sides = {"generated": run, "plan": run_plan}
    best: dict[str, dict[str, float]] = {}
    for fn in sides.values():  # warm-up: plans, generated code, caches
        for resource in resources:
            fn(resource)
    for _ in range(rounds):
        for name, fn in sides.items():
            found = cpu_times(fn, resources)
            best[name] = {k: min(v, best.get(name, {}).get(k, v)) for k, v in found.items()}
    print(f"synthea-r4: {len(resources)} resources, CPU µs per resource (best of {rounds} rounds)")
    for name, found in best.items():
        per_type = "  ".join(f"{t[:12]} {found[t]:5.1f}" for t in TYPES)
        print(f"  {name:<9} mean {found['all']:5.1f}  {per_type}")


if __name__ == "__main__":
    main(
        run,
        "search-index extraction, µs per resource (--compare: generated extractors against their plans)",
        compare=lambda args: compare(args.rounds or 3),
    )
