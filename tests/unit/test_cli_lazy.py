"""The ``hygie`` command loads a command's module only when that command runs (hygie/cli_lazy.py).

Each module of the import, export, ingest and CDS commands pulls storage, search, validation or
the CDS knowledge base: imported up front they made every command, ``hygie --version`` included,
start in 0.9 s. Checked in a fresh interpreter (the test process has imported everything).
"""

from __future__ import annotations

import subprocess
import sys

import typer
from typer.testing import CliRunner

from hygie.cli import cli
from hygie.cli_lazy import LAZY

HEAVY = (
    "hygie.transfer.commands_import",
    "hygie.transfer.commands_record",
    "hygie.monitoring.commands",
    "hygie.cds.commands",
    "hygie.cds.commands_clients",
    "hygie.cli_accounts",
    "hygie.api.context",
    "hygie.search.catalog",
)


def _loaded_after(argv: list[str]) -> set[str]:
    """The modules of HEAVY a fresh interpreter has loaded after running ``hygie argv``."""
    script = (
        "import sys\n"
        "from hygie.cli import cli\n"
        "try:\n"
        f"    cli({argv!r}, standalone_mode=False)\n"
        "finally:\n"
        f"    print('loaded:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("loaded:"), out.stdout
    return {m for m in last.removeprefix("loaded:").split(",") if m}


def test_version_loads_no_command_module() -> None:
    assert _loaded_after(["--version"]) == set()


def test_a_command_loads_its_own_module_only() -> None:
    loaded = _loaded_after(["export", "record", "--help"])
    assert "hygie.transfer.commands_record" in loaded
    assert not loaded & {"hygie.cds.commands", "hygie.cds.commands_clients", "hygie.monitoring.commands",
                         "hygie.transfer.commands_import"}  # fmt: skip


def test_every_lazy_command_is_listed_and_runs_its_help() -> None:
    group = typer.main.get_command(cli)
    names = group.list_commands(None)  # type: ignore[attr-defined]
    assert set(LAZY) <= set(names) and {"serve", "demo", "db"} <= set(names)
    assert len(names) == len(set(names))
    runner = CliRunner()
    for name in LAZY:
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        usage = next(line for line in result.output.splitlines() if "Usage:" in line)
        assert f" {name} " in usage  # the lazy command's own help, not the group's
    listing = runner.invoke(cli, ["--help"])
    assert listing.exit_code == 0 and all(name in listing.output for name in LAZY)


def test_a_lazy_group_of_one_command_stays_a_group() -> None:
    """``hygie cds`` holds one command: loaded lazily it is still ``hygie cds build-knowledge``."""
    result = CliRunner().invoke(cli, ["cds", "build-knowledge", "--help"])
    assert result.exit_code == 0, result.output
    assert "BDPM" in result.output


def test_a_lazy_command_has_its_own_options_only() -> None:
    """A command that is one function (``hygie import``) gets no completion options of its own."""
    result = CliRunner().invoke(cli, ["import", "--help"])
    assert result.exit_code == 0 and "--on-conflict" in result.output
    assert "--install-completion" not in result.output


def test_an_unknown_command_is_still_an_error() -> None:
    result = CliRunner().invoke(cli, ["no-such-command"])
    assert result.exit_code == 2 and "No such command" in result.output
