"""The benchmark report keeps hand-written text and regenerates the marked results section."""

from __future__ import annotations

from pathlib import Path

import orjson

from bench import report


def _result(name: str, db: str, ts: str, ops: float) -> dict[str, object]:
    summary = {"requests": 10, "ops_per_s": ops, "errors": 0, "statuses": {"201": 10}, "wall_s": 1.0,
               "connections": 2, "loadgen_cpu_fraction": 0.2, "p50_ms": 1.0, "p95_ms": 2.0,
               "p99_ms": 3.0, "max_ms": 4.0, "mean_ms": 1.1,
               "per_op": {"create Patient": {"requests": 10, "ops_per_s": ops, "errors": 0,
                                             "statuses": {"201": 10}, "p50_ms": 1.0, "p95_ms": 2.0,
                                             "p99_ms": 3.0, "max_ms": 4.0, "mean_ms": 1.1}}}
    return {"name": name, "db": db, "timestamp": ts, "commit": "abc123", "summary": summary,
            "server": {"cpu_fraction": 0.97},
            "machine": {"cpu_model": "Test CPU", "cores": 2, "ram_gib": 1.0, "kernel": "6.0",
                        "python": "3.11"}}


def test_update_doc_uses_newest_result_and_keeps_prose(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    older = _result("crud", "sqlite", "2026-01-01T00:00:00+00:00", 111.0)
    newer = _result("crud", "sqlite", "2026-01-02T00:00:00+00:00", 2222.0)
    (results / "b.json").write_bytes(orjson.dumps(older))  # file name order is not time order
    (results / "a.json").write_bytes(orjson.dumps(newer))
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"# Title\n\nprose before\n\n{report.START}\nold\n{report.END}\n\nprose after\n")

    report.update_doc(doc, results)
    text = doc.read_text()

    assert text.startswith("# Title\n\nprose before\n")
    assert text.endswith("\n\nprose after\n")
    assert "old" not in text
    assert "2,222" in text and "111" not in text
    assert "Test CPU, 2 cores" in text
    assert "Aidbox 651" in text  # per-core comparison with the published peers
    assert text.count(report.START) == 1 and text.count(report.END) == 1
