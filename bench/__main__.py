"""Command line of the benchmark harness: ``python -m bench {crud,import,search,ceiling,all,report}``.

Each benchmark starts a fresh ``hygie serve`` on a fresh database (pinned to core 0), drives it from
this process pinned to core 1, writes ``bench/results/<name>-<db>-<timestamp>.json`` and regenerates
the results section of docs/benchmarks.md. Scenarios follow the Health Samurai FHIR server
benchmark (https://www.health-samurai.io/fhir-server-performance-benchmark).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from pathlib import Path
from typing import Any

from bench import alerts, crud, importer, ingest, report, search, series, server, transfer
from bench.loadgen import RunResult, new_event_loop, pin_to_core, run, run_sync


def _dbs(choice: str) -> list[str]:
    return ["sqlite", "postgresql"] if choice == "both" else [choice]


WAIT_QUIET = [0.0]  # --wait-quiet seconds


def bench_crud(db: str, duration: float, connections: int, warmup: float, seed: int, keep: bool) -> Any:
    """Run the CRUD chain on a fresh server and database; return the saved result path."""
    background = server.background_load(wait_quiet=WAIT_QUIET[0])
    database = server.fresh_database(db, "crud")
    try:
        with server.running_server(database, "crud") as srv:
            sampler = server.CpuSampler(srv)
            result = run_sync(
                run(
                    srv.host,
                    srv.port,
                    crud.scenario(seed),
                    connections=connections,
                    duration=duration,
                    warmup=warmup,
                    on_window=sampler.start,
                )
            )
            server_block = sampler.stop()
    finally:
        if not keep:
            _discard(database)
    summary = result.summary()
    per_op = summary["per_op"]
    summary["per_op"] = {op: per_op[op] for op in [*crud.OPS, *per_op] if op in per_op}
    print(
        f"crud/{db}: {summary['ops_per_s']:,.0f} ops/s, p50 {summary['p50_ms']} ms, "
        f"p99 {summary['p99_ms']} ms, errors {summary['errors']} {summary['statuses']}, "
        f"{_cpu_text(server_block, summary)}"
    )
    for op, s in summary["per_op"].items():
        print(
            f"  {op:<20} {s['ops_per_s']:>8,.0f}/s  p50 {s['p50_ms']:>7} p95 {s['p95_ms']:>7} "
            f"p99 {s['p99_ms']:>7} ms  errors {s['errors']}"
        )
    params = {"duration_s": duration, "warmup_s": warmup, "connections": connections, "seed": seed}
    return report.save(
        "crud", db, {"params": params, "summary": summary, "server": server_block, "background": background}
    )


def bench_ingest(db: str, duration: float, connections: int, seed: int, keep: bool, fmt: str) -> Any:
    """Device-data ingestion ($ingest, Open mHealth batches) on a fresh server and database."""
    background = server.background_load(wait_quiet=WAIT_QUIET[0])
    database = server.fresh_database(db, "ingest")
    try:
        with server.running_server(database, "ingest") as srv:
            sampler = server.CpuSampler(srv)
            result = run_sync(
                run(
                    srv.host,
                    srv.port,
                    ingest.scenario(seed, fmt),
                    connections=connections,
                    duration=duration,
                    warmup=3.0,
                    on_window=sampler.start,
                )
            )
            server_block = sampler.stop()
    finally:
        if not keep:
            _discard(database)
    summary = result.summary()
    batches = summary["per_op"].get("ingest", {})
    summary["samples_per_s"] = round(batches.get("ops_per_s", 0) * ingest.size(fmt), 1)
    rate = batches.get("ops_per_s", 0)
    # per core: samples per CPU-second of the server process (robust to other load on the machine)
    fraction = server_block.get("cpu_fraction") or 0.0
    summary["samples_per_server_cpu_s"] = round(summary["samples_per_s"] / fraction, 1) if fraction else None
    print(
        f"ingest/{db} ({fmt}): {summary['samples_per_s']:,.0f} samples/s, "
        f"{summary['samples_per_server_cpu_s'] or 0:,.0f} per server CPU-second ({rate:,.1f} batches of "
        f"{ingest.size(fmt)}/s), p50 {batches.get('p50_ms')} ms, p99 {batches.get('p99_ms')} ms, "
        f"errors {summary['errors']} {summary['statuses']}, {_cpu_text(server_block, summary)}"
    )
    params = {
        "duration_s": duration,
        "connections": connections,
        "seed": seed,
        "batch": ingest.size(fmt),
        "format": fmt,
    }
    return report.save(
        "ingest", db, {"params": params, "summary": summary, "server": server_block, "background": background}
    )


def bench_alerts(db: str, duration: float, connections: int, seed: int, keep: bool) -> Any:
    """Alert latency from ``$ingest`` to the rest-hook notification under ingestion load."""
    import httpx

    background = server.background_load(wait_quiet=WAIT_QUIET[0])
    database = server.fresh_database(db, "alerts")
    probe = alerts.Probe()
    receiver = alerts.Receiver()
    srv = server.start_server(database, "alerts", alerts.SERVER_ENV)
    try:
        base = f"http://{srv.host}:{srv.port}/fhir"
        headers = {
            "authorization": f"Bearer {server._operator_token()}",
            "content-type": "application/fhir+json",
        }

        async def go() -> tuple[RunResult, dict[str, float]]:
            await receiver.start()
            try:
                async with httpx.AsyncClient(headers=headers, timeout=30) as http:
                    endpoint = f"http://127.0.0.1:{receiver.port}/hook"
                    created = await http.post(f"{base}/Subscription", content=alerts.subscription(endpoint))
                    created.raise_for_status()
                    sub = created.json()["id"]
                    for _ in range(200):
                        if (await http.get(f"{base}/Subscription/{sub}")).json().get("status") == "active":
                            break
                        await asyncio.sleep(0.05)
                    else:
                        raise RuntimeError("the Subscription did not become active")
                sampler = server.CpuSampler(srv)
                result = await run(
                    srv.host,
                    srv.port,
                    alerts.scenario(seed, probe),
                    connections=connections,
                    duration=duration,
                    warmup=2.0,
                    on_window=sampler.start,
                )
                block = sampler.stop()
                deadline = time.perf_counter() + 10
                while time.perf_counter() < deadline and any(p not in receiver.arrived for p in probe.sent):
                    await asyncio.sleep(0.05)
                async with httpx.AsyncClient(headers=headers, timeout=30) as http:
                    found = await http.get(f"{base}/Task", params={"_count": "1000"})
                    probe.raised_wall = alerts.raised_at(found.json())
                return result, block
            finally:
                await receiver.stop()

        loop = new_event_loop()
        try:
            result, server_block = loop.run_until_complete(go())
        finally:
            loop.close()
    finally:
        srv.stop()
        if not keep:
            _discard(database)
    latencies, missed = probe.latencies_ms(receiver)
    latency = alerts.summary(latencies, missed)
    check, deliver = probe.split_ms(receiver)
    latency["upload_to_alert"] = alerts.percentiles(check)
    latency["alert_to_notification"] = alerts.percentiles(deliver)
    load = result.summary()
    batches = load["per_op"].get("ingest", {})
    samples_per_s = round(batches.get("ops_per_s", 0) * ingest.size("series"), 1)
    print(
        f"alerts/{db}: {latency.get('notified', 0)} of {latency['probes']} probes notified, latency p50 "
        f"{latency.get('p50_ms')} ms, p99 {latency.get('p99_ms')} ms, max {latency.get('max_ms')} ms "
        f"(upload → alert {latency['upload_to_alert']}, "
        f"alert → notification {latency['alert_to_notification']}), under "
        f"{samples_per_s:,.0f} samples/s of load; {_cpu_text(server_block, load)}"
    )
    params = {"duration_s": duration, "connections": connections, "seed": seed,
              "probe_every_s": alerts.PROBE_EVERY_S}  # fmt: skip
    return report.save(
        "alerts", db,
        {"params": params, "latency": latency, "load_samples_per_s": samples_per_s, "summary": load,
         "server": server_block, "background": background},
    )  # fmt: skip


def bench_import(db: str, bundles: int | None, clients: int, keep: bool) -> Any:
    """Import the Synthea bundles on a fresh server and database; return the saved result path."""
    files = importer.load_bundles(limit=bundles)
    background = server.background_load(wait_quiet=WAIT_QUIET[0])
    database = server.fresh_database(db, "import")
    try:
        with server.running_server(database, "import") as srv:
            database.baseline_bytes = database.size_bytes()
            sampler = server.CpuSampler(srv)

            async def go() -> tuple[RunResult, importer.ImportOutcome]:
                sampler.start()
                return await importer.import_bundles(srv.host, srv.port, files, clients)

            loop = new_event_loop()
            try:
                result, outcome = loop.run_until_complete(go())
            finally:
                loop.close()
            server_block = sampler.stop()
        size = database.size_bytes()  # server stopped: SQLite checkpointed, PostgreSQL settled
    finally:
        if not keep:
            _discard(database)
    summary = result.summary()
    net = size - database.baseline_bytes
    disk = {
        "bytes_total": size,
        "bytes_empty_schema": database.baseline_bytes,
        "bytes_per_resource": round(net / outcome.resources_ok) if outcome.resources_ok else None,
        "method": "sqlite: db+wal+shm after PRAGMA wal_checkpoint(TRUNCATE) with the server stopped"
        if db == "sqlite"
        else "postgresql: pg_database_size after CHECKPOINT",
    }
    imp = {
        "bundles": len(files),
        "bundles_failed": len(outcome.failures),
        "resources": outcome.resources_ok,
        "resources_per_s": round(outcome.resources_ok / result.wall_s, 1) if result.wall_s else 0,
        "clients": clients,
        "disk": disk,
        "failures": outcome.failures,
    }
    print(
        f"import/{db}: {imp['bundles']} bundles, {imp['bundles_failed']} failed, "
        f"{imp['resources']:,} resources in {result.wall_s:.1f} s = "
        f"{imp['resources_per_s']:,.0f} resources/s, "
        f"{disk['bytes_per_resource']} bytes/resource (net of {database.baseline_bytes:,} empty), "
        f"{_cpu_text(server_block, summary)}"
    )
    for failure in outcome.failures:
        print(
            f"  FAILED {failure['bundle']} ({failure['entries']} entries) → {failure['status']}:\n"
            f"    {failure['outcome'][:2000]}",
            file=sys.stderr,
        )
    params = {"bundles": len(files), "clients": clients}
    return report.save(
        "import",
        db,
        {
            "params": params,
            "summary": summary,
            "server": server_block,
            "import": imp,
            "background": background,
        },
    )


def bench_search(db: str, scale: int, repeat: int, clients: int, keep: bool) -> Any:
    """Load ``scale`` copies of the Synthea corpus, then time the 30 search shapes; return the path."""
    originals = importer.load_bundles()
    sample = search.sample_corpus(originals)
    files = search.scaled_bundles(originals, scale)
    background = server.background_load(wait_quiet=WAIT_QUIET[0])
    database = server.fresh_database(db, f"search{scale}x")
    try:
        with server.running_server(database, f"search{scale}x") as srv:
            loop = new_event_loop()
            try:
                loaded, outcome = loop.run_until_complete(
                    importer.import_bundles(srv.host, srv.port, files, clients)
                )
                if outcome.failures:
                    raise RuntimeError(
                        f"{len(outcome.failures)} bundles failed to import: "
                        f"{outcome.failures[0]['outcome'][:500]}"
                    )
                sampler = server.CpuSampler(srv)
                sampler.start()
                cpu_from = _own_cpu()
                measured = loop.run_until_complete(search.run_shapes(srv.host, srv.port, sample, repeat))
                cpu_used = _own_cpu() - cpu_from
                server_block = sampler.stop()
            finally:
                loop.close()
    finally:
        if not keep:
            _discard(database)
    summary = search.summary(measured, cpu_used)
    print(
        f"search/{db}/{scale}x: {outcome.resources_ok:,} resources loaded in {loaded.wall_s:.0f} s; "
        f"{summary['requests']} queries, median {summary['p50_ms']} ms, p95 {summary['p95_ms']} ms, "
        f"p99 {summary['p99_ms']} ms, errors {summary['errors']} {summary['statuses']}"
    )
    for name, s in summary["per_op"].items():
        print(
            f"  {name:<34} p50 {s['p50_ms']:>8} p99 {s['p99_ms']:>8} ms  matches {s['matches']}"
            f"  errors {s['errors']}"
        )
    for name, error in measured.first_errors.items():
        print(f"  ERROR {name}: {error}", file=sys.stderr)
    params = {
        "scale": scale,
        "repeat": repeat,
        "clients": clients,
        "sample": {
            k: getattr(sample, k)
            for k in ("family", "city", "birthdate", "obs_day", "enc_day", "loinc", "condition")
        },
    }
    load = {"bundles": len(files), "resources": outcome.resources_ok, "wall_s": round(loaded.wall_s, 1)}
    return report.save(
        f"search-{scale}x",
        db,
        {
            "params": params,
            "summary": summary,
            "server": server_block,
            "load": load,
            "first_errors": measured.first_errors,
            "background": background,
        },
    )


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bench_ceiling(duration: float, connections: int) -> Any:
    """Load generator ceiling: a trivial asyncio server, then Hygie's /healthz (SQLite)."""
    targets: dict[str, Any] = {}
    background = server.background_load(wait_quiet=WAIT_QUIET[0])
    trivial = server.start_trivial()
    try:
        targets["trivial asyncio server"] = _ceiling_one(trivial, duration, connections)
    finally:
        trivial.stop()
    database = server.fresh_database("sqlite", "ceiling")
    try:
        with server.running_server(database, "ceiling") as srv:
            targets["hygie GET /healthz"] = _ceiling_one(srv, duration, connections)
    finally:
        _discard(database)
    for name, block in targets.items():
        s = block["summary"]
        print(
            f"ceiling/{name}: {s['ops_per_s']:,.0f} req/s, p99 {s['p99_ms']} ms, "
            f"{_cpu_text(block['server'], s)}"
        )
    params = {"duration_s": duration, "connections": connections}
    return report.save("ceiling", "none", {"params": params, "targets": targets, "background": background})


