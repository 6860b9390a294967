"""A small demo population shared by the generator tests (built once per process)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from hygie.demo.population import demo_bundles

NOW = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
SIZE = 26  # every role of hygie/demo/population.py appears below 26 patients


@cache
def population(size: int = SIZE, seed: int = 3) -> tuple[dict[str, Any], ...]:
    return tuple(demo_bundles(size, seed, NOW, per_bundle=10))


def resources(size: int = SIZE, seed: int = 3) -> list[dict[str, Any]]:
    return [e["resource"] for b in population(size, seed) for e in b["entry"]]


def of_type(rtype: str, size: int = SIZE) -> list[dict[str, Any]]:
    return [r for r in resources(size) if r["resourceType"] == rtype]


def subject(resource: dict[str, Any]) -> str | None:
    ref = resource.get("subject") or resource.get("patient")
    return ref.get("reference") if isinstance(ref, dict) else None


def codes(resource: dict[str, Any], element: str = "code") -> set[tuple[str, str]]:
    concept = resource.get(element) or {}
    return {(c["system"], c["code"]) for c in concept.get("coding", [])}


def by_patient(rtype: str, size: int = SIZE) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for r in of_type(rtype, size):
        who = subject(r)
        if who:
            found.setdefault(who, []).append(r)
    return found
