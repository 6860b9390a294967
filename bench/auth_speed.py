"""Micro-benchmarks of the security hot paths: token check, access-policy compilation, sign-in.

Targets (issue "Identity, access control and audit"): the token check adds < 1 ms per request;
sign-in p95 < 400 ms on the reference machine (Argon2id with the OWASP parameters of
docs/security-credentials.md, then TOTP). Run::

    .venv/bin/python bench/auth_speed.py [--logins 40] [--checks 5000]

and copy the printed lines into the "Security costs" section of docs/benchmarks.md (with the
machine and date it prints).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pyotp

from hygie.api.authorize import authenticate
from hygie.api.context import open_storage
from hygie.auth import accounts
from hygie.auth.keys import load_keys
from hygie.auth.policy import Policy
from hygie.auth.scopes import parse_scopes
from hygie.auth.throttle import Throttle
from hygie.auth.tokens import Principal, issue
from hygie.settings import Settings


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def token_check(directory: Path, checks: int) -> None:
    keys = load_keys(directory / "keys")
    principal = Principal(
        kind="professional",
        subject="acc1",
        scopes=parse_scopes("user/*.cruds openid fhirUser"),
        fhir_user="Practitioner/p1",
        organization="o1",
    )
    now = int(time.time())
    header = "Bearer " + issue(keys, principal, audience="https://h.example/fhir", now=now, ttl=3600)
    audiences = (keys.instance, "https://h.example/fhir")
    times = []
    for _ in range(checks):
        start = time.perf_counter_ns()
        authenticate(header, keys, audiences=audiences, now=now, revoked=())
        times.append((time.perf_counter_ns() - start) / 1000)
    print(
        f"token check (header → principal, ES256): median {statistics.median(times):.0f} µs, "
        f"p99 {_percentile(times, 0.99):.0f} µs over {checks}"
    )


def policy_compile(directory: Path, checks: int) -> None:
    settings = Settings(database_url=f"sqlite:///{directory / 'p.db'}", keys_dir=directory / "keys")
    db, catalog = open_storage(settings)
    db.close()
    principal = Principal(
        kind="professional",
        subject="acc1",
        scopes=parse_scopes("user/*.cruds"),
        fhir_user="Practitioner/p1",
        organization="o1",
    )
    times = []
    for _ in range(checks):
        start = time.perf_counter_ns()
        Policy(principal, catalog, "https://h.example/fhir", 0, "acc1").visible("r", "s")
        times.append((time.perf_counter_ns() - start) / 1000)
    print(f"policy SQL for a professional search: median {statistics.median(times):.0f} µs over {checks}")


def sign_in(directory: Path, logins: int) -> None:
    settings = Settings(database_url=f"sqlite:///{directory / 'l.db'}", keys_dir=directory / "keys")
    db, _ = open_storage(settings)
    password = "correct horse battery staple 42"
    secret = pyotp.random_base32()
    start_ms = int(time.time() * 1000)

    def setup(s: accounts.Session) -> None:
        account = accounts.create_account(
            s,
            username="dr.martin",
            kind="professional",
            display="Dr Martin",
            password=password,
            now=start_ms,
            fhir="Practitioner/p1",
            organization="o1",
        )
        accounts.confirm_totp(s, account, secret, pyotp.TOTP(secret).at(start_ms / 1000), start_ms)

    db.run_sync(setup)
    throttle = Throttle(1000.0, 1000, 1000)
    times = []
    for i in range(1, logins + 1):
        now = start_ms + i * 30_000  # a new TOTP step each time (replays are refused)
        code = pyotp.TOTP(secret).at(now / 1000)
        begin = time.perf_counter()
        result = db.run_sync(
            lambda s, now=now, code=code: accounts.login(
                s, throttle, username="dr.martin", password=password, code=code, client="127.0.0.1", now=now
            )
        )
        times.append((time.perf_counter() - begin) * 1000)
        assert result.ok, result.error
    db.close()
    print(
        f"sign-in (password Argon2id + TOTP, SQLite): median {statistics.median(times):.0f} ms, "
        f"p95 {_percentile(times, 0.95):.0f} ms over {logins}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=40)
    parser.add_argument("--checks", type=int, default=5000)
    args = parser.parse_args()
    print(
        f"{platform.node()} {platform.machine()} Python {platform.python_version()}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        token_check(directory, args.checks)
        policy_compile(directory, min(args.checks, 2000))
        sign_in(directory, args.logins)


if __name__ == "__main__":
    main()