def _ceiling_one(srv: server.Server, duration: float, connections: int) -> dict[str, Any]:
    sampler = server.CpuSampler(srv)
    result = run_sync(
        run(
            srv.host,
            srv.port,
            crud.healthz,
            connections=connections,
            duration=duration,
            warmup=1.0,
            on_window=sampler.start,
        )
    )
    return {"summary": result.summary(), "server": sampler.stop()}


def _cpu_text(block: dict[str, float], summary: dict[str, Any]) -> str:
    core0, core1 = block.get("core0_busy", 0.0), block.get("core1_busy", 0.0)
    iowait = block.get("core0_iowait", 0.0)
    return (
        f"server process CPU {block['cpu_fraction']:.0%}, core 0 busy {core0:.0%} "
        f"(iowait {iowait:.0%}), "
        f"loadgen CPU {summary['loadgen_cpu_fraction']:.0%}, core 1 busy {core1:.0%}"
    )


def _discard(database: server.Database) -> None:
    if database.kind == "sqlite" and database.path is not None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database.path}{suffix}").unlink(missing_ok=True)
    else:
        try:
            database.drop()
        except Exception as exc:  # the cluster may have been restarted meanwhile: not our result
            print(f"warning: could not drop {database.name}: {exc}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the chosen benchmark(s)."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    db_help = "database backend(s) (default sqlite)"

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite", help=db_help)
        p.add_argument("--keep", action="store_true", help="keep the benchmark database afterwards")
        p.add_argument("--no-report", action="store_true", help="do not regenerate docs/benchmarks.md")
        p.add_argument(
            "--wait-quiet",
            type=float,
            default=0.0,
            metavar="S",
            help="wait up to S seconds for other processes to leave both cores idle",
        )

    p_crud = sub.add_parser("crud", help="CRUD chain throughput and latency")
    common(p_crud)
    p_crud.add_argument("--duration", type=float, default=30.0, help="measured seconds (default 30)")
    p_crud.add_argument("--warmup", type=float, default=3.0, help="unrecorded warm-up seconds (default 3)")
    p_crud.add_argument("--connections", type=int, default=16, help="virtual users (default 16)")
    p_crud.add_argument("--seed", type=int, default=42)

    p_ing = sub.add_parser("ingest", help="device data ingestion ($ingest, Open mHealth batches)")
    common(p_ing)
    p_ing.add_argument("--duration", type=float, default=20.0, help="measured seconds (default 20)")
    p_ing.add_argument("--connections", type=int, default=8, help="virtual users (default 8)")
    p_ing.add_argument("--seed", type=int, default=42)
    p_ing.add_argument(
        "--format",
        choices=["openmhealth", "series"],
        default="series",
        help="Open mHealth batches of 60 points, or compact series of 600 values (default)",
    )

    p_al = sub.add_parser("alerts", help="alert latency, $ingest to Subscription notification, under load")
    common(p_al)
    p_al.add_argument("--duration", type=float, default=30.0, help="measured seconds (default 30)")
    p_al.add_argument("--connections", type=int, default=9, help="1 probe + load users (default 9)")
    p_al.add_argument("--seed", type=int, default=42)

    p_ser = sub.add_parser("series", help="a year of 1-minute heart rate: writes and chart queries")
    common(p_ser)

    p_tr = sub.add_parser("transfer", help="import/export commands, NDJSON, portability ZIP, demo load")
    common(p_tr)

    p_imp = sub.add_parser("import", help="Synthea transaction-bundle import")
    common(p_imp)
    p_imp.add_argument("--bundles", type=int, default=None, help="only the first N bundles (default all)")
    p_imp.add_argument("--clients", type=int, default=2, help="concurrent clients (default 2)")

    p_search = sub.add_parser("search", help="latency of the 30 search shapes at 1× and N× Synthea")
    common(p_search)
    p_search.add_argument("--scale", default="1,4", help="comma-separated corpus multiples (default 1,4)")
    p_search.add_argument("--repeat", type=int, default=20, help="measured rounds per shape (default 20)")
    p_search.add_argument("--clients", type=int, default=2, help="import clients (default 2)")

    p_ceil = sub.add_parser("ceiling", help="load generator ceiling (trivial server, /healthz)")
    p_ceil.add_argument("--duration", type=float, default=5.0)
    p_ceil.add_argument("--connections", type=int, default=16)
    p_ceil.add_argument("--no-report", action="store_true")
    p_ceil.add_argument("--wait-quiet", type=float, default=0.0, metavar="S")

    p_all = sub.add_parser("all", help="ceiling, crud and import")
    common(p_all)
    p_all.add_argument("--duration", type=float, default=30.0)
    p_all.add_argument("--connections", type=int, default=16)

    sub.add_parser("report", help="regenerate docs/benchmarks.md from bench/results/")
    sub.add_parser("cds", help="medication-safety engine: check() on 10 drugs (bench/cds.py)")
    web_help = "workspace pages' server time on the demo data (bench/web.py: --db, --rounds, --patients)"
    sub.add_parser("web", prefix_chars="+", help=web_help).add_argument("rest", nargs="*")

    args = parser.parse_args(argv)
    if args.command == "cds":
        from bench import cds

        return cds.main()
    if args.command == "web":
        from bench import web

        return web.main(args.rest)
    if args.command == "report":
        print(f"updated {report.update_doc()}")
        return 0
    if not pin_to_core(server.LOADGEN_CORE):
        print("warning: fewer than 2 cores; load generator not pinned", file=sys.stderr)
    WAIT_QUIET[0] = args.wait_quiet
    started = time.monotonic()
    paths = []
    if args.command in ("ceiling", "all"):
        paths.append(bench_ceiling(5.0 if args.command == "all" else args.duration, args.connections))
    if args.command in ("crud", "all"):
        for db in _dbs(args.db):
            warmup = getattr(args, "warmup", 3.0)
            seed = getattr(args, "seed", 42)
            paths.append(bench_crud(db, args.duration, args.connections, warmup, seed, args.keep))
    if args.command == "ingest":
        for db in _dbs(args.db):
            paths.append(bench_ingest(db, args.duration, args.connections, args.seed, args.keep, args.format))
    if args.command == "alerts":
        for db in _dbs(args.db):
            paths.append(bench_alerts(db, args.duration, args.connections, args.seed, args.keep))
    if args.command == "series":
        for db in _dbs(args.db):
            figures = series.run(db)
            print(series.describe(db, figures))
            paths.append(report.save("series", db, figures))
    if args.command == "transfer":
        for db in _dbs(args.db):
            background = server.background_load(wait_quiet=WAIT_QUIET[0])
            figures = transfer.run(db)
            print(transfer.describe(db, figures))
            paths.append(report.save("transfer", db, {**figures, "background": background}))
    if args.command in ("import", "all"):
        for db in _dbs(args.db):
            bundles, clients = getattr(args, "bundles", None), getattr(args, "clients", 2)
            paths.append(bench_import(db, bundles, clients, args.keep))
    if args.command == "search":
        for db in _dbs(args.db):
            for scale in (int(x) for x in args.scale.split(",") if x.strip()):
                paths.append(bench_search(db, scale, args.repeat, args.clients, args.keep))
    for path in paths:
        print(f"wrote {path}")
    if not args.no_report:
        print(f"updated {report.update_doc()}")
    print(f"done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
