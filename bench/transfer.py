"""Data in and out, timed through the operator commands (issue targets: NDJSON import ≥ 10,000
resources/s per core, ``$export`` ≥ 50,000 resources/s, one patient's portability ZIP < 1 s,
``hygie demo`` ready in < 60 s).

On a fresh database per step, each command pinned to one core (``taskset -c 0``):

1. ``hygie import`` of the 49 Synthea transaction Bundles (the HTTP import benchmark's corpus);
2. ``hygie export bulk`` of everything (the same export code as ``$export``);
3. ``hygie import`` of that NDJSON into a second fresh database (ids kept: ``Store.restore``);
4. ``hygie export record`` of five patients (median);
5. the demo population (300 patients) loaded by ``hygie.demo.load.load_demo`` in this process;
6. in this process, on a larger corpus: the exported NDJSON copied :data:`COPIES` times under
   distinct ids (``HYGIE_BENCH_TRANSFER_COPIES``, default 4: 69,476 resources), imported into a
   fresh database by :class:`hygie.transfer.importer.Importer` (what ``hygie import`` and
   ``$import`` run), then exported by the ``hygie export bulk`` command's function (the same
   export code as ``$export``) :data:`EXPORT_RUNS` times (``HYGIE_BENCH_TRANSFER_EXPORT_RUNS``,
   default 3; the median run by wall time is reported, every run in ``export_runs``), each
   timed in wall-clock seconds and in CPU seconds of this process (``time.process_time``: the
   per-core figure on a shared machine; it counts the export's writer thread, not
   PostgreSQL's own processes); on SQLite, the floor under that import (:func:`sqlite_floor`:
   SQLite's own work on the rows it wrote, and parsing the bodies with orjson).

Times of steps 1-4 are wall-clock seconds of the whole command; the command's start-up
(``hygie db upgrade``: interpreter, imports and schema check) is measured too and reported, so
per-resource rates are given both raw and without it.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import server
from bench.importer import SYNTHEA
from hygie.storage.migrations import INDEX_TABLES

COPIES = int(os.environ.get("HYGIE_BENCH_TRANSFER_COPIES", "4"))
EXPORT_RUNS = max(int(os.environ.get("HYGIE_BENCH_TRANSFER_EXPORT_RUNS", "3")), 1)
# Ids of the exported corpus (server ids: 16 base32 characters), alone or in a Type/id reference.
_ID = re.compile(rb'(?<=")((?:[A-Z][A-Za-z]+/)?[a-z2-7]{16})(?=")')


def _run(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [*server.taskset_prefix(0), *server.hygie_command(), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"hygie {' '.join(args)} failed ({done.returncode}): {done.stderr[-800:]}")
    return elapsed


def _env(database: server.Database, keys: Path) -> dict[str, str]:
    return {**os.environ, "HYGIE_DATABASE_URL": database.url, "HYGIE_KEYS_DIR": str(keys)}


def _count_lines(folder: Path) -> dict[str, int]:
    counts = {}
    for path in sorted(folder.glob("*.ndjson")):
        with path.open("rb") as fh:
            counts[path.stem] = sum(1 for _ in fh)
    return counts


def run(db: str) -> dict[str, Any]:
    """All steps on ``db``; the figures for bench/results."""
    work = Path(tempfile.mkdtemp(prefix="hygie-bench-transfer-"))
    keys = work / "keys"
    first = server.fresh_database(db, "transfer")
    second = server.fresh_database(db, "transfer2")
    out: dict[str, Any] = {}
    try:
        env = _env(first, keys)
        startup = statistics.median(_run(["db", "upgrade"], env) for _ in range(3))
        out["startup_s"] = round(startup, 3)
        t = _run(["import", str(SYNTHEA), "--state", str(work / "state1.json")], env)
        export_dir = work / "export"
        t_export = _run(["export", "bulk", str(export_dir)], env)
        counts = _count_lines(export_dir)
        total = sum(counts.values())
        out["resources"] = total
        out["bundle_import"] = _rates(total, t, startup)
        out["export"] = _rates(total, t_export, startup)
        env2 = _env(second, keys)
        t_ndjson = _run(["import", str(export_dir), "--state", str(work / "state2.json")], env2)
        out["ndjson_import"] = _rates(total, t_ndjson, startup)
        patients = [line.split(b'"id":"', 1)[1].split(b'"', 1)[0].decode()
                    for line in (export_dir / "Patient.ndjson").read_bytes().splitlines()[:5]]  # fmt: skip
        zips = [_run(["export", "record", pid, "--out", str(work / f"{pid}.zip")], env) for pid in patients]
        median = statistics.median(zips)
        out["record_zip_s"] = {"median": round(median, 3), "without_startup": round(median - startup, 3),
                               "patients": len(zips)}  # fmt: skip
        out["demo_300_s"] = round(_demo(db, work), 2)
        out["in_process"] = _in_process(db, export_dir, work, COPIES)
    finally:
        for database in (first, second):
            if database.kind == "postgresql":
                database.drop()
    return out


def _rates(count: int, seconds: float, startup: float) -> dict[str, float]:
    return {
        "seconds": round(seconds, 2),
        "per_s": round(count / seconds, 1),
        "per_s_without_startup": round(count / max(seconds - startup, 1e-9), 1),
    }


def _demo(db: str, work: Path) -> float:
    """Seconds to load the default demo population (300 patients) into a fresh database."""
    from hygie.demo.load import load_demo
    from hygie.settings import Settings

    database = server.fresh_database(db, "demo")
    try:
        settings = Settings(database_url=database.url, keys_dir=work / "demo-keys")
        started = time.perf_counter()
        load_demo(settings, 300, 1)
        return time.perf_counter() - started
    finally:
        if database.kind == "postgresql":
            database.drop()


def _copies(export_dir: Path, out_dir: Path, copies: int) -> int:
    """The export's NDJSON files ``copies`` times, copy k's ids (and references to them) suffixed
    with ``c<k>``: ``copies`` times the resources, none shared. Returns the resources written."""
    out_dir.mkdir(parents=True)
    total = 0
    for k in range(copies):
        template = b"\\g<1>c" + str(k).encode()
        for path in sorted(export_dir.glob("*.ndjson")):
            data = _ID.sub(template, path.read_bytes())
            (out_dir / f"{path.stem}-{k}.ndjson").write_bytes(data)
            total += data.count(b"\n")
    return total


def _timed(work: Any) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def _in_process(db: str, export_dir: Path, work: Path, copies: int) -> dict[str, Any]:
    """NDJSON import and bulk export of ``copies`` × the corpus, timed in this process."""
    from hygie.api.context import open_storage
    from hygie.auth.keys import load_keys
    from hygie.settings import Settings
    from hygie.transfer import commands_export
    from hygie.transfer.importer import Importer
    from hygie.transfer.readers import discover

    corpus = work / "copies"
    total = _copies(export_dir, corpus, copies)
    database = server.fresh_database(db, "transfer3")
    settings = Settings(database_url=database.url, keys_dir=work / "keys")
    try:
        storage, catalog = open_storage(settings)
        try:
            importer = Importer(storage, catalog, settings, audit_key=load_keys(settings.keys_dir).audit)
            reports, wall, cpu = _timed(lambda: importer.run(discover([corpus])))
        finally:
            storage.close()
        failed = [str(r.path) for r in reports if r.status != "imported"]
        if failed:
            raise RuntimeError(f"in-process import failed: {failed[:3]}")
        figures: dict[str, Any] = {"resources": total, "copies": copies}
        figures["ndjson_import"] = _cpu_rates(total, wall, cpu)
        if database.path is not None:  # SQLite: what its own work costs of that (the floor)
            figures["floor"] = sqlite_floor(database.path, total)
        env = {"HYGIE_DATABASE_URL": database.url, "HYGIE_KEYS_DIR": str(settings.keys_dir)}
        saved = {key: os.environ.get(key) for key in env}
        os.environ.update(env)
        runs: list[tuple[float, float]] = []
        try:
            for n in range(EXPORT_RUNS):
                out_dir = work / f"export-copies-{n}"
                with contextlib.redirect_stdout(io.StringIO()):
                    _, wall, cpu = _timed(
                        lambda d=out_dir: commands_export.bulk(
                            d, None, None, None, patient_level=False, group=None
                        )
                    )
                exported = sum(_count_lines(out_dir).values())
                if exported != total:
                    raise RuntimeError(f"in-process export wrote {exported} resources, expected {total}")
                runs.append((wall, cpu))
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        # the median run (by wall time): one run on a shared machine says little
        wall, cpu = sorted(runs)[len(runs) // 2]
        figures["export"] = _cpu_rates(total, wall, cpu)
        figures["export_runs"] = [_cpu_rates(total, w, c) for w, c in runs]
        return figures
    finally:
        if database.kind == "postgresql":
            database.drop()


# The tables an import writes, copied in key order by :func:`sqlite_floor`.
FLOOR_TABLES = ("resource", "resource_version", *(f"idx_{t}" for t in INDEX_TABLES))


def sqlite_floor(source: Path, resources: int) -> dict[str, Any]:
    """What SQLite alone spends on the rows an import wrote, in CPU microseconds a resource.

    Every row of the resource, version, index and full-text tables of the SQLite database at
    ``source`` is copied into a fresh database of the same schema and settings, by ``INSERT …
    SELECT`` in key order (index rows by ``rk``, as an import appends them) in one transaction:
    SQLite's own B-tree and full-text work, in C, with the rows already built — no Python, no
    parameter binding. The import's remaining time is Python's (parsing, validation, extraction,
    building and binding rows). Also times parsing every stored body's JSON back with orjson.
    """
    import sqlite3

    import orjson

    from hygie.storage.codec import unpack

    target = source.with_name(source.stem + "-floor.db")
    for path in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
        path.unlink(missing_ok=True)
    src = sqlite3.connect(source)
    schema = src.execute(
        "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL AND type IN ('table', 'index') "
        "AND (tbl_name IN (" + ",".join("?" * len(FLOOR_TABLES)) + ") OR name = 'fulltext')",
        FLOOR_TABLES,
    ).fetchall()
    bodies = [body for (body,) in src.execute("SELECT body FROM resource_version")]
    src.close()
    dst = sqlite3.connect(target, isolation_level=None)
    try:
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "cache_size=-65536", "temp_store=MEMORY"):
            dst.execute(f"PRAGMA {pragma}")
        for _, sql in schema:
            dst.execute(sql)
        dst.execute("ATTACH DATABASE ? AS src", (str(source),))
        per_table: dict[str, float] = {}
        rows = 0
        started = time.process_time()
        dst.execute("BEGIN")
        for table in FLOOR_TABLES:
            order = "rowid" if table in ("resource", "resource_version") else "rk"
            t = time.process_time()
            dst.execute(f"INSERT INTO main.{table} SELECT * FROM src.{table} ORDER BY {order}")
            per_table[table] = round((time.process_time() - t) / resources * 1e6, 1)
        t = time.process_time()
        dst.execute(
            "INSERT INTO main.fulltext (rowid, narrative, content) "
            "SELECT rowid, narrative, content FROM src.fulltext ORDER BY rowid"
        )
        per_table["fulltext"] = round((time.process_time() - t) / resources * 1e6, 1)
        dst.execute("COMMIT")
        cpu = time.process_time() - started
        for table in (*FLOOR_TABLES, "fulltext"):
            rows += dst.execute(f"SELECT count(*) FROM main.{table}").fetchone()[0]
        dst.execute("DETACH DATABASE src")
    finally:
        dst.close()
        for path in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
            path.unlink(missing_ok=True)
    texts = [unpack(body) for body in bodies]
    t = time.process_time()
    for text in texts:
        orjson.loads(text)
    parse = time.process_time() - t
    return {
        "rows": rows,
        "sqlite_us": round(cpu / resources * 1e6, 1),
        "sqlite_us_by_table": per_table,
        "orjson_parse_us": round(parse / resources * 1e6, 1),
    }


def _cpu_rates(count: int, wall: float, cpu: float) -> dict[str, float]:
    return {
        "seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "per_s": round(count / wall, 1),
        "per_cpu_s": round(count / max(cpu, 1e-9), 1),
    }


def describe(db: str, figures: dict[str, Any]) -> str:
    f = figures
    p = f.get("in_process")
    extra = (
        f"; in process, {p['resources']:,} resources: NDJSON import {p['ndjson_import']['per_s']:,.0f}/s "
        f"({p['ndjson_import']['per_cpu_s']:,.0f} per CPU-second), export {p['export']['per_s']:,.0f}/s "
        f"({p['export']['per_cpu_s']:,.0f} per CPU-second)"
        + (
            f"; of the import, SQLite's own work on its rows {p['floor']['sqlite_us']} µs a resource, "
            f"orjson parsing {p['floor']['orjson_parse_us']} µs"
            if p.get("floor")
            else ""
        )
        if p
        else ""
    )
    return (
        f"transfer/{db}: {f['resources']:,} resources; bundle import {f['bundle_import']['per_s']:,.0f}/s; "
        f"NDJSON import {f['ndjson_import']['per_s']:,.0f}/s "
        f"({f['ndjson_import']['per_s_without_startup']:,.0f}/s without start-up); "
        f"export {f['export']['per_s']:,.0f}/s ({f['export']['per_s_without_startup']:,.0f}/s); "
        f"record ZIP {f['record_zip_s']['median']} s ({f['record_zip_s']['without_startup']} s); "
        f"demo 300 patients {f['demo_300_s']} s; command start-up {f['startup_s']} s{extra}"
    )
