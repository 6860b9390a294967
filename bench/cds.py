"""Medication-safety engine speed (issue 8 target: ``check`` < 5 ms for 10 drugs).

``python -m bench cds`` loads the shipped knowledge base (timed, cold), then times
:func:`hygie.cds.engine.check` on a ten-drug polypharmacy of an 84-year-old with reduced renal
function and a penicillin allergy (CIS-coded, the way the CDS Hooks service passes them), each round
on fresh ``DrugItem`` objects so the resolution cache only helps as it does for a real server
(same products, new requests). In-process, one core; writes ``bench/results/cds-none-*.json``.
"""

from __future__ import annotations

import gc
import statistics
import time
from typing import Any

from bench import report
from hygie.cds.engine import check
from hygie.cds.knowledge import DATA, read_knowledge
from hygie.cds.model import CIS, AllergyFact, DrugCode, DrugItem, PatientFacts

# TAHOR 20, ZECLAR 500, ELIQUIS 5, KARDEGIC 75, TRIATEC 5, LASILIX 40, TERALITHE 250, ADVIL 400,
# DOLIPRANE 1000, LEVOTHYROX 100
PRODUCTS = [
    "69902323",
    "67997205",
    "61902218",
    "64755969",
    "62095667",
    "65606743",
    "62124478",
    "63646874",
    "60234100",
    "68416845",
]
PATIENT = PatientFacts(
    age_years=84,
    sex="female",
    weight_kg=58,
    creatinine_umol_l=120,
    allergies=(AllergyFact(codes=(), text="pénicilline", criticality="high"),),
)


def items(round_no: int) -> list[DrugItem]:
    return [
        DrugItem(
            ref=f"MedicationRequest/{round_no}-{n}",
            codes=(DrugCode(CIS, cis),),
            draft=n == 1,
            daily_dose_mg=1000.0 if n == 8 else None,
        )
        for n, cis in enumerate(PRODUCTS)
    ]


def run(rounds: int = 2000) -> dict[str, Any]:
    began = time.perf_counter()
    kb = read_knowledge(DATA / "knowledge.json.gz")
    load_ms = (time.perf_counter() - began) * 1000
    gc.collect()
    gc.freeze()  # as `hygie serve` does after start-up (create_app(freeze_gc=True))
    first = check(kb, PATIENT, items(0))
    times = []
    for n in range(rounds):
        drugs = items(n)
        start = time.perf_counter()
        check(kb, PATIENT, drugs)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {
        "params": {"rounds": rounds, "drugs": len(PRODUCTS)},
        "load_ms": round(load_ms, 1),
        "findings": len(first),
        "p50_ms": round(statistics.median(times), 3),
        "p95_ms": round(times[int(0.95 * len(times)) - 1], 3),
        "p99_ms": round(times[int(0.99 * len(times)) - 1], 3),
        "max_ms": round(times[-1], 3),
        "target_ms": 5.0,
    }


def describe(figures: dict[str, Any]) -> str:
    return (
        f"cds: check() on {figures['params']['drugs']} drugs: p50 {figures['p50_ms']} ms, "
        f"p95 {figures['p95_ms']} ms, p99 {figures['p99_ms']} ms, max {figures['max_ms']} ms "
        f"(target < {figures['target_ms']} ms); {figures['findings']} findings; "
        f"knowledge loaded in {figures['load_ms']} ms"
    )


def main(rounds: int = 2000) -> int:
    figures = run(rounds)
    print(describe(figures))
    print(f"wrote {report.save('cds', 'none', figures)}")
    return 0
