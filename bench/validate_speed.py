"""Micro-benchmark of resource validation (:func:`hygie.fhir.validation.validate_resource`), in µs.

Spec of what is checked: https://hl7.org/fhir/R4/validation.html

Validation runs on every write, so its cost bounds the FHIR import rate. This script times
``validate_resource()`` on every entry's resource of every Synthea bundle in
``../shared/data/synthea-r4`` and on every example of ``../shared/data/fhir-r4-examples`` (after
one warm-up pass that builds the definition tables), and prints the mean and median µs per
resource and the slowest resource types::

    .venv/bin/python bench/validate_speed.py [--repeat 3] [--top 8]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.extract_speed import example_resources, synthea_resources
from hygie.fhir.validation import validate_resource


def time_each(resources: list[dict[str, Any]], repeat: int) -> list[float]:
    """The best of ``repeat`` timings of ``validate_resource()`` for each resource, in µs."""
    best = [float("inf")] * len(resources)
    clock = time.perf_counter_ns
    for _ in range(repeat):
        for i, resource in enumerate(resources):
            start = clock()
            validate_resource(resource)
            elapsed = (clock() - start) / 1000
            if elapsed < best[i]:
                best[i] = elapsed
    return best


def report(name: str, resources: list[dict[str, Any]], repeat: int, top: int) -> None:
    for resource in resources:  # warm-up: definition tables, regex caches
        validate_resource(resource)
    times = time_each(resources, repeat)
    total = sum(times)
    print(
        f"{name}: {len(resources)} resources, mean {total / len(times):.1f} µs, "
        f"median {statistics.median(times):.1f} µs, {len(times) / total * 1e6:,.0f} resources/s"
    )
    by_type: dict[str, list[float]] = defaultdict(list)
    for resource, elapsed in zip(resources, times, strict=True):
        by_type[str(resource.get("resourceType"))].append(elapsed)
    ranked = sorted(by_type.items(), key=lambda item: -sum(item[1]))[:top]
    for rtype, values in ranked:
        print(
            f"  {rtype:<28} n={len(values):>5}  mean {statistics.fmean(values):7.1f} µs  "
            f"share {sum(values) / total:5.1%}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=3, help="timings per resource (best kept)")
    parser.add_argument("--top", type=int, default=8, help="resource types listed per corpus")
    args = parser.parse_args(argv)
    report("synthea-r4", list(synthea_resources()), args.repeat, args.top)
    report("fhir-r4-examples", list(example_resources()), args.repeat, args.top)


if __name__ == "__main__":
    main()
