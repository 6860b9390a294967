"""Per-resource micro-benchmarks of hot-path functions over the shared corpora, in µs.

Shared by ``bench/extract_speed.py`` and ``bench/validate_speed.py``: every entry's resource of
every Synthea bundle in ``../shared/data/synthea-r4`` and every example of
``../shared/data/fhir-r4-examples`` are timed (best of ``--repeat``) after one warm-up pass; the
mean and median µs per resource and the most expensive resource types are printed.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hygie.fhir import jsonio

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
Timed = Callable[[dict[str, Any]], object]


def synthea_resources(folder: Path = DATA / "synthea-r4") -> Iterator[dict[str, Any]]:
    """Every entry's resource of every Synthea transaction bundle."""
    for path in sorted(folder.glob("*.json")):
        bundle = jsonio.loads(path.read_bytes())
        for entry in bundle.get("entry") or ():
            yield entry["resource"]


def example_resources(folder: Path = DATA / "fhir-r4-examples") -> Iterator[dict[str, Any]]:
    """Every R4 example (package.json aside)."""
    for path in sorted(folder.glob("*.json")):
        if path.name != "package.json":
            yield jsonio.loads(path.read_bytes())


def time_each(fn: Timed, resources: list[dict[str, Any]], repeat: int) -> list[float]:
    """The best of ``repeat`` timings of ``fn`` for each resource, in µs."""
    best = [float("inf")] * len(resources)
    clock = time.perf_counter_ns
    for _ in range(repeat):
        for i, resource in enumerate(resources):
            start = clock()
            fn(resource)
            elapsed = (clock() - start) / 1000
            if elapsed < best[i]:
                best[i] = elapsed
    return best


def report(fn: Timed, name: str, resources: list[dict[str, Any]], repeat: int, top: int) -> None:
    for resource in resources:  # warm-up: compiled plans, tables, caches
        fn(resource)
    times = time_each(fn, resources, repeat)
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


def main(
    fn: Timed,
    description: str,
    argv: list[str] | None = None,
    *,
    compare: Callable[[argparse.Namespace], None] | None = None,
) -> None:
    """Time ``fn`` on both corpora; with ``compare``, the script's ``--compare`` mode (its own
    options: ``--rounds``) runs it instead."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--repeat", type=int, default=3, help="timings per resource (best kept)")
    parser.add_argument("--top", type=int, default=None, help="resource types listed (default 8)")
    if compare is not None:
        parser.add_argument(
            "--compare", action="store_true", help="alternate the new path with the old one, CPU time"
        )
        parser.add_argument("--rounds", type=int, default=None, help="alternate passes (best kept)")
    args = parser.parse_args(argv)
    if compare is not None and args.compare:
        compare(args)
        return
    if compare is not None and args.rounds is not None:
        parser.error("--rounds goes with --compare")
    args.top = 8 if args.top is None else args.top
    report(fn, "synthea-r4", list(synthea_resources()), args.repeat, args.top)
    report(fn, "fhir-r4-examples", list(example_resources()), args.repeat, args.top)
