"""Docs that tests execute: README commands, every setting and every CLI command documented."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import typer
from typer.testing import CliRunner

from hygie.cli import cli
from hygie.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_readme_starts_with_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```sh\n(.*?)```", text, re.S)
    assert block is not None
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]
    assert commands == ["bash scripts/demo.sh", "bash scripts/test.sh"]
    for command in commands:
        assert (ROOT / command.split()[1]).is_file()
    assert "scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


def test_every_setting_is_documented() -> None:
    doc = (ROOT / "docs" / "settings.md").read_text()
    for name, field in Settings.model_fields.items():
        row = next((line for line in doc.splitlines() if f"`HYGIE_{name.upper()}`" in line), None)
        assert row is not None, f"HYGIE_{name.upper()} missing from docs/settings.md"
        if field.default_factory is None:  # computed defaults (paths under ./var) are described
            assert f"`{field.default}`" in row, f"default of HYGIE_{name.upper()} differs"
    documented = set(re.findall(r"`HYGIE_([A-Z_]+)`", doc))
    assert documented == {n.upper() for n in Settings.model_fields}


def test_every_cli_command_is_documented_and_exists() -> None:
    doc = (ROOT / "docs" / "cli.md").read_text()
    runner = CliRunner()
    for command in re.findall(r"^\| `hygie ([a-z -]+?)(?: \[|`)", doc, re.M):
        args = command.split()
        result = runner.invoke(cli, [*args, "--help"] if not args[0].startswith("--") else args)
        assert result.exit_code == 0, (command, result.output)
    commands = typer.main.get_command(cli).list_commands(None)  # type: ignore[attr-defined]
    assert {"serve", "demo", "db"} <= set(commands)
    for name in commands:
        assert f"`hygie {name}" in doc, f"hygie {name} is not documented"


def test_python_dash_m_hygie() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "hygie", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("hygie ")
