"""Hostile arguments and environments for the operator commands ``hygie export record``,
``hygie export practice``, ``hygie export bulk`` and ``hygie demo`` (docs/cli.md), on both databases.

The rule every probe checks: a bad argument or environment gets a clear one-line error and a
non-zero exit (2 for a usage error), never a Python traceback, never a partial output left behind
(no half-written ZIP or folder, nothing overwritten) and nothing written to the database (no
resource, no audit entry). The commands run in process through the real entry point
:func:`hygie.cli.main` (what the ``hygie`` script runs, with its handling of bad ``HYGIE_*``
settings), under the isolation of Typer's test runner (stdin, stdout, stderr, environment).

Each test runs several probes and reports every one that breaks the rule, not only the first.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hygie.cli import main
from hygie.settings import Settings
from hygie.storage.database import open_database
from tests.support import open_client

BOX = "│╭╮╰╯─ "
LONGEST_MESSAGE = 300  # characters of a "one-line" error: a 10 kB id must not be echoed whole


def _obs(oid: str, category: str) -> dict[str, Any]:
    coding = {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": category}
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "category": [{"coding": [coding]}],
        "code": {"text": oid},
        "subject": {"reference": "Patient/pat-1"},
    }


RESOURCES: list[dict[str, Any]] = [
    {"resourceType": "Organization", "id": "orgA", "name": "Cabinet A"},
    {
        "resourceType": "Patient",
        "id": "pat-1",
        "name": [{"family": "Martin"}],
        "managingOrganization": {"reference": "Organization/orgA"},
    },
    _obs("obs-1", "laboratory"),
    _obs("obs-2", "vital-signs"),
    {
        "resourceType": "Group",
        "id": "g1",
        "type": "person",
        "actual": True,
        "member": [{"entity": {"reference": "Patient/pat-1"}}],
    },
]


# --- running the command line -------------------------------------------------------------------


@dataclass
class Outcome:
    code: int
    stdout: bytes
    stderr: str
    crash: BaseException | None  # an exception that escaped hygie.cli.main: a traceback for the user


def hygie(*args: str, env: dict[str, str]) -> Outcome:
    """``hygie ARGS`` in process, through :func:`hygie.cli.main`, with ``env`` set."""
    saved_argv, saved_hook = sys.argv, sys.excepthook  # Typer installs its own exception hook
    crash: BaseException | None = None
    code = 0
    with CliRunner().isolation(env=env) as (out, err, _):
        sys.argv = ["hygie", *args]
        try:
            main()
        except SystemExit as end:
            code = end.code if isinstance(end.code, int) else (0 if end.code is None else 1)
        except Exception as error:  # what the user would see as a traceback
            crash, code = error, 1
        finally:
            sys.argv, sys.excepthook = saved_argv, saved_hook
            sys.stdout.flush()
            sys.stderr.flush()
        return Outcome(code, out.getvalue(), err.getvalue().decode("utf-8", "replace"), crash)


def messages(stderr: str) -> list[str]:
    """The messages on stderr: plain lines, and each Rich panel (``╭─ Error ─╮``) as one message;
    Click's ``Usage:`` and ``Try '… --help'`` lines are not messages."""
    found: list[str] = []
    panel: list[str] | None = None
    for raw in stderr.splitlines():
        line = raw.strip()
        if line.startswith("╭"):
            panel = []
        elif line.startswith("╰"):
            found.append(" ".join(panel or []))
            panel = None
        elif panel is not None:
            panel.append(line.strip(BOX))
        elif line and not line.startswith(("Usage:", "Try '")):
            found.append(line)
    return found


