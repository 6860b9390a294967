"""Write benchmark results to JSON and regenerate the results section of docs/benchmarks.md.

The generated section sits between ``<!-- bench:results:start -->`` and
``<!-- bench:results:end -->``; everything outside the markers is hand-written and kept. Figures
are compared per core with the published peers of /work/shared/design/ANCHORS.md (Health Samurai
FHIR server benchmark, https://www.health-samurai.io/fhir-server-performance-benchmark).
"""

from __future__ import annotations

import math
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "benchmarks.md"
START = "<!-- bench:results:start -->"
END = "<!-- bench:results:end -->"

# Per-core (per-vCPU) figures of ANCHORS.md.
PEERS_CRUD = {"Aidbox": 651, "HAPI FHIR": 382, "Medplum": 178, "sekmet-fhir (1 core, SQLite)": 865}
PEERS_IMPORT = {"Aidbox": 335, "HAPI FHIR": 277, "Medplum": 96, "sekmet-fhir (1 client)": 705}
PEERS_DISK_KB = {"Aidbox": 3.4, "HAPI FHIR": 11.3, "Medplum": 5.9, "Microsoft FHIR": 2.1}
TARGETS = {"crud_ops_per_core": 1000, "crud_stretch": 2000, "crud_p99_ms": 50,
           "import_per_core": 3000, "disk_kb": 3.0}


# --------------------------------------------------------------------------- context


def commit() -> str:
    """The checked-out commit, read from .git without running git ("unknown" if not found)."""
    git = ROOT / ".git"
    try:
        if git.is_file():  # worktree: "gitdir: …"
            git = Path(git.read_text().split(":", 1)[1].strip())
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head[:12]
        ref = head.split(" ", 1)[1]
        ref_file = git / ref
        if ref_file.exists():
            return ref_file.read_text().strip()[:12]
        packed = git / "packed-refs"
        if packed.exists():
            for line in packed.read_text().splitlines():
                if line.endswith(" " + ref):
                    return line.split(" ", 1)[0][:12]
    except OSError:
        pass
    return "unknown"


def machine() -> dict[str, Any]:
    """CPU model, cores, RAM, kernel and Python of this machine."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_kib = int(line.split()[1])
    except OSError:
        pass
    return {
        "cpu_model": model,
        "cores": os.cpu_count() or 1,
        "ram_gib": round(ram_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def save(name: str, db: str, payload: dict[str, Any]) -> Path:
    """Write one result as bench/results/<name>-<db>-<timestamp>.json and return its path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    doc = {
        "name": name,
        "db": db,
        "timestamp": now.isoformat(timespec="seconds"),
        "commit": commit(),
        "machine": machine(),
        **payload,
    }
    path = RESULTS / f"{name}-{db}-{now.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    return path


