"""Server time of the clinician workspace's pages (issue 7 target: first render < 300 ms on the demo data).

``python -m bench web [--db sqlite|postgresql|both]``: a fresh database with the default demo
population (``hygie demo``: 300 patients, seed 1, its alerts raised), two professional accounts
with the demo's records — the GP of the first practice (100 patients, the alert of demo-p00007)
and the nurse of Médecine interne (the inpatients, the NEWS2 alerts of demo-p00003/-p00005) —
signed in with a web session, then every workspace page rendered in process (the app through
Starlette's TestClient, no network, monitoring rounds off): one cold request, 3 warm-up rounds,
then ``rounds`` timed rounds. Reported per page: the cold time, the median and p95 of the warm
ones, the page's size. Writes ``bench/results/web-<db>-*.json``.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from bench import report, server
from hygie.api.context import open_storage
from hygie.app import create_app
from hygie.auth import accounts
from hygie.auth.sessions import open_session
from hygie.demo.load import load_demo
from hygie.settings import Settings
from hygie.web.session import SESSION_COOKIE

PATIENTS = 300
TARGET_MS = 300.0
WHO = {
    "gp": ("Practitioner/demo-pr-mg-lices-1", "demo-org-mg-lices", "demo-p00007"),
    "nurse": ("Practitioner/demo-pr-medecine-interne-nurse", "demo-org-medecine-interne", "demo-p00003"),
}
TABS = ("", "/vitals", "/glucose", "/results", "/timeline", "/prescription")


def _sessions(settings: Settings) -> dict[str, str]:
    """A professional account and a strong web session for each of :data:`WHO` (cookie values)."""
    db, _ = open_storage(settings)
    now = int(time.time() * 1000)

    def work(session: Any) -> dict[str, str]:
        cookies = {}
        for name, (fhir, org, _) in WHO.items():
            account = accounts.create_account(
                session,
                username=f"bench.{name}",
                kind="professional",
                display=f"Bench {name}",
                password="vivid harbour lantern 4821",
                now=now,
                fhir=fhir,
                organization=org,
            )
            cookies[name], _ = open_session(session, account.id, now_ms=now, hours=4)
        return cookies

    try:
        return db.run_sync(work)
    finally:
        db.close()


def _time(http: TestClient, method: str, path: str, data: dict[str, str] | None = None) -> tuple[float, int]:
    began = time.perf_counter()
    answer = http.request(method, path, data=data, follow_redirects=False)
    elapsed = (time.perf_counter() - began) * 1000
    if answer.status_code != 200:
        raise RuntimeError(f"{method} {path}: {answer.status_code}")
    return elapsed, len(answer.content)


def run(db: str, rounds: int = 30, patients: int = PATIENTS) -> dict[str, Any]:
    database = server.fresh_database(db, "web")
    with tempfile.TemporaryDirectory(prefix="hygie-bench-web-") as tmp:
        settings = Settings(
            database_url=database.url, keys_dir=Path(tmp) / "keys", monitoring_interval_seconds=0
        )
        try:
            began = time.perf_counter()
            load_demo(settings, patients, 1)
            load_s = time.perf_counter() - began
            cookies = _sessions(settings)
            pages: dict[str, Any] = {}
            with TestClient(create_app(settings, freeze_gc=True)) as http:
                for name, (_, _, patient) in WHO.items():
                    http.cookies.set(SESSION_COOKIE, cookies[name])
                    home = http.get("/workspace")
                    found = re.search(r'name="csrf" value="([^"]+)"', home.text)
                    csrf = found.group(1) if found else ""
                    shapes: list[tuple[str, str, str, dict[str, str] | None]] = [
                        ("worklist", "GET", "/workspace", None),
                        ("search", "POST", "/workspace/search", {"csrf": csrf, "name": "mar"}),
                        *(
                            (f"chart{tab or '/summary'}", "GET", f"/workspace/patient/{patient}{tab}", None)
                            for tab in TABS
                        ),
                        (
                            "prescription drug search",
                            "GET",
                            f"/workspace/patient/{patient}/prescription?q=metformine+850",
                            None,
                        ),
                    ]
                    for label, method, path, data in shapes:
                        cold, size = _time(http, method, path, data)
                        for _ in range(3):
                            _time(http, method, path, data)
                        warm = sorted(_time(http, method, path, data)[0] for _ in range(rounds))
                        pages[f"{name} {label}"] = {
                            "path": path,
                            "bytes": size,
                            "cold_ms": round(cold, 1),
                            "p50_ms": round(statistics.median(warm), 1),
                            "p95_ms": round(warm[max(0, int(0.95 * len(warm)) - 1)], 1),
                        }
            worst = max(p["p95_ms"] for p in pages.values())
            return {
                "params": {"patients": patients, "rounds": rounds, "seed": 1},
                "demo_load_s": round(load_s, 1),
                "pages": pages,
                "worst_p95_ms": worst,
                "target_ms": TARGET_MS,
            }
        finally:
            if database.kind == "postgresql":
                database.drop()
            elif database.path is not None:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{database.path}{suffix}").unlink(missing_ok=True)


def describe(db: str, figures: dict[str, Any]) -> str:
    lines = [
        f"web/{db}: {figures['params']['patients']} demo patients (loaded in {figures['demo_load_s']} s); "
        f"worst p95 {figures['worst_p95_ms']} ms (target < {figures['target_ms']:.0f} ms)"
    ]
    for name, p in figures["pages"].items():
        lines.append(
            f"  {name:<22} cold {p['cold_ms']:>7} ms  p50 {p['p50_ms']:>7} ms  p95 {p['p95_ms']:>7} ms"
            f"  {p['bytes'] / 1024:>6.1f} KB"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench web", description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--patients", type=int, default=PATIENTS)
    args = parser.parse_args(argv)
    for db in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        figures = run(db, args.rounds, args.patients)
        print(describe(db, figures))
        print(f"wrote {report.save('web', db, figures)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
