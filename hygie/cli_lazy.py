"""Sub-commands of ``hygie`` imported when they run, not when the command line starts.

The modules of the import, export, ingest and CDS commands pull in storage, search, validation
and the CDS knowledge base; imported up front, they made every command (``hygie --version``,
``hygie user list``...) pay 0.6 s of imports before doing anything. :class:`LazyGroup` lists
them by name and imports a command's module the first time Click asks for that command (to run
it, or to show its help); ``hygie --help`` still lists every command, which imports them all.
"""

from __future__ import annotations

import importlib
from typing import Any

import typer
from typer.core import TyperGroup

# command name → (module, attribute): a Typer group, or a function that is the command itself
LAZY: dict[str, tuple[str, str]] = {
    "import": ("hygie.transfer.commands_import", "import_command"),  # docs/import.md
    # bulk (commands_export.py); record and practice register themselves on import
    "export": ("hygie.transfer.commands_record", "export_cli"),
    "ingest": ("hygie.monitoring.commands", "ingest_command"),  # device data from a file
    "cds": ("hygie.cds.commands", "cds_cli"),  # medication-safety knowledge
    "cds-client": ("hygie.cds.commands_clients", "cds_client_cli"),  # docs/cds-hooks.md
    "user": ("hygie.cli_accounts", "user_cli"),  # accounts of people who sign in
    "client": ("hygie.cli_accounts", "client_cli"),  # OAuth clients
}


class LazyGroup(TyperGroup):
    """The top-level group: its own commands, then those of :data:`LAZY`, loaded on demand."""

    # Typer vendors its Click (``typer._click``): its Context and Command types are private.
    def list_commands(self, ctx: Any) -> list[str]:
        own = super().list_commands(ctx)
        return [*own, *(name for name in LAZY if name not in own)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        found = super().get_command(ctx, cmd_name)
        if found is not None or cmd_name not in LAZY:
            return found
        module, attribute = LAZY[cmd_name]
        target = getattr(importlib.import_module(module), attribute)
        command: Any
        if isinstance(target, typer.Typer):  # a group, even of one command (as add_typer makes it)
            command = typer.main.get_group(target)
        else:
            single = typer.Typer(add_completion=False)  # completion is the top-level group's
            single.command(cmd_name)(target)
            command = typer.main.get_command(single)
        command.name = cmd_name
        self.add_command(command, cmd_name)
        return command