def latest(results: Path = RESULTS) -> dict[tuple[str, str], dict[str, Any]]:
    """Newest result per (benchmark name, database)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(results.glob("*.json")):
        try:
            doc = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError:
            continue
        key = (str(doc.get("name")), str(doc.get("db")))
        if key not in found or doc.get("timestamp", "") >= found[key].get("timestamp", ""):
            found[key] = doc
    return found


# --------------------------------------------------------------------------- rendering


def _num(value: Any, digits: int = 0) -> str:
    if not isinstance(value, int | float) or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}"


def _pct(fraction: Any) -> str:
    return "–" if not isinstance(fraction, int | float) else f"{fraction * 100:.0f} %"


def _cpu(block: dict[str, Any]) -> str:
    return f"{_pct(block.get('cpu_fraction'))} ({_pct(block.get('core0_busy'))})"


def _crud_rows(runs: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| database | ops/s (= per core) | p50 ms | p95 ms | p99 ms | errors | server CPU (core 0 busy) | "
        "loadgen CPU | connections × s | date | commit |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for r in runs:
        s = r["summary"]
        lines.append(
            f"| {r['db']} | **{_num(s['ops_per_s'])}** | {_num(s['p50_ms'], 1)} | {_num(s['p95_ms'], 1)} | "
            f"**{_num(s['p99_ms'], 1)}** | {s['errors']} | {_cpu(r['server'])} | "
            f"{_num(s['loadgen_cpu_fraction'] * 100)} % | {s['connections']} × {_num(s['wall_s'])} | "
            f"{r['timestamp'][:10]} | `{r['commit']}` |"
        )
    return lines


def _per_op_rows(run: dict[str, Any]) -> list[str]:
    lines = [
        f"Per operation ({run['db']}):",
        "",
        "| operation | ops/s | p50 ms | p95 ms | p99 ms | errors (statuses) |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for op, s in run["summary"]["per_op"].items():
        statuses = ", ".join(f"{k}: {v}" for k, v in s["statuses"].items() if not k.startswith("2"))
        lines.append(
            f"| {op} | {_num(s['ops_per_s'])} | {_num(s['p50_ms'], 1)} | {_num(s['p95_ms'], 1)} | "
            f"{_num(s['p99_ms'], 1)} | {s['errors']}{f' ({statuses})' if statuses else ''} |"
        )
    return lines


def _import_rows(runs: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| database | bundles (failed) | resources | wall s | resources/s (= per core) | "
        "bytes/resource | bundle p50 / p99 ms | server CPU (core 0 busy) | date | commit |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in runs:
        imp, s = r["import"], r["summary"]
        lines.append(
            f"| {r['db']} | {imp['bundles']} ({imp['bundles_failed']}) | {_num(imp['resources'])} | "
            f"{_num(s['wall_s'], 1)} | **{_num(imp['resources_per_s'])}** | "
            f"**{_num(imp['disk'].get('bytes_per_resource'))}** | "
            f"{_num(s['p50_ms'])} / {_num(s['p99_ms'])} | "
            f"{_cpu(r['server'])} | {r['timestamp'][:10]} | `{r['commit']}` |"
        )
    return lines


def _ceiling_rows(runs: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| target (core 0) | req/s | p99 ms | loadgen CPU (core 1) | server CPU (core 0 busy) | date |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in runs:
        for target, block in r["targets"].items():
            s = block["summary"]
            lines.append(
                f"| {target} | {_num(s['ops_per_s'])} | {_num(s['p99_ms'], 2)} | "
                f"{_num(s['loadgen_cpu_fraction'] * 100)} % | {_cpu(block['server'])} | "
                f"{r['timestamp'][:10]} |"
            )
    return lines


def _comparison(found: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    dbs = sorted({db for (name, db) in found if name in ("crud", "import")})
    if not dbs:
        return []
    head = "| figure (per core) | " + " | ".join(f"Hygie {db}" for db in dbs) + " | target | peers |"
    lines = [head, "|---|" + "---:|" * len(dbs) + "---:|---|"]

    rows: list[tuple[str, str, Any, str, str]] = [
        ("CRUD ops/s", "crud", lambda r: _num(r["summary"]["ops_per_s"]),
         f"≥ {TARGETS['crud_ops_per_core']:,} (stretch {TARGETS['crud_stretch']:,})",
         ", ".join(f"{k} {v}" for k, v in PEERS_CRUD.items())),
        ("CRUD p99 ms", "crud", lambda r: _num(r["summary"]["p99_ms"], 1), f"< {TARGETS['crud_p99_ms']}",
         "Aidbox 34–58, HAPI 67–78, Medplum 110–394, sekmet-fhir 54"),
        ("import resources/s", "import", lambda r: _num(r["import"]["resources_per_s"]),
         f"≥ {TARGETS['import_per_core']:,}", ", ".join(f"{k} {v}" for k, v in PEERS_IMPORT.items())),
        ("disk KB/resource", "import",
         lambda r: _num((r["import"]["disk"].get("bytes_per_resource") or math.nan) / 1000, 2),
         f"≤ {TARGETS['disk_kb']}", ", ".join(f"{k} ~{v}" for k, v in PEERS_DISK_KB.items())),
    ]
    for label, name, getter, target, peers in rows:
        cells = ["–" if (name, db) not in found else getter(found[(name, db)]) for db in dbs]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {target} | {peers} |")
    return lines


SEARCH_TARGETS = {"median_ms": 10.0, "p99_ms": 100.0, "growth": 1.5}


def _scale_of(name: str) -> int:
    """4 for ``search-4x``."""
    return int(name.removeprefix("search-").removesuffix("x"))


def _search_rows(found: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    runs = sorted(((db, _scale_of(name), r) for (name, db), r in found.items() if name.startswith("search-")),
                  key=lambda t: (t[0], t[1]))
    if not runs:
        return []
    t = SEARCH_TARGETS
    lines = [
        f"Targets at the largest scale: median ≤ {t['median_ms']:.0f} ms, p99 ≤ {t['p99_ms']:.0f} ms, "
        f"median growth from 1× ≤ {t['growth']}× (HAPI: 26 → 35 ms from 1K to 64K patients).",
        "",
        "| database | scale | resources | queries | median ms | p95 ms | p99 ms | errors | "
        "median ÷ 1× median | date | commit |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    base = {db: r["summary"]["p50_ms"] for db, scale, r in runs if scale == 1}
    for db, scale, r in runs:
        s = r["summary"]
        ratio = s["p50_ms"] / base[db] if base.get(db) else math.nan
        lines.append(
            f"| {db} | {scale}× | {_num(r['load']['resources'])} | {s['requests']} | "
            f"**{_num(s['p50_ms'], 2)}** | {_num(s['p95_ms'], 2)} | **{_num(s['p99_ms'], 1)}** | "
            f"{s['errors']} | "
            f"{'–' if scale == 1 else _num(ratio, 2)} | {r['timestamp'][:10]} | `{r['commit']}` |"
        )
    columns = runs
    shapes: list[str] = []
    for _, _, r in columns:
        shapes += [name for name in r["summary"]["per_op"] if name not in shapes]
    lines += [
        "",
        "Median ms per query shape (matches found in brackets; the paging shape times each of its pages):",
        "",
        "| shape | " + " | ".join(f"{db} {scale}×" for db, scale, _ in columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for shape in shapes:
        cells = []
        for _, _, r in columns:
            op = r["summary"]["per_op"].get(shape)
            if op is None:
                cells.append("–")
                continue
            matches = "" if op.get("matches") is None else f" ({_num(op['matches'])})"
            errors = f" **{op['errors']} errors**" if op.get("errors") else ""
            cells.append(f"{_num(op['p50_ms'], 2)}{matches}{errors}")
        lines.append(f"| {shape} | " + " | ".join(cells) + " |")
    return lines


def _other_load(server_block: dict[str, Any], summary: dict[str, Any]) -> float:
    """CPU (in cores) used during the window by anything but the server and the load generator."""
    cores = sum(v for k, v in server_block.items() if k.startswith("core") and k.endswith("_busy"))
    return float(cores - server_block.get("cpu_fraction", 0.0) - summary.get("loadgen_cpu_fraction", 0.0))


def _disturbed(run: dict[str, Any]) -> bool:
    """Busy before the run, or (without PostgreSQL, whose own CPU is expected) during it."""
    if any(v > 0.1 for v in run.get("background", {}).values()):
        return True
    if run.get("db") == "postgresql":
        return False
    blocks = [(b["server"], b["summary"]) for b in run.get("targets", {}).values()]
    if "server" in run:
        blocks.append((run["server"], run["summary"]))
    return any(_other_load(block, summary) > 0.3 for block, summary in blocks)


def render(found: dict[tuple[str, str], dict[str, Any]]) -> str:
    """The generated markdown section (without the markers)."""
    if not found:
        return "_No results yet: run `.venv/bin/python -m bench all`._"
    newest = max(found.values(), key=lambda r: r.get("timestamp", ""))
    m = newest["machine"]
    out = [
        "_Generated by `python -m bench report` from the newest file per benchmark and database in "
        "`bench/results/`; do not edit by hand._",
        "",
        f"- Machine: {m['cpu_model']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, Linux {m['kernel']}, "
        f"Python {m['python']}",
        f"- Newest run: {newest['timestamp']} at commit `{newest['commit']}`",
        "- Server: one `hygie serve` process (one uvicorn worker) pinned to core 0; load generator "
        "pinned to core 1; loopback HTTP/1.1 keep-alive. Figures are therefore per core.",
        "",
    ]
    busy = [f"{name}/{db}" for (name, db), r in sorted(found.items()) if _disturbed(r)]
    if busy:
        out += [f"- **Warning**: other processes competed for the cores during {', '.join(busy)}: "
                "those figures are low. Re-run on a quiet machine (`--wait-quiet 120` helps).", ""]
    comparison = _comparison(found)
    if comparison:
        out += ["### Per-core comparison", "", *comparison, ""]
    crud = [found[k] for k in sorted(found) if k[0] == "crud"]
    if crud:
        out += ["### CRUD chain", "", *_crud_rows(crud), ""]
        for run in crud:
            out += [*_per_op_rows(run), ""]
    imports = [found[k] for k in sorted(found) if k[0] == "import"]
    if imports:
        out += ["### Import (Synthea transaction bundles)", "", *_import_rows(imports), ""]
        for run in imports:
            failures = run["import"].get("failures", [])
            for failure in failures[:3]:
                out.append(f"- {run['db']}: `{failure['bundle']}` → {failure['status']}")
            if len(failures) > 3:
                out.append(f"- {run['db']}: … and {len(failures) - 3} more failed bundles")
        out.append("")
    search = _search_rows(found)
    if search:
        out += ["### Search (Synthea at 1× and 4×)", "", *search, ""]
    ceilings = [found[k] for k in sorted(found) if k[0] == "ceiling"]
    if ceilings:
        out += ["### Load generator ceiling", "", *_ceiling_rows(ceilings), ""]
    return "\n".join(out).rstrip() + "\n"


def update_doc(doc: Path = DOC, results: Path = RESULTS) -> Path:
    """Replace the text between the markers of ``doc`` (appending the markers if missing)."""
    section = render(latest(results))
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    if START in text and END in text:
        before = text.split(START, 1)[0]
        after = text.split(END, 1)[1]
    else:
        before, after = text.rstrip() + "\n\n", "\n"
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(f"{before}{START}\n{section}{END}{after}")
    return doc
