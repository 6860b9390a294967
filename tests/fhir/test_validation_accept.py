"""The compiled acceptor never accepts what the reporting validator rejects (hygie.fhir.validation_accept).

Spec: https://hl7.org/fhir/R4/validation.html. :func:`validate_resource` first asks the acceptor,
generated per type from the R4 definitions, and walks the resource with the reporting validator
only when the acceptor says no. Here the outcome of :func:`validate_resource` is compared, issue
for issue, with the reporting validator on its reference tables (general checks only) over
Synthea entries, R4 examples and deterministic mutations of them, with the functions compiled in
their default order and in random ones. The edge cases of each fast check are in
``test_validation_accept_edges.py``.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

from hygie.fhir import jsonio
from hygie.fhir.validation import MAX_DEPTH
from hygie.fhir.validation_accept import CACHES, LEARNING_OBJECTS, REFERENCES, Acceptor, accepts, source
from hygie.fhir.validation_plan import plans
from tests.fhir.test_validation_accept_edges import (
    EDGES,
    UUID,
    NotJsonStr,
    actual,
    deep_extension,
    patient,
    reference,
)
from tests.fhir.test_validation_golden import subtrees

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
OTHER_UUID = "urn:uuid:0b1d3a5e-2f4c-4e6a-8b9c-1d2e3f405162"

Json = dict[str, Any]


# -- corpora and mutations -----------------------------------------------------------------------


def _sibling_choice(key: str) -> str:
    for prefix in ("value", "effective", "onset", "serviced", "location", "deceased", "multipleBirth"):
        if key.startswith(prefix) and key != prefix:
            return prefix + ("Boolean" if not key.endswith("Boolean") else "String")
    return key + "X"


def mutate(resource: Json, rng: random.Random) -> Json:
    """One deterministic fault aimed at a fast check (or a valid variant) in a copy of ``resource``."""
    result = copy.deepcopy(resource)
    paths = list(subtrees(result))
    for _ in range(50):
        path, value = rng.choice(paths)
        parent: Any = result
        for step in path[:-1]:
            parent = parent[step]
        if _fault(result, parent, path[-1] if path else None, value, rng.randrange(14), rng):
            break
    return result


def _fault(
    result: Json, parent: Any, key: str | int | None, here: Any, fault: int, rng: random.Random
) -> bool:
    """Apply fault number ``fault`` at ``parent[key]`` (``here``) if it fits there."""
    if fault == 0 and key is not None:
        del parent[key]  # required elements included
    elif fault == 1 and key is not None and type(here) is str:
        parent[key] = rng.choice(
            ["", " ", "a  b", "#x", "#", "Foo/1", "Patient?x=1", "urn:uuid:X", "2023-02-29"]
        )
    elif fault == 2 and key is not None and here is not None and type(here) is not dict:
        parent[key] = rng.choice([None, True, 1, 1.5, float("inf"), -1, 2**31, "1", [here], (here,)])
    elif fault == 3 and type(here) is dict:
        here[rng.choice(["foo", "_foo", "id", "_id", "extension", "resourceType"])] = rng.choice(
            [{"id": "a"}, "x", [{"url": "http://e", "valueString": "v"}], None]
        )
    elif fault == 4 and type(here) is dict and here and type(first := next(iter(here))) is str:
        here[_sibling_choice(first)] = rng.choice([True, "x"])  # a second type of a choice
    elif fault == 5 and type(here) is dict and here and type(first := next(iter(here))) is str:
        here["_" + first] = rng.choice(
            [{"id": "a"}, {}, {"extension": [{"url": "http://e", "valueCode": "c"}]}]
        )
    elif fault == 6 and key is not None and type(here) is list and here:
        parent[key] = rng.choice([[], here[0], [*here, None], here + here])
    elif fault == 7 and type(here) is dict and key is not None:
        parent[key] = rng.choice([{}, {"id": "only"}])
    elif fault == 8 and type(here) is dict and "reference" in here:
        here["reference"] = rng.choice(
            ["#", "#c1", "Patient/1", "Foo/1", "Patient?x=1", UUID.upper(), OTHER_UUID]
        )
    elif fault == 9 and type(here) is dict:
        here["extension"] = [deep_extension(rng.choice([1, MAX_DEPTH - 8, MAX_DEPTH]))]
    elif fault == 10 and "resourceType" in result:
        result.setdefault("contained", []).append({"resourceType": "Patient", "id": "c1"})
    elif fault == 11 and type(here) is dict and "url" in here:
        here[rng.choice(["valueString", "valueCode"])] = "v"  # ext-1 when it has sub-extensions
    elif fault == 12 and key is not None and type(here) is str:
        parent[key] = NotJsonStr(here)  # the same text, not a JSON string
    elif fault == 13 and type(here) is dict and "div" in here:
        here["div"] = rng.choice(
            ["<p>x</p>", '<div onclick="x">a</div>', "<div><script/></div>", "<div>ok</div>"]
        )
    else:
        return False
    return True


def _synthea_bundles() -> list[Json]:
    paths = sorted((DATA / "synthea-r4").glob("*.json"))[::8]  # 7 patients, a thousand entries
    return [jsonio.loads(path.read_bytes()) for path in paths]


def _examples() -> list[Json]:
    paths = sorted(p for p in (DATA / "fhir-r4-examples").glob("*.json") if p.name != "package.json")
    return [jsonio.loads(path.read_bytes()) for path in paths[::3]]


def test_validate_resource_agrees_with_the_reference_on_real_resources_and_mutations() -> None:
    rng = random.Random(20_251_123)
    cases: list[tuple[object, str | None]] = []
    for bundle in _synthea_bundles():
        cases.append((bundle, "Bundle"))
        for index, entry in enumerate(bundle["entry"]):
            cases.append((entry["resource"], entry["resource"]["resourceType"]))
            if index % 2 == 0:
                cases.extend((mutate(entry["resource"], rng), None) for _ in range(2))
        faulty = copy.deepcopy(bundle)
        for entry in faulty["entry"][1:4]:
            entry["resource"] = mutate(entry["resource"], rng)
        cases.append((faulty, "Bundle"))
    for example in _examples():
        cases.append((example, None))
        cases.extend((mutate(example, rng), None) for _ in range(5))
    differences = []
    valid = accepted = 0
    for resource, expected_type in cases:
        expected = reference(resource, expected_type)
        if not expected:
            valid += 1
            accepted += accepts(resource, expected_type)
        elif accepts(resource, expected_type):
            differences.append(("accepted", resource, expected))
        if actual(resource, expected_type) != expected:
            differences.append(("outcome", resource, expected))
    assert len(cases) > 3_000
    assert len(cases) - valid > 1_000  # the mutations do reach the error paths
    assert accepted >= 0.97 * valid  # and the fast path takes the valid resources
    assert differences == []


def test_every_valid_synthea_entry_takes_the_fast_path() -> None:
    entries = [entry["resource"] for bundle in _synthea_bundles() for entry in bundle["entry"]]
    assert len(entries) > 500
    assert [r["id"] for r in entries if not accepts(r, r["resourceType"])] == []


# -- edge cases of each fast check ---------------------------------------------------------------


def test_verdicts_do_not_depend_on_what_the_caches_hold() -> None:
    resources = [entry["resource"] for entry in _synthea_bundles()[0]["entry"][:80]]
    warm = [accepts(r) for r in resources]
    for cache in CACHES.values():
        cache.values.clear()
    REFERENCES.values.clear()
    assert [accepts(r) for r in resources] == warm == [True] * len(resources)


def test_functions_are_compiled_on_first_use_then_in_the_order_of_what_they_saw() -> None:
    acceptor = Acceptor(plans())
    stub = acceptor.roots["Patient"]
    assert acceptor.resource(patient(name=[{"family": "x"}]), 0, None, None)
    learning = acceptor.roots["Patient"]
    assert learning is not stub
    assert acceptor.roots["Observation"].__name__ == stub.__name__  # not compiled: not used
    for _ in range(LEARNING_OBJECTS):
        assert acceptor.resource(patient(gender="other", name=[{"family": "x"}]), 0, None, None)
    final = acceptor.roots["Patient"]
    assert final not in (stub, learning)
    text = acceptor.writer.source(acceptor.writer.roots["Patient"], {"gender": 2, "name": 1})
    assert text.index("o.get('gender')") < text.index("o.get('name')") < text.index("o.get('birthDate')")
    assert not acceptor.resource(patient(gender="x"), 0, None, None)


def test_any_order_of_the_properties_gives_the_same_answers() -> None:
    rng = random.Random(7)
    acceptor = Acceptor(plans())
    for name, (plan, _) in acceptor.writer.functions.items():
        seen = {key: rng.randrange(4) for key in plan.table}  # many ties: default order kept there
        acceptor.install(name, acceptor.compile(name, seen))
    cases: list[object] = [r for _, r, _ in EDGES]
    for bundle in _synthea_bundles()[:2]:
        for entry in bundle["entry"][::3]:
            cases.append(entry["resource"])
            cases.extend(mutate(entry["resource"], rng) for _ in range(3))
    for example in _examples()[::4]:
        cases.append(example)
        cases.extend(mutate(example, rng) for _ in range(3))
    valid = [r for r in cases if not reference(r)]
    wrong = [r for r in cases if acceptor.resource(r, 0, None, None) and reference(r)]
    assert len(cases) > 500 and len(cases) - len(valid) > 200
    assert wrong == []
    assert sum(acceptor.resource(r, 0, None, None) for r in valid) >= 0.97 * len(valid)


def test_the_generated_source_is_plain_python() -> None:
    text = source()
    code = compile(text, "<acceptor>", "exec")
    assert code.co_filename == "<acceptor>"
    assert '"""Observation (resource)"""' in text and '"""Coding"""' in text
    assert text.count("\ndef ") + text.startswith("def ") == len(Acceptor(plans()).writer.functions)
