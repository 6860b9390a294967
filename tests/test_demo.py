"""``hygie demo`` data: deterministic, valid, loaded once."""

from __future__ import annotations

from hygie.app import load_demo
from hygie.demo.population import demo_bundle
from hygie.fhir.validation import validate_resource
from hygie.settings import Settings


def test_demo_bundle_is_deterministic_and_valid() -> None:
    a, b, c = demo_bundle(5, seed=7), demo_bundle(5, seed=7), demo_bundle(5, seed=8)
    assert a == b
    assert a != c
    assert validate_resource(a) == []
    patients = [e["resource"] for e in a["entry"] if e["resource"]["resourceType"] == "Patient"]
    assert len(patients) == 5


def test_demo_loads_once(database_url: str) -> None:
    settings = Settings(database_url=database_url)
    written = load_demo(settings, 3, 1)
    assert written == len(demo_bundle(3, 1)["entry"])
    assert load_demo(settings, 3, 1) == 0