def judge(label: str, outcome: Outcome, *, code: int | None, mention: tuple[str, ...] = ()) -> list[str]:
    """What is wrong with a refusal: ``code`` the exit status expected (None: any but 0),
    ``mention`` the words one of which the error must name (case-insensitive)."""
    if outcome.crash is not None:
        text = str(outcome.crash).splitlines()[0][:120] if str(outcome.crash) else ""
        return [f"{label}: traceback {type(outcome.crash).__name__}: {text}"]
    found = []
    if "Traceback (most recent call last)" in outcome.stderr + outcome.stdout.decode(errors="replace"):
        found.append(f"{label}: a traceback is printed")
    if outcome.code == 0 or (code is not None and outcome.code != code):
        found.append(f"{label}: exit {outcome.code}, expected {code or 'non-zero'}")
    said = messages(outcome.stderr)
    if len(said) != 1:
        found.append(f"{label}: {len(said)} messages on stderr instead of one: {[m[:80] for m in said[:4]]}")
    elif len(said[0]) > LONGEST_MESSAGE:
        found.append(f"{label}: a {len(said[0])}-character error message")
    elif mention and not any(word.lower() in said[0].lower() for word in mention):
        found.append(f"{label}: error {said[0][:120]!r} names none of {mention}")
    return found


# --- what a refused command must leave as it was ------------------------------------------------


def listing(root: Path) -> dict[str, str]:
    """Every path under ``root`` with its kind and, for a file, the hash of its content."""
    if not root.exists():
        return {}
    if root.is_file():
        return {".": hashlib.sha256(root.read_bytes()).hexdigest()}
    found = {}
    for path in root.rglob("*"):
        name = path.relative_to(root).as_posix()
        if path.is_dir():
            found[name] = "dir"
        else:
            try:
                found[name] = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError as error:
                found[name] = f"unreadable: {error}"
    return found


def tables(database_url: str) -> dict[str, int]:
    """Rows per table of the database: what a refused command must not change."""
    db = open_database(database_url)
    try:

        def work(s: Any) -> dict[str, int]:
            if s.dialect == "sqlite":
                query = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            else:
                query = (
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
                )
            names = sorted(str(row[0]) for row in s.all(query))
            return {name: int(s.one(f'SELECT count(*) FROM "{name}"')[0]) for name in names}

        return db.run_sync(work, write=False)  # type: ignore[no-any-return]
    finally:
        db.close()


