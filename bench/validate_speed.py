"""Micro-benchmark of resource validation (:func:`hygie.fhir.validation.validate_resource`), in µs.

Spec of what is checked: https://hl7.org/fhir/R4/validation.html. Validation runs on every write,
so its cost bounds the FHIR import rate (corpora and method: ``bench/microbench.py``)::

    .venv/bin/python bench/validate_speed.py [--repeat 3] [--top 8]
    .venv/bin/python bench/validate_speed.py --compare [--rounds 5] [--top 12]

``--compare`` times, on the Synthea entries, ``validate_resource`` (the compiled acceptor of
``hygie.fhir.validation_accept`` first) against the reporting walker alone (what every resource
went through before the acceptor), alternately and in CPU time (``time.process_time``), so that
other work on the machine weighs on both alike; then the per-type means of each (best of
``--rounds`` per resource, wall clock as in ``microbench``).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.microbench import Timed, main, synthea_resources, time_each
from hygie.fhir.validation import _validate, validate_resource
from hygie.fhir.validation_plan import plans


def walker(resource: dict[str, Any]) -> object:
    """The reporting walker alone, on the fast dispatch tables (the path before the acceptor)."""
    return _validate(resource, None, plans())


def cpu_pass(fn: Timed, resources: list[dict[str, Any]]) -> float:
    """CPU µs per resource of one pass over ``resources``."""
    start = time.process_time()
    for resource in resources:
        fn(resource)
    return (time.process_time() - start) / len(resources) * 1e6


def compare(rounds: int, top: int) -> None:
    resources = list(synthea_resources())
    candidates: dict[str, Timed] = {"walker": walker, "validate_resource": validate_resource}
    for fn in candidates.values():  # warm-up: compiled checks, tables, caches
        cpu_pass(fn, resources)
    best = dict.fromkeys(candidates, float("inf"))
    for _ in range(rounds):
        for name, fn in candidates.items():
            best[name] = min(best[name], cpu_pass(fn, resources))
    print(f"synthea-r4: {len(resources)} resources, CPU µs per resource, best of {rounds} alternate passes")
    for name, value in best.items():
        print(f"  {name:<18} {value:6.1f} µs")
    print(f"  speed-up           {best['walker'] / best['validate_resource']:6.2f}x")
    times = {name: time_each(fn, resources, rounds) for name, fn in candidates.items()}
    by_type: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for index, resource in enumerate(resources):
        for name in candidates:
            by_type[str(resource.get("resourceType"))][name].append(times[name][index])
    ranked = sorted(by_type.items(), key=lambda item: -sum(item[1]["walker"]))[:top]
    print(f"  {'type':<28} {'n':>6} {'walker':>9} {'validate':>9}  (mean µs, best of {rounds})")
    for rtype, values in ranked:
        before, after = statistics.fmean(values["walker"]), statistics.fmean(values["validate_resource"])
        print(f"  {rtype:<28} {len(values['walker']):>6} {before:9.1f} {after:9.1f}")


if __name__ == "__main__":
    main(
        validate_resource,
        "resource validation, µs per resource (--compare: against the reporting walker alone)",
        compare=lambda args: compare(args.rounds or 5, args.top or 12),
    )