def differences(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What changed, the resources and the audit trail first."""
    keys = sorted(set(before) | set(after), key=lambda k: (k not in ("resource", "audit_log"), k))
    return [
        f"{k}: {before.get(k, '-')!s:.12} -> {after.get(k, '-')!s:.12}"
        for k in keys
        if before.get(k) != after.get(k)
    ]


@dataclass
class World:
    """A database with one patient of one organisation, its keys, and ``area``: the commands'
    working directory, under which every output path of the probes lies."""

    settings: Settings
    area: Path
    env: dict[str, str] = field(default_factory=dict)

    def state(self) -> dict[str, dict[str, Any]]:
        try:
            rows: dict[str, Any] = tables(self.settings.database_url)
        except Exception as error:  # a database overwritten by an output file
            rows = {"database": f"unreadable: {type(error).__name__}"}
        return {"files": listing(self.area), "keys": listing(self.settings.keys_dir), "tables": rows}

    def probe(
        self,
        label: str,
        *args: str,
        code: int | None = 2,
        mention: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> list[str]:
        """Run ``hygie ARGS``, expecting a clean refusal that changes nothing."""
        before = self.state()
        outcome = hygie(*args, env={**self.env, **(env or {})})
        found = judge(label, outcome, code=code, mention=mention)
        after = self.state()
        for part, was in before.items():
            changed = differences(was, after[part])
            if changed:
                found.append(f"{label}: {part} changed: {changed[:4]}")
        return found


@pytest.fixture
def world(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    with open_client(settings) as client:
        entries = [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
            for r in RESOURCES
        ]
        answer = client.post(
            "/fhir", json={"resourceType": "Bundle", "type": "transaction", "entry": entries}
        )
        assert answer.status_code == 200, answer.text[:300]
    area = tmp_path / "area"
    area.mkdir()
    monkeypatch.chdir(area)
    monkeypatch.setattr("hygie.cli.serve", lambda **_: None)  # `hygie demo` must not start a server
    env = {"HYGIE_DATABASE_URL": settings.database_url, "HYGIE_KEYS_DIR": str(settings.keys_dir)}
    return World(settings, area, env)


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    """An existing directory this process cannot write in. Root writes anywhere in the test's own
    folders whatever their mode: it gets a directory of sysfs, which refuses new entries."""
    if os.geteuid() == 0:
        yield Path("/sys/kernel")
        return
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    yield folder
    folder.chmod(stat.S_IRWXU)


@pytest.fixture
def unreadable(tmp_path: Path) -> Iterator[Path]:
    """A keys directory this process can neither read nor write (sysfs for root, as above)."""
    if os.geteuid() == 0:
        yield Path("/sys/kernel")
        return
    folder = tmp_path / "unreadable"
    folder.mkdir()
    folder.chmod(0)
    yield folder
    folder.chmod(stat.S_IRWXU)


def report(found: list[str]) -> None:
    assert not found, f"{len(found)} probe(s) broke the rule:\n" + "\n".join(found)


EXPORTS = (("record", "pat-1", "Patient"), ("practice", "orgA", "Organization"))


# --- hygie export record / practice -------------------------------------------------------------


def test_record_and_practice_refuse_bad_ids_and_languages(world: World) -> None:
    out = world.area / "out.zip"
    found: list[str] = []
    for command, good, kind in EXPORTS:
        for label, bad in (
            ("unknown", "nobody"),
            ("path characters", "../../../etc/passwd"),
            ("slash", f"{good}/../{good}"),
            ("NUL", f"{good}\x00"),
            ("10 kB", "x" * 10_000),
            ("empty", ""),
        ):
            found += world.probe(
                f"{command} id {label}", "export", command, bad, "--out", str(out), code=None, mention=(kind,)
            )
        for label, options in (
            ("--lang fr (no such option)", ["--lang", "fr"]),
            ("--language de", ["--language", "de"]),
            ("--language ''", ["--language", ""]),
        ):
            found += world.probe(
                f"{command} {label}",
                "export",
                command,
                good,
                "--out",
                str(out),
                *options,
                mention=("--lang",),
            )
    report(found)


def test_record_and_practice_refuse_bad_output_paths(world: World, read_only: Path) -> None:
    settings = world.settings
    (world.area / "existing").mkdir()
    (world.area / "existing" / "keep.txt").write_text("keep")
    (world.area / "plain.txt").write_text("plain")
    targets = [
        ("an existing directory", world.area / "existing"),
        ("the working directory ('')", Path("")),
        ("under a regular file", world.area / "plain.txt" / "out.zip"),
        ("in a read-only folder", read_only / "hygie-out.zip"),
        ("in a missing folder of a read-only folder", read_only / "hygie-missing" / "out.zip"),
    ]
    found: list[str] = []
    for command, good, _ in EXPORTS:
        for label, target in targets:
            found += world.probe(f"{command} --out {label}", "export", command, good, "--out", str(target))
        # "-" is stdout by convention: write the ZIP there, or refuse; never a file named "-"
        outcome = hygie("export", command, good, "--out", "-", env=world.env)
        if (world.area / "-").exists():
            found.append(f"{command} --out -: wrote a file named '-' (exit {outcome.code})")
            (world.area / "-").unlink()
        elif not (outcome.code == 0 and outcome.stdout.startswith(b"PK")):
            found += judge(f"{command} --out -", outcome, code=2)
    # the inputs last (the probes that overwrite them spoil the world); record and practice
    # write their output through the same code (commands_record._export)
    key = str(settings.keys_dir / "audit.key")
    found += world.probe("record --out the audit key (an input)", "export", "record", "pat-1", "--out", key)
    if settings.database_url.startswith("sqlite:"):
        database = Path(settings.database_url.removeprefix("sqlite:///"))
        found += world.probe(
            "record --out the SQLite database (an input)", "export", "record", "pat-1", "--out", str(database)
        )
        if zipfile.is_zipfile(database):
            found.append("record --out the SQLite database: the database was replaced by the ZIP")
    report(found)


# --- hygie export bulk ---------------------------------------------------------------------------


def test_bulk_refuses_bad_output_dirs(world: World, read_only: Path) -> None:
    settings = world.settings
    (world.area / "full").mkdir()
    (world.area / "full" / "keep.ndjson").write_text("{}\n")
    (world.area / "plain.txt").write_text("plain")
    targets = [
        ("an existing non-empty directory", world.area / "full"),
        ("a regular file", world.area / "plain.txt"),
        ("under a regular file", world.area / "plain.txt" / "out"),
        ("in a read-only folder", read_only / "hygie-out"),
        ("the keys directory (an input)", settings.keys_dir),
        ("the audit key (an input)", settings.keys_dir / "audit.key"),
        ("'-' (no directory named '-')", Path("-")),
    ]
    if settings.database_url.startswith("sqlite:"):
        targets.append(
            ("the SQLite database (an input)", Path(settings.database_url.removeprefix("sqlite:///")))
        )
    found: list[str] = []
    for label, target in targets:
        found += world.probe(f"bulk {label}", "export", "bulk", str(target))
    report(found)


def test_bulk_refuses_bad_parameters_without_leaving_a_folder(world: World) -> None:
    probes: list[tuple[str, list[str], tuple[str, ...]]] = [
        ("--type unknown", ["--type", "Nonsense"], ("Nonsense",)),
        ("--type empty item", ["--type", "Patient,,Observation"], ("_type", "type")),
        ("--type lower case", ["--type", "patient"], ("patient",)),
        ("--since words", ["--since", "yesterday"], ("yesterday",)),
        ("--since month 13", ["--since", "2024-13-45"], ("2024-13-45",)),
        ("--since 10 kB", ["--since", "2" * 10_000], ("_since", "since")),
        ("--type-filter without ?", ["--type-filter", "Observation"], ("Observation",)),
        ("--type-filter unknown type", ["--type-filter", "Nonsense?status=final"], ("Nonsense",)),
        ("--type-filter control param", ["--type-filter", "Observation?_count=1"], ("Observation",)),
        ("--type-filter unknown param", ["--type-filter", "Observation?colour=red"], ("colour",)),
        ("--type-filter bad date", ["--type-filter", "Observation?date=someday"], ("someday", "date")),
        ("--elements unknown type", ["--elements", "Nonsense.id"], ("Nonsense",)),
        ("--elements path", ["--elements", "Patient.name.given"], ("name.given",)),
        ("--elements empty", ["--elements", ""], ("_elements", "elements")),
        ("--elements unknown element", ["--elements", "Patient.colour"], ("colour",)),
        ("--group unknown", ["--group", "nope"], ("nope",)),
        ("--group path", ["--group", "../g1"], ("../g1", "Group")),
        ("--group with --patient-level", ["--group", "g1", "--patient-level"], ("--group",)),
    ]
    found: list[str] = []
    for number, (label, options, mention) in enumerate(probes):
        out = str(world.area / f"out-{number}")  # a folder left by one probe must not hide the next
        found += world.probe(f"bulk {label}", "export", "bulk", out, *options, mention=mention)
    report(found)


# --- hygie demo ----------------------------------------------------------------------------------


def test_demo_refuses_bad_counts_fast(world: World) -> None:
    found: list[str] = []
    for label, options, mention in (
        ("--patients 0", ["--patients", "0"], ("--patients",)),
        ("--patients -5", ["--patients", "-5"], ("--patients",)),
        ("--patients 10**9", ["--patients", str(10**9)], ("--patients",)),
        ("--patients 5000 digits", ["--patients", "9" * 5000], ("--patients",)),
        ("--patients abc", ["--patients", "abc"], ("--patients",)),
        ("--patients ''", ["--patients", ""], ("--patients",)),
        ("--patients 1.5", ["--patients", "1.5"], ("--patients",)),
        ("--seed abc", ["--patients", "1", "--seed", "abc"], ("--seed",)),
        ("--seed 1e3", ["--patients", "1", "--seed", "1e3"], ("--seed",)),
    ):
        started = time.monotonic()
        found += world.probe(f"demo {label}", "demo", *options, mention=mention)
        if (elapsed := time.monotonic() - started) > 5:
            found.append(f"demo {label}: took {elapsed:.1f} s to refuse")
    report(found)


@pytest.mark.parametrize("seed", ["-1", str(-(10**40)), "9" * 100])
def test_demo_takes_any_integer_seed_or_refuses_it_cleanly(world: World, seed: str) -> None:
    """A negative or huge seed is a valid random seed (hygie/demo/population.py seeds from its
    text): the demo loads with it, or refuses it as a usage error without loading anything."""
    before = tables(world.settings.database_url)
    outcome = hygie("demo", "--patients", "1", "--seed", seed, env=world.env)
    if outcome.code == 0 and outcome.crash is None:
        assert b"demo: " in outcome.stdout and b"resources loaded" in outcome.stdout, outcome.stdout[-300:]
        assert tables(world.settings.database_url)["resource"] > before["resource"]
    else:
        report(judge(f"demo --seed {seed[:12]}", outcome, code=2, mention=("--seed",)))
        assert tables(world.settings.database_url) == before


# --- bad environments ------------------------------------------------------------------------------


def _commands(out: Path) -> list[tuple[str, list[str]]]:
    return [
        ("record", ["export", "record", "pat-1", "--out", str(out / "r.zip")]),
        ("practice", ["export", "practice", "orgA", "--out", str(out / "p.zip")]),
        ("bulk", ["export", "bulk", str(out / "bulk")]),
    ]


def test_unusable_database_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a database of either backend: the environment is at fault, whatever the backend."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("hygie.cli.serve", lambda **_: None)
    keys = tmp_path / "keys"
    found: list[str] = []
    missing = tmp_path / "missing"
    cases = [
        ("unknown scheme", "mysql://hygie@localhost/hygie", True),
        ("without scheme", "hygie.db", True),
        ("empty", "", True),
        # an export reads a database: it does not make a new, empty one (the demo may: first start)
        ("in a missing folder", f"sqlite:///{(missing / 'sub' / 'hygie.db').as_posix()}", False),
    ]
    for number, (label, url, with_demo) in enumerate(cases):
        env = {"HYGIE_DATABASE_URL": url, "HYGIE_KEYS_DIR": str(keys)}
        area = tmp_path / f"area-{number}"
        area.mkdir()
        commands = [*_commands(area), *([("demo", ["demo", "--patients", "1"])] if with_demo else [])]
        for name, args in commands:
            what = f"{name} with HYGIE_DATABASE_URL {label}"
            outcome = hygie(*args, env=env)
            code = 2 if with_demo else None
            found += judge(what, outcome, code=code, mention=("HYGIE_DATABASE_URL",))
            if left := sorted(p.name for p in area.iterdir()):
                found.append(f"{what}: left {left}")
                for path in area.iterdir():
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
            if missing.exists():
                made = sorted(p.relative_to(tmp_path).as_posix() for p in missing.rglob("*"))
                found.append(f"{what}: created {made}")
                shutil.rmtree(missing)
            if any(
                p.name not in {"keys", *(f"area-{i}" for i in range(len(cases)))} for p in tmp_path.iterdir()
            ):
                found.append(f"{what}: wrote {sorted(p.name for p in tmp_path.iterdir())}")
    report(found)


@pytest.fixture(params=["a regular file", "unreadable"])
def bad_keys(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    if request.param == "unreadable":
        return request.getfixturevalue("unreadable")  # type: ignore[no-any-return]
    path = tmp_path / "keys-file"
    path.write_bytes(b"not a directory")
    return path


def test_unusable_keys_dir_writes_nothing(world: World, bad_keys: Path) -> None:
    """The audit key (exports) and the demo accounts (demo) live in HYGIE_KEYS_DIR: without it the
    command must stop before it writes anything, not after an unaudited export or a loaded demo."""
    env = {"HYGIE_KEYS_DIR": str(bad_keys)}
    found: list[str] = []
    for name, args in [*_commands(world.area), ("demo", ["demo", "--patients", "1"])]:
        what = f"{name} with HYGIE_KEYS_DIR {bad_keys.name}"
        found += world.probe(what, *args, code=None, mention=("HYGIE_KEYS_DIR", str(bad_keys)), env=env)
    report(found)


def test_an_invalid_setting_is_a_usage_error(world: World) -> None:
    """A HYGIE_* value that does not validate: hygie.cli.main's own handling (exit 2, one line)."""
    found: list[str] = []
    for name, args in [*_commands(world.area), ("demo", ["demo", "--patients", "1"])]:
        found += world.probe(
            f"{name} with HYGIE_DEFAULT_LANGUAGE=de",
            *args,
            mention=("HYGIE_DEFAULT_LANGUAGE",),
            env={"HYGIE_DEFAULT_LANGUAGE": "de"},
        )
    report(found)
